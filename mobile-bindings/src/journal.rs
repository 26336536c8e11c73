//! [`Journal`]: the patient's journal on this device, opened on a file
//! path — every record kind, lists, search, conflict revisions, therapists'
//! comments, shares, export and import, sign-in and sync.
//!
//! Every method blocks until the work is done (SQLite, and for sign-in and
//! sync the network): call it off the UI thread. A `Journal` is safe to use
//! from several threads at once; calls on the database run one at a time,
//! and so do syncs.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use journal_core::InvalidInput;
use journal_core::export::{EXPORT_FORMAT, EXPORT_VERSION, ExportDocument, ExportedAccount};
use journal_core::query::{ListCursor, ListQuery, MAX_PAGE_SIZE};
use journal_core::records as core;
use journal_core::store::{JournalStore, Saved, SearchQuery};
use journal_core::sync::{
    HttpTransport, REFRESH_TOKEN_KEY, RecordState, RevisionReason as CoreReason, SyncClient,
};

use crate::catalog::{CrisisResources, SafetyNotice};
use crate::error::JournalError;
use crate::practice::GuidedPractice;
use crate::records::{
    Assessment, AssessmentScore, IntentionStatus, JournalRecord, Phase, RecordContent, RecordKind,
    Reflection, Share, ShareScope, from_time, record_id, score, signed64, to_time, uuid,
};
use crate::secrets::{KeptSecrets, SecretStore};

/// The [`SecretStore`] key of the server address the sign-in belongs to
/// (the refresh token is under `journal.sync.refresh-token`).
pub const SERVER_URL_KEY: &str = "journal.sync.server-url";
/// The [`SecretStore`] key of the email the patient signed in with.
pub const ACCOUNT_EMAIL_KEY: &str = "journal.sync.email";

/// A record just saved, with the safety notice it calls for.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct SavedRecord {
    /// The record as stored.
    pub record: JournalRecord,
    /// When set, show it at once, before anything else: the record signals
    /// risk (a PHQ-9 with item 9 answered 1 or more).
    pub safety_notice: Option<SafetyNotice>,
}

/// A questionnaire just saved, with its score and the safety notice it
/// calls for.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct AssessmentResult {
    /// The record as stored.
    pub record: JournalRecord,
    /// Total, band and risk flag.
    pub score: AssessmentScore,
    /// When set, show it at once, before anything else.
    pub safety_notice: Option<SafetyNotice>,
}

/// Which records to list. Every filter is optional; `RecordFilter()` lists
/// everything, newest first (by the moment a record is about: a check-in's
/// time, a session's start, an entry's creation).
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct RecordFilter {
    /// Only these kinds (empty: every kind).
    #[uniffi(default)]
    pub kinds: Vec<RecordKind>,
    /// Only journal entries of this phase.
    #[uniffi(default)]
    pub phase: Option<Phase>,
    /// Only records about this moment or later.
    #[uniffi(default)]
    pub from: Option<SystemTime>,
    /// Only records about a moment before this one.
    #[uniffi(default)]
    pub to: Option<SystemTime>,
    /// Only this dosing session and the intentions and entries linked to it.
    #[uniffi(default)]
    pub dosing_session_id: Option<String>,
    /// Page size, 1–200 (50 when none).
    #[uniffi(default)]
    pub limit: Option<i32>,
    /// Where the previous page ended: its `RecordPage.nextCursor`.
    #[uniffi(default)]
    pub cursor: Option<String>,
}

/// One page of records, newest first.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct RecordPage {
    /// The records.
    pub records: Vec<JournalRecord>,
    /// Pass it as `RecordFilter.cursor` (with the same filters) for the
    /// next page; none on the last page.
    pub next_cursor: Option<String>,
}

/// A piece of a search snippet: matched words are `highlighted`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct SnippetPart {
    /// The text.
    pub text: String,
    /// Whether it is a matched word.
    pub highlighted: bool,
}

/// A record that matched a search.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct SearchHit {
    /// The record.
    pub record: JournalRecord,
    /// A short excerpt around the match (`…` where it was cut).
    pub snippet: String,
    /// The same excerpt in pieces, matched words marked, ready to style
    /// (no character offsets to convert between UTF-8, UTF-16 and
    /// graphemes).
    pub snippet_parts: Vec<SnippetPart>,
}

/// Why a revision was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
#[uniffi::export(Debug)]
pub enum RevisionReason {
    /// Edited on two devices at once, and this edit lost.
    Conflict,
    /// Edited while another device deleted the record, and the delete won.
    Deleted,
}

/// Content a record had that lost to another device's edit or to a delete:
/// kept so no word the patient wrote is lost, and restorable.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct Revision {
    /// The revision's id (to restore it).
    pub id: String,
    /// The record it belongs to.
    pub record_id: String,
    /// Why it was kept.
    pub reason: RevisionReason,
    /// The content that lost.
    pub content: RecordContent,
    /// When it was kept.
    pub kept_at: SystemTime,
}

/// A conflict: the text that lost, beside the record as it now is.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct Conflict {
    /// The content that lost (restore it with `restoreRevision(lost.id)`).
    pub lost: Revision,
    /// The record as it now is; absent when it has since been deleted.
    pub current: Option<JournalRecord>,
}

/// A therapist's comment on one of the patient's records, as the last sync
/// delivered it, or the patient's reply to one.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct Comment {
    /// The comment's id (reply to it with `replyToComment(id, text)`).
    pub id: String,
    /// The record it is about.
    pub record_id: String,
    /// The therapist of the conversation: who wrote it, or, for a reply,
    /// the therapist it is addressed to.
    pub therapist_id: String,
    /// Who wrote it, by name: the therapist's name as the patient sees it,
    /// or for a reply the patient's own once the server has it ("You"
    /// before). Show replies by `fromPatient`.
    pub author: String,
    /// The comment.
    pub text: String,
    /// When it was written.
    pub created_at: SystemTime,
    /// When it was last edited.
    pub updated_at: SystemTime,
    /// Whether the patient wrote it (a reply): only these can be edited
    /// and deleted, with `editReply` and `deleteReply`.
    pub from_patient: bool,
    /// For a reply, the id of the therapist's comment it answers.
    pub reply_to: Option<String>,
    /// For a reply written on this device: whether the therapist has it.
    pub delivery: CommentDelivery,
}

/// Where a reply written on this device stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
#[uniffi::export(Debug)]
pub enum CommentDelivery {
    /// On the server: the therapist has it (every therapist's comment is).
    Delivered,
    /// Kept here, sent by the next sync.
    Pending,
    /// The server refused it: the therapist's comment was deleted, the
    /// record is no longer shared with the therapist, or the care link
    /// ended. The words stay here; edit the reply to send it again (once
    /// shared again), or delete it.
    Refused,
}

impl From<journal_core::comments::Comment> for Comment {
    fn from(c: journal_core::comments::Comment) -> Self {
        use journal_core::comments::Delivery;
        Comment {
            id: c.id.to_string(),
            record_id: c.record_id.to_string(),
            therapist_id: c.therapist_id.to_string(),
            author: c.author,
            text: c.text,
            created_at: from_time(c.created_at),
            updated_at: from_time(c.updated_at),
            from_patient: c.from_patient,
            reply_to: c.reply_to.map(|id| id.to_string()),
            delivery: match c.delivery {
                Delivery::Delivered => CommentDelivery::Delivered,
                Delivery::Pending => CommentDelivery::Pending,
                Delivery::Refused => CommentDelivery::Refused,
            },
        }
    }
}

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct SyncReport {
    /// Local changes the server took (applied, or merged by the conflict
    /// rules).
    pub pushed: i64,
    /// Local changes the server refused (invalid, not yours); they are not
    /// sent again.
    pub rejected: i64,
    /// Local changes that met a concurrent change from another device
    /// (entry text that lost is kept as a revision).
    pub conflicts: i64,
    /// Records created, changed or deleted by the patient's other devices,
    /// written here ("3 new from your other phone"). This device's own
    /// changes coming back are not counted.
    pub pulled: i64,
    /// The records deleted on another device that were here.
    pub deleted_elsewhere: Vec<String>,
    /// Conflict revisions new to this device: text that lost to another
    /// device's edit or to a delete, kept (see `conflicts()`).
    pub revisions: i64,
    /// The records those revisions are about.
    pub conflicted_records: Vec<String>,
    /// Therapists' comments new here ("Dr. Lee replied").
    pub comments_new: i64,
    /// Therapists' comments edited.
    pub comments_edited: i64,
    /// Therapists' comments deleted.
    pub comments_deleted: i64,
    /// The records those comments are about.
    pub commented_records: Vec<String>,
    /// Care plans from the patient's therapists received (set, changed or
    /// withdrawn): the agenda may have changed.
    pub care_plans: i64,
    /// The patient's replies written on this device (new, edited or
    /// deleted) that reached the server.
    pub replies_sent: i64,
    /// The ids of replies the server refused (the record is no longer
    /// shared with the therapist, the link ended, or the comment was
    /// deleted); their words stay here, marked `Refused`.
    pub replies_refused: Vec<String>,
}

/// What an import brought in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct ImportReport {
    /// Records stored.
    pub records: i64,
    /// Revisions stored.
    pub revisions: i64,
    /// Comments stored.
    pub comments: i64,
    /// Records queued for the next sync.
    pub queued: i64,
}

/// The patient's journal on this device.
///
/// Open one per journal file and keep it for the life of the app. Kotlin:
/// `close()` it (or `use { }`) when done; Swift and Python free it with the
/// last reference. Every method blocks: call it off the UI thread. Safe to
/// share between threads.
#[derive(uniffi::Object)]
pub struct Journal {
    pub(crate) store: Arc<JournalStore>,
    pub(crate) secrets: Arc<KeptSecrets>,
    /// The sync client for the server signed in to, made at the first sign-in
    /// or sync: it keeps the short-lived access token between syncs.
    pub(crate) connection: Mutex<Option<Arc<SyncClient>>>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Only an `Option<Arc<…>>` sits behind it: nothing a panic could leave
    // half-changed.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[uniffi::export]
impl Journal {
    /// Opens the journal at `path`, creating it if the file does not exist,
    /// and upgrades it to this version of the library. `secrets` is where
    /// the sign-in and the journal's key are kept (see `SecretStore`).
    ///
    /// The journal is encrypted (SQLCipher, AES-256) with a random key made
    /// on first open and kept in `secrets`; a journal from before
    /// encryption is encrypted on open, safely even if the app is killed
    /// meanwhile. A search index still to be built after a first sync
    /// that was cut off is finished in the background (searches meanwhile
    /// are complete: they finish it first).
    ///
    /// Fails with `KeyMissing` (encrypted, and `secrets` holds no key for
    /// it: see `openReplacingUnreadable`), `WrongKey`, `SecretStoreFailed`
    /// (the store failed or did not keep a new key: nothing was written),
    /// `Storage` when the file cannot be opened or created or is not a
    /// journal, and `UpdateRequired` when a newer app wrote it. A refused
    /// file is left untouched.
    #[uniffi::constructor]
    pub fn open(path: String, secrets: Arc<dyn SecretStore>) -> Result<Arc<Self>, JournalError> {
        let secrets = Arc::new(KeptSecrets::new(secrets));
        let opened = JournalStore::open_with_secrets(&path, secrets.as_ref());
        // A key "missing" because the store failed is the store's failure.
        if let Some(failure) = secrets.take_failure() {
            return Err(failure);
        }
        let store = Arc::new(opened?);
        // A search index whose build was cut off (the app was closed after
        // a first sync) is finished in the background.
        store.build_search_index_in_background();
        Ok(Arc::new(Self {
            store,
            secrets,
            connection: Mutex::new(None),
        }))
    }

    /// For a journal `open` refused with `KeyMissing` or `WrongKey`: moves
    /// the unreadable file aside (to `<path>.unreadable-<seconds>`, never
    /// deleted, should the key turn up) and opens a new, empty journal in
    /// its place. Sign in and `sync()` to bring back everything that was
    /// synced; what was never synced stays in the file set aside.
    #[uniffi::constructor]
    pub fn open_replacing_unreadable(
        path: String,
        secrets: Arc<dyn SecretStore>,
    ) -> Result<Arc<Self>, JournalError> {
        let kept = KeptSecrets::new(Arc::clone(&secrets));
        JournalStore::set_aside_unreadable(&path, &kept)?;
        if let Some(failure) = kept.take_failure() {
            return Err(failure);
        }
        Self::open(path, secrets)
    }

    /// Gives the journal a new random key (kept in the `SecretStore`): the
    /// journal is re-encrypted into a checked copy swapped in with one
    /// rename; cut off anywhere, the next `open` finishes the change.
    pub fn rekey(&self) -> Result<(), JournalError> {
        self.secrets.clear_failure();
        let result = self.store.rekey(self.secrets.as_ref());
        if let Some(failure) = self.secrets.take_failure() {
            return Err(failure);
        }
        Ok(result?)
    }

    /// The file the journal lives in.
    pub fn path(&self) -> String {
        self.store.path().display().to_string()
    }

    /// This installation's id (it numbers the changes this device sends).
    pub fn device_id(&self) -> String {
        self.store.device_id().to_string()
    }

    // -- records -----------------------------------------------------------

    /// Saves a new record of any kind and queues it for sync. Returns it
    /// with its id, and the safety notice to show at once if it signals risk.
    ///
    /// Fails with `Invalid` (every broken rule, by field) and saves nothing
    /// when the content breaks a rule.
    pub fn create(&self, content: RecordContent) -> Result<SavedRecord, JournalError> {
        Ok(self.store.save_new(content.into_core()?)?.into())
    }

    /// Replaces a record's content (same kind) and queues the change. Saving
    /// the same content again changes nothing.
    pub fn update(&self, id: String, content: RecordContent) -> Result<SavedRecord, JournalError> {
        let id = record_id("id", &id)?;
        Ok(self.store.save_edit(id, content.into_core()?)?.into())
    }

    /// Deletes a record: it leaves every list and search, its text is erased
    /// from this device, and the deletion is synced. A dosing session that
    /// entries or intentions still link to is not deleted (`NotPossible`).
    pub fn delete(&self, id: String) -> Result<(), JournalError> {
        Ok(self.store.delete(record_id("id", &id)?)?)
    }

    /// One record; `NotFound` if there is none with this id (or it was
    /// deleted).
    pub fn get(&self, id: String) -> Result<JournalRecord, JournalError> {
        Ok(self.store.get(record_id("id", &id)?)?.into())
    }

    /// One page of records, newest first. See `RecordFilter`.
    pub fn list(&self, filter: RecordFilter) -> Result<RecordPage, JournalError> {
        let page = self.store.list(&list_query(filter)?)?;
        Ok(RecordPage {
            records: page.records.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor.map(|c| c.to_string()),
        })
    }

    /// Full-text search over entry titles and bodies and over intentions
    /// and their reflections, best match first, at most `limit` (1–100)
    /// hits. Every word must appear; the last may be the start of a word
    /// still being typed. Case and accents are ignored.
    pub fn search(&self, text: String, limit: i32) -> Result<Vec<SearchHit>, JournalError> {
        let query = SearchQuery {
            text,
            limit: u32::try_from(limit).unwrap_or(0),
        };
        Ok(self
            .store
            .search(&query)?
            .into_iter()
            .map(|hit| SearchHit {
                snippet_parts: snippet_parts(&hit.snippet, &hit.highlights),
                record: hit.record.into(),
                snippet: hit.snippet,
            })
            .collect())
    }

    // -- flows of the patient app -------------------------------------------

    /// Saves a completed questionnaire and returns it with its score (total,
    /// band, risk flag) and, for a risk answer, the safety notice to show at
    /// once.
    pub fn record_assessment(
        &self,
        assessment: Assessment,
    ) -> Result<AssessmentResult, JournalError> {
        let core = assessment.to_core()?;
        let score = score(&core)?;
        let saved = self.store.save_new(core.into())?;
        Ok(AssessmentResult {
            record: saved.record.into(),
            score,
            safety_notice: saved.safety_notice.map(Into::into),
        })
    }

    /// Writes the look back on an intention after its session: the
    /// reflection and where the intention stands now.
    pub fn reflect_on_intention(
        &self,
        intention_id: String,
        reflection: Reflection,
        status: IntentionStatus,
    ) -> Result<SavedRecord, JournalError> {
        let id = record_id("intentionId", &intention_id)?;
        let core::RecordBody::Intention(mut intention) = self.store.get(id)?.body else {
            return Err(JournalError::invalid(
                "intentionId",
                "kind",
                "must name an intention",
            ));
        };
        intention.reflection = Some(core::Reflection {
            how_it_went: reflection.how_it_went,
            carry_forward: reflection.carry_forward,
        });
        intention.status = status.into();
        Ok(self.store.save_edit(id, intention.into())?.into())
    }

    /// Lets one linked therapist read one record (anything but a share).
    /// `therapistId` is the therapist's account id from the care link.
    pub fn share_record(
        &self,
        therapist_id: String,
        record_id: String,
    ) -> Result<JournalRecord, JournalError> {
        let id = crate::records::record_id("recordId", &record_id)?;
        if self.store.get(id)?.kind() == core::RecordKind::Share {
            return Err(JournalError::invalid(
                "recordId",
                "not_shareable",
                "shares themselves cannot be shared",
            ));
        }
        self.save_share(therapist_id, ShareScope::Item { record_id })
    }

    /// Lets one linked therapist read every record of these kinds, those
    /// written later included (a standing share, e.g. all mood check-ins
    /// and questionnaires).
    pub fn share_kinds(
        &self,
        therapist_id: String,
        kinds: Vec<RecordKind>,
    ) -> Result<JournalRecord, JournalError> {
        self.save_share(therapist_id, ShareScope::Kinds { kinds })
    }

    /// Lets one linked therapist read every questionnaire of these
    /// instruments, those taken later included: the PHQ-9s, say, and not
    /// the GAD-7s. Fails with `Invalid` (field `scope.instruments`) for an
    /// empty list or one naming a questionnaire twice.
    pub fn share_instruments(
        &self,
        therapist_id: String,
        instruments: Vec<crate::records::Instrument>,
    ) -> Result<JournalRecord, JournalError> {
        self.save_share(therapist_id, ShareScope::Instruments { instruments })
    }

    /// Takes a share back. The therapist loses access at their next request
    /// once this has synced; a revoked share stays revoked (share again with
    /// a new one).
    pub fn revoke_share(&self, share_id: String) -> Result<JournalRecord, JournalError> {
        let id = record_id("shareId", &share_id)?;
        let core::RecordBody::Share(mut share) = self.store.get(id)?.body else {
            return Err(JournalError::invalid(
                "shareId",
                "kind",
                "must name a share",
            ));
        };
        share.revoked = true;
        Ok(self.store.update(id, share.into())?.into())
    }

    /// The comments on one of the patient's records, oldest first: the
    /// therapists' comments as the last sync delivered them, and the
    /// patient's replies (each with its `delivery`).
    pub fn comments(&self, record_id: String) -> Result<Vec<Comment>, JournalError> {
        let id = crate::records::record_id("recordId", &record_id)?;
        Ok(self
            .store
            .comments(id)?
            .into_iter()
            .map(Comment::from)
            .collect())
    }

    /// Replies to a therapist's comment. The reply is kept at once, also
    /// offline (listed by `comments` as `Pending`), and the next sync sends
    /// it to the therapist, who sees it beside their comment. Fails with
    /// `Invalid` naming `text` (empty, blank, over 2,000 characters, or
    /// with control characters) or `commentId`, and `NotFound` when no
    /// therapist's comment has this id here.
    pub fn reply_to_comment(
        &self,
        comment_id: String,
        text: String,
    ) -> Result<Comment, JournalError> {
        let id = uuid("commentId", &comment_id)?;
        Ok(self.store.reply_to_comment(id, &text)?.into())
    }

    /// Gives one of the patient's replies new text, sent by the next sync
    /// (a `Refused` reply is sent again). Fails like `replyToComment`;
    /// `NotFound` when no reply of the patient's has this id here.
    pub fn edit_reply(&self, reply_id: String, text: String) -> Result<Comment, JournalError> {
        let id = uuid("replyId", &reply_id)?;
        Ok(self.store.edit_reply(id, &text)?.into())
    }

    /// Deletes one of the patient's replies: here at once, for the
    /// therapist with the next sync. `NotFound` when no reply of the
    /// patient's has this id here.
    pub fn delete_reply(&self, reply_id: String) -> Result<(), JournalError> {
        let id = uuid("replyId", &reply_id)?;
        Ok(self.store.delete_reply(id)?)
    }

    /// The conflict revisions kept for a record, newest first: content that
    /// lost to another device's edit or to a delete. A deleted record keeps
    /// its revisions, so a lost text can be brought back.
    pub fn revisions(&self, record_id: String) -> Result<Vec<Revision>, JournalError> {
        let id = crate::records::record_id("recordId", &record_id)?;
        self.store
            .revisions(id)?
            .into_iter()
            .map(revision_view)
            .collect()
    }

    /// The conflicts not yet dealt with, newest first: each text that lost
    /// to another device's edit, beside the record as it now is (`current`
    /// is absent when it has since been deleted). Show both; then
    /// `restoreRevision` (take the lost text) or `dismissRevision` (keep
    /// the current one).
    pub fn conflicts(&self) -> Result<Vec<Conflict>, JournalError> {
        self.store
            .conflicts()?
            .into_iter()
            .map(|(revision, current)| {
                Ok(Conflict {
                    lost: revision_view(revision)?,
                    current: current.map(Into::into),
                })
            })
            .collect()
    }

    /// What was deleted while it was being edited (on this phone or
    /// another) and can still be brought back with `restoreRevision`,
    /// newest first.
    pub fn recently_deleted(&self) -> Result<Vec<Revision>, JournalError> {
        self.store
            .recently_deleted()?
            .into_iter()
            .map(revision_view)
            .collect()
    }

    /// Marks a kept revision dealt with, leaving the record as it is: it
    /// leaves `conflicts()` and `recentlyDeleted()` (it stays listed by
    /// `revisions(recordId)`, and can still be restored). Fails with
    /// `NotFound` for an unknown id.
    pub fn dismiss_revision(&self, revision_id: String) -> Result<(), JournalError> {
        let id = uuid("revisionId", &revision_id)?;
        Ok(self.store.dismiss_revision(id)?)
    }

    /// Makes a revision's content the record's current content again (a
    /// deleted record comes back with its id), as an ordinary edit queued
    /// for sync. Returns the record as it now is.
    pub fn restore_revision(&self, revision_id: String) -> Result<JournalRecord, JournalError> {
        let id = uuid("revisionId", &revision_id)?;
        Ok(self.store.restore_revision(id)?.into())
    }

    /// Starts a guided grounding exercise (see `GuidedPractice`); finishing
    /// it saves an exercise practice in this journal.
    pub fn start_practice(&self, exercise_id: String) -> Result<Arc<GuidedPractice>, JournalError> {
        GuidedPractice::start(Arc::clone(&self.store), &exercise_id)
    }

    // -- safety --------------------------------------------------------------

    /// The crisis resources a safety notice shows: the deployment's own (see
    /// `setCrisisResources`) or an international default.
    pub fn crisis_resources(&self) -> Result<CrisisResources, JournalError> {
        Ok(self.store.crisis_resources()?.into())
    }

    /// Keeps this deployment's crisis resources (a clinic's own numbers) on
    /// the device, so a safety notice shows them offline too.
    pub fn set_crisis_resources(&self, resources: CrisisResources) -> Result<(), JournalError> {
        Ok(self.store.set_crisis_resources(&resources.into())?)
    }

    // -- export and import ---------------------------------------------------

    /// Everything this device holds of the journal as an export document
    /// (JSON, `kap-journal-export` version 1): every live record, the
    /// revisions kept for them, and the therapists' comments.
    ///
    /// The document's `account` is what this device knows: the email last
    /// signed in with (empty if none) and the nil UUID as id, since the
    /// device is never told the account id. The server's export of the
    /// same account carries the real id.
    pub fn export_json(&self) -> Result<String, JournalError> {
        let mut records = Vec::new();
        let mut revisions = Vec::new();
        let mut comments = Vec::new();
        let mut query = ListQuery {
            limit: Some(MAX_PAGE_SIZE),
            ..ListQuery::all()
        };
        loop {
            let page = self.store.list(&query)?;
            for record in page.records {
                revisions.extend(self.store.revisions(record.id)?);
                comments.extend(self.store.comments(record.id)?);
                let body = serde_json::from_str(&record.body.to_json().map_err(|e| {
                    JournalError::storage(format!("a record cannot be written as JSON: {e}"))
                })?)
                .map_err(|e| JournalError::storage(format!("a record's JSON: {e}")))?;
                records.push(RecordState {
                    id: record.id,
                    kind: record.kind(),
                    created_at: record.created_at,
                    updated_at: record.updated_at,
                    hlc: record.hlc,
                    deleted: false,
                    body: Some(body),
                });
            }
            match page.next_cursor {
                Some(cursor) => query.cursor = Some(cursor),
                None => break,
            }
        }
        let email = self.secrets.read(ACCOUNT_EMAIL_KEY)?.unwrap_or_default();
        let now = chrono::Utc::now();
        let document = ExportDocument {
            format: EXPORT_FORMAT.to_owned(),
            version: EXPORT_VERSION,
            exported_at: now,
            account: ExportedAccount {
                id: uuid::Uuid::nil(),
                email,
                display_name: None,
                created_at: now,
            },
            records,
            revisions,
            comments,
        };
        serde_json::to_string_pretty(&document)
            .map_err(|e| JournalError::storage(format!("the export cannot be written: {e}")))
    }

    /// Brings an export document (JSON, from `exportJson` or the
    /// server) into this journal, which must hold no records yet
    /// (`NotPossible` otherwise). With `queueForSync`, every record is also
    /// queued to be pushed — for moving a journal to a new account or
    /// server; without it nothing is queued (the records are already on the
    /// server they came from).
    pub fn import_json(
        &self,
        document: String,
        queue_for_sync: bool,
    ) -> Result<ImportReport, JournalError> {
        let document: ExportDocument = serde_json::from_str(&document).map_err(|e| {
            JournalError::from(InvalidInput::single(
                "document",
                "json",
                format!("is not an export document: {e}"),
            ))
        })?;
        let report = self.store.import(&document, queue_for_sync)?;
        Ok(ImportReport {
            records: signed64(report.records),
            revisions: signed64(report.revisions),
            comments: signed64(report.comments),
            queued: signed64(report.queued),
        })
    }

    // -- sign-in and sync ----------------------------------------------------

    /// Signs in to the journal server at `serverUrl` (`https://…`, without
    /// `/api/v1`) and keeps the sign-in in the `SecretStore` with the
    /// server's address, so it lasts across launches. One journal syncs with
    /// one account: sign in to another on a new journal file.
    ///
    /// Fails with `Invalid` for a malformed address or an empty email or
    /// password, `WrongCredentials`, `Network`, or `ServerRefused` (429 when
    /// there were too many attempts).
    pub fn sign_in(
        &self,
        server_url: String,
        email: String,
        password: String,
    ) -> Result<(), JournalError> {
        let mut problems = InvalidInput {
            violations: Vec::new(),
        };
        if email.trim().is_empty() {
            problems.push("email", "required", "must not be empty");
        }
        if password.is_empty() {
            problems.push("password", "required", "must not be empty");
        }
        let client = match self.client_for(&server_url) {
            Ok(client) => Some(client),
            Err(JournalError::Invalid { violations, .. }) => {
                for v in violations {
                    problems.push(v.field, v.rule, v.message);
                }
                None
            }
            Err(other) => return Err(other),
        };
        let Some(client) = client.filter(|_| problems.violations.is_empty()) else {
            return Err(problems.into());
        };
        self.secrets.clear_failure();
        let signed_in = client.sign_in(email.trim(), &password);
        if let Some(failure) = self.secrets.take_failure() {
            return Err(failure);
        }
        signed_in?;
        self.secrets
            .write(SERVER_URL_KEY, server_url.trim().trim_end_matches('/'))?;
        self.secrets.write(ACCOUNT_EMAIL_KEY, email.trim())?;
        *lock(&self.connection) = Some(client);
        Ok(())
    }

    /// Whether a sign-in is kept on this device (it may still turn out to
    /// have expired at the next sync).
    pub fn is_signed_in(&self) -> Result<bool, JournalError> {
        Ok(self.secrets.read(SERVER_URL_KEY)?.is_some()
            && self.secrets.read(REFRESH_TOKEN_KEY)?.is_some())
    }

    /// The server address of the kept sign-in, if any.
    pub fn server_url(&self) -> Result<Option<String>, JournalError> {
        self.secrets.read(SERVER_URL_KEY)
    }

    /// Syncs with the server: sends every local change and reply, then
    /// brings in every change from the patient's other devices and the
    /// therapists' comments. Safe to call at any time and to cut off at any point (app
    /// killed, network gone): the next sync resumes, nothing is lost or
    /// applied twice. One sync runs at a time; a second caller waits.
    ///
    /// Fails with `NotSignedIn` (sign in again; nothing unsent is lost),
    /// `Network` (try later), `ServerRefused`, `UnexpectedAnswer`,
    /// `UpdateRequired` or `Storage`; with `SecretStoreFailed` when the
    /// sign-in could not be read or kept (the sync itself may have
    /// completed).
    pub fn sync(&self) -> Result<SyncReport, JournalError> {
        let client = self.signed_in_client()?;
        self.secrets.clear_failure();
        let result = client.sync();
        if let Some(failure) = self.secrets.take_failure() {
            return Err(failure);
        }
        let report = result?;
        Ok(SyncReport {
            pushed: signed64(report.pushed),
            rejected: signed64(report.rejected),
            conflicts: signed64(report.conflicts),
            pulled: signed64(report.pulled),
            deleted_elsewhere: ids(&report.deleted_elsewhere),
            revisions: signed64(report.revisions),
            conflicted_records: ids(&report.conflicted_records),
            comments_new: signed64(report.comments_new),
            comments_edited: signed64(report.comments_edited),
            comments_deleted: signed64(report.comments_deleted),
            commented_records: ids(&report.commented_records),
            care_plans: signed64(report.care_plans),
            replies_sent: signed64(report.replies_sent),
            replies_refused: report
                .replies_refused
                .iter()
                .map(ToString::to_string)
                .collect(),
        })
    }

    /// How many local changes wait to be sent.
    pub fn pending_change_count(&self) -> Result<i64, JournalError> {
        Ok(signed64(self.store.pending_change_count()?))
    }
}

impl Journal {
    fn save_share(
        &self,
        therapist_id: String,
        scope: ShareScope,
    ) -> Result<JournalRecord, JournalError> {
        let content = RecordContent::Share {
            share: Share {
                therapist_id,
                scope,
                revoked: false,
            },
        };
        Ok(self.store.create(content.into_core()?)?.into())
    }

    /// A sync client for the server at `server_url`.
    pub(crate) fn client_for(&self, server_url: &str) -> Result<Arc<SyncClient>, JournalError> {
        let transport = HttpTransport::new(server_url).map_err(|mut invalid| {
            for v in &mut invalid.violations {
                if v.field == "baseUrl" {
                    "serverUrl".clone_into(&mut v.field);
                }
            }
            JournalError::from(invalid)
        })?;
        Ok(Arc::new(SyncClient::new(
            Arc::clone(&self.store),
            Arc::new(transport),
            Arc::clone(&self.secrets) as Arc<dyn journal_core::sync::SecretStore>,
        )))
    }

    /// The client of the kept sign-in (made from the kept server address
    /// after a relaunch).
    pub(crate) fn signed_in_client(&self) -> Result<Arc<SyncClient>, JournalError> {
        let mut connection = lock(&self.connection);
        if let Some(client) = connection.as_ref() {
            return Ok(Arc::clone(client));
        }
        let Some(url) = self.secrets.read(SERVER_URL_KEY)? else {
            return Err(JournalError::NotSignedIn {
                detail: "no one is signed in on this journal: sign in first".to_owned(),
            });
        };
        let client = self.client_for(&url)?;
        *connection = Some(Arc::clone(&client));
        Ok(client)
    }
}

fn revision_view(r: journal_core::sync::Revision) -> Result<Revision, JournalError> {
    let body =
        core::RecordBody::from_value(r.kind, r.body).map_err(|e| JournalError::UpdateRequired {
            detail: format!("revision {} cannot be read by this app: {e}", r.id),
        })?;
    Ok(Revision {
        id: r.id.to_string(),
        record_id: r.record_id.to_string(),
        reason: match r.reason {
            CoreReason::Conflict => RevisionReason::Conflict,
            CoreReason::Deleted => RevisionReason::Deleted,
        },
        content: body.into(),
        kept_at: from_time(r.created_at),
    })
}

fn ids(ids: &[journal_core::RecordId]) -> Vec<String> {
    ids.iter().map(ToString::to_string).collect()
}

impl From<Saved> for SavedRecord {
    fn from(saved: Saved) -> Self {
        Self {
            record: saved.record.into(),
            safety_notice: saved.safety_notice.map(Into::into),
        }
    }
}

fn list_query(filter: RecordFilter) -> Result<ListQuery, JournalError> {
    Ok(ListQuery {
        kinds: filter.kinds.into_iter().map(Into::into).collect(),
        phase: filter.phase.map(Into::into),
        from: filter.from.map(|t| to_time("from", t)).transpose()?,
        to: filter.to.map(|t| to_time("to", t)).transpose()?,
        dosing_session_id: filter
            .dosing_session_id
            .map(|id| record_id("dosingSessionId", &id))
            .transpose()?,
        // A negative size becomes one the rule refuses with its message.
        limit: filter.limit.map(|l| u32::try_from(l).unwrap_or(0)),
        cursor: filter
            .cursor
            .map(|c| {
                c.parse::<ListCursor>().map_err(|_| {
                    JournalError::invalid(
                        "cursor",
                        "cursor",
                        "must be a nextCursor handed out by an earlier page",
                    )
                })
            })
            .transpose()?,
    })
}

/// Cuts a snippet into plain and highlighted parts at the highlight ranges
/// (character offsets, `[start, end)`).
fn snippet_parts(snippet: &str, highlights: &[(u32, u32)]) -> Vec<SnippetPart> {
    let mut parts: Vec<SnippetPart> = Vec::new();
    for (index, c) in snippet.chars().enumerate() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let highlighted = highlights
            .iter()
            .any(|(start, end)| (*start..*end).contains(&index));
        match parts.last_mut() {
            Some(last) if last.highlighted == highlighted => last.text.push(c),
            _ => parts.push(SnippetPart {
                text: c.to_string(),
                highlighted,
            }),
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_are_cut_at_the_highlights() {
        let parts = snippet_parts("I saw the sea…", &[(6, 9), (10, 13)]);
        let texts: Vec<(&str, bool)> = parts
            .iter()
            .map(|p| (p.text.as_str(), p.highlighted))
            .collect();
        assert_eq!(
            texts,
            [
                ("I saw ", false),
                ("the", true),
                (" ", false),
                ("sea", true),
                ("…", false)
            ]
        );
    }
}

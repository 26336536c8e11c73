//! [`SyncClient`]: the phone's side of sync. It keeps the patient signed in
//! (the refresh token in the app's [`SecretStore`], the access token in
//! memory) and runs a sync: push the outbox until it is empty, send the
//! patient's replies to comments, then pull until the server has nothing
//! more.
//!
//! A sync can be cut anywhere — network gone, app killed — and the next one
//! resumes: a change leaves the outbox only once the server acknowledges it
//! (so nothing is lost), the server skips mutation ids it has already dealt
//! with, and applying a pulled page twice changes nothing (so nothing is
//! applied twice).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::transport::{SecretStore, Tokens, Transport, TransportError};
use super::wire::{
    MAX_PULL_LIMIT, MAX_PUSH_MUTATIONS, Mutation, OutcomeStatus, PullResponse, PushRequest,
};
use crate::store::{JournalStore, StoreError};

/// The [`SecretStore`] key the refresh token is kept under.
pub const REFRESH_TOKEN_KEY: &str = "journal.sync.refresh-token";

/// An access token is refreshed this long before it expires, so a request
/// does not set out with a token that dies on the way.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);

/// The most JSON one push carries. The server refuses bodies over 1 MiB
/// (413), and 500 long entries are far more than that; one mutation is
/// always well under it (an entry is at most 100,000 characters).
pub const MAX_PUSH_BYTES: usize = 768 * 1024;

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Local changes the server took (applied, or merged by the conflict
    /// rules).
    pub pushed: u64,
    /// Local changes the server refused (invalid, not yours); they are not
    /// sent again.
    pub rejected: u64,
    /// Local changes that met a concurrent change on another device (the
    /// outcome comes back in the pull; losing entry text is kept as a
    /// revision).
    pub conflicts: u64,
    /// Records created, changed or deleted by the patient's other devices
    /// (or the server), written here by the pull. This device's own
    /// changes coming back are not counted.
    pub pulled: u64,
    /// Of those, the records deleted elsewhere that were here.
    pub deleted_elsewhere: Vec<crate::ids::RecordId>,
    /// Conflict revisions new to this device (text that lost, kept).
    pub revisions: u64,
    /// The records those revisions are about (each once).
    pub conflicted_records: Vec<crate::ids::RecordId>,
    /// Therapists' comments new here.
    pub comments_new: u64,
    /// Therapists' comments edited.
    pub comments_edited: u64,
    /// Therapists' comments deleted.
    pub comments_deleted: u64,
    /// The records those comments are about (each once).
    pub commented_records: Vec<crate::ids::RecordId>,
    /// Care plans from the patient's therapists received (set, changed or
    /// withdrawn).
    pub care_plans: u64,
    /// The patient's replies (new, edited or deleted) written on this
    /// device that the server took.
    pub replies_sent: u64,
    /// Replies the server refused (the therapist's comment was deleted,
    /// the record is no longer shared with the therapist, or the care link
    /// ended): their text stays on this device, marked refused.
    pub replies_refused: Vec<uuid::Uuid>,
}

impl SyncReport {
    /// Adds what one pulled page did.
    fn add(&mut self, applied: crate::store::ApplyReport) {
        fn join(all: &mut Vec<crate::ids::RecordId>, more: Vec<crate::ids::RecordId>) {
            for id in more {
                if !all.contains(&id) {
                    all.push(id);
                }
            }
        }
        self.pulled += applied.records;
        join(&mut self.deleted_elsewhere, applied.deleted_elsewhere);
        self.revisions += applied.revisions;
        join(&mut self.conflicted_records, applied.conflicted_records);
        self.comments_new += applied.comments_new;
        self.comments_edited += applied.comments_edited;
        self.comments_deleted += applied.comments_deleted;
        join(&mut self.commented_records, applied.commented_records);
        self.care_plans += applied.care_plans;
    }
}

/// Why a sign-in or a sync failed. Nothing acknowledged is lost either way:
/// the next sync picks up where this one stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// No one is signed in on this device, or the sign-in expired or was
    /// revoked: the patient must sign in again.
    #[error("not signed in, or the sign-in has expired: sign in again")]
    NotSignedIn,
    /// The email or the password is not right.
    #[error("the email or password is not right: {0}")]
    WrongCredentials(String),
    /// The server cannot be reached right now; local changes are kept and
    /// sent at the next sync.
    #[error("the server cannot be reached ({0}); changes are kept and sent at the next sync")]
    Network(String),
    /// The server refused a request as a whole.
    #[error("the server refused the request ({status} {problem_type}): {detail}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The problem's stable type.
        problem_type: String,
        /// What the server said went wrong.
        detail: String,
        /// Seconds to wait before trying again (`Retry-After`), when said.
        retry_after: Option<u64>,
        /// For invalid input: every broken rule, by field.
        violations: Vec<crate::validation::FieldViolation>,
    },
    /// The journal on this device failed (or a pulled change cannot be read
    /// by this version of the app).
    #[error("the journal on this device: {0}")]
    Storage(#[from] StoreError),
    /// The server's answer makes no sense to this version of the app.
    #[error("the server's answer cannot be understood: {0}")]
    Protocol(String),
}

impl SyncError {
    /// Whether trying again later may succeed without anything changing: a
    /// network failure, or a server that is busy or failing (429, 5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Network(_) => true,
            SyncError::Rejected { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

impl From<TransportError> for SyncError {
    fn from(error: TransportError) -> Self {
        match error {
            TransportError::Network(m) => SyncError::Network(m),
            TransportError::Unauthorized(_) => SyncError::NotSignedIn,
            TransportError::Rejected {
                status,
                problem_type,
                detail,
                retry_after,
                violations,
            } => SyncError::Rejected {
                status,
                problem_type,
                detail,
                retry_after,
                violations,
            },
            TransportError::Protocol(m) => SyncError::Protocol(m),
        }
    }
}

struct AccessToken {
    token: String,
    refresh_at: Instant,
}

/// The problem type the server answers when a device's change numbers went
/// back (a journal restored from a backup).
pub const DEVICE_REWOUND: &str = "urn:kap-journal:problem:device-rewound";

/// The problem type the server answers when a push carries a change
/// stamped later than its clock allows: this device's clock runs ahead.
/// The client then pulls (learning the server's time), stamps its waiting
/// changes again by the corrected clock and sends them again, once per
/// sync; nothing leaves the outbox on the way.
pub const CLOCK_AHEAD: &str = "urn:kap-journal:problem:clock-ahead";

/// Syncs one journal with the server for the signed-in patient.
///
/// Blocking, and safe to share between threads: syncs run one at a time
/// (a second caller waits for the first to finish).
pub struct SyncClient {
    store: Arc<JournalStore>,
    transport: Arc<dyn Transport>,
    secrets: Arc<dyn SecretStore>,
    access: Mutex<Option<AccessToken>>,
    one_sync_at_a_time: Mutex<()>,
}

impl std::fmt::Debug for SyncClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncClient")
            .field("store", &self.store)
            // Not the secret store: formatting should not call into the
            // Keychain.
            .field("has_access_token", &lock(&self.access).is_some())
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing behind these locks can be left half-changed by a panic.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether the server refused a push because this device's clock runs
/// ahead ([`CLOCK_AHEAD`]).
fn is_clock_ahead(error: &SyncError) -> bool {
    matches!(error, SyncError::Rejected { status: 409, problem_type, .. } if problem_type == CLOCK_AHEAD)
}

/// Drops mutations from the end of a batch until its JSON fits in
/// `max_bytes`, always keeping the first (the ones dropped go next time).
fn keep_within(mutations: &mut Vec<Mutation>, max_bytes: usize) -> Result<(), SyncError> {
    let mut total = 0usize;
    let mut fits = 0usize;
    for mutation in mutations.iter() {
        let size = serde_json::to_vec(mutation)
            .map_err(|e| SyncError::Protocol(format!("a change cannot be written: {e}")))?
            .len()
            + 1;
        total = total.saturating_add(size);
        if total > max_bytes && fits > 0 {
            break;
        }
        fits += 1;
    }
    mutations.truncate(fits);
    Ok(())
}

impl SyncClient {
    /// A client syncing `store` through `transport`, keeping the refresh
    /// token in `secrets` under [`REFRESH_TOKEN_KEY`]. A patient who signed
    /// in before (on an earlier launch) is still signed in.
    pub fn new(
        store: Arc<JournalStore>,
        transport: Arc<dyn Transport>,
        secrets: Arc<dyn SecretStore>,
    ) -> Self {
        Self {
            store,
            transport,
            secrets,
            access: Mutex::new(None),
            one_sync_at_a_time: Mutex::new(()),
        }
    }

    /// Signs in with email and password, keeping the refresh token in the
    /// secret store. Fails with [`SyncError::WrongCredentials`] when the
    /// server refuses them.
    pub fn sign_in(&self, email: &str, password: &str) -> Result<(), SyncError> {
        let tokens = self
            .transport
            .sign_in(email, password)
            .map_err(|e| match e {
                TransportError::Unauthorized(detail) => SyncError::WrongCredentials(detail),
                other => other.into(),
            })?;
        self.keep(tokens);
        Ok(())
    }

    /// Forgets the tokens on this device. The journal and its unsent
    /// changes stay; they are sent after the next sign-in.
    pub fn sign_out(&self) {
        self.secrets.remove(REFRESH_TOKEN_KEY);
        *lock(&self.access) = None;
    }

    /// Whether a sign-in is kept on this device (it may still turn out to
    /// have expired at the next sync).
    pub fn is_signed_in(&self) -> bool {
        lock(&self.access).is_some() || self.secrets.get(REFRESH_TOKEN_KEY).is_some()
    }

    /// Pushes every local change, in batches of up to 500 changes and
    /// [`MAX_PUSH_BYTES`] of JSON (fewer if the server answers 413), then
    /// pulls every page of changes from the server, applying each page in
    /// one transaction. Changes made while it runs are sent by the next
    /// sync.
    ///
    /// An expired access token is refreshed once; if the server still
    /// refuses, [`SyncError::NotSignedIn`]. On any error, what was done
    /// stays done and the next sync resumes from there.
    pub fn sync(&self) -> Result<SyncReport, SyncError> {
        let _one_at_a_time = lock(&self.one_sync_at_a_time);
        let mut report = SyncReport::default();
        self.push_all(&mut report)?;
        self.send_replies(&mut report)?;
        self.pull_all(&mut report)?;
        // A first sync leaves the search index to be built: off the
        // sync's path, so the journal is readable at once.
        self.store.build_search_index_in_background();
        Ok(report)
    }

    /// Sends the replies written here, oldest first, each by its own call
    /// (a reply carries the id chosen here, so one sent twice is one
    /// reply). A refusal for good (404, 409, 410, 422) marks the reply
    /// refused and goes on; any other failure stops the sync, the reply
    /// still waiting.
    fn send_replies(&self, report: &mut SyncReport) -> Result<(), SyncError> {
        use crate::store::comments::ReplyChange;
        for reply in self.store.pending_replies()? {
            let answer = match &reply.change {
                ReplyChange::Create {
                    record_id,
                    reply_to,
                } => {
                    let body = serde_json::json!({
                        "id": reply.id, "replyTo": reply_to, "text": reply.text,
                    });
                    let path = format!("/records/{record_id}/comments");
                    self.authorized(|token| {
                        self.transport.call("POST", &path, Some(token), Some(&body))
                    })
                }
                ReplyChange::Edit => {
                    let body = serde_json::json!({ "text": reply.text });
                    let path = format!("/comments/{}", reply.id);
                    self.authorized(|token| {
                        self.transport.call("PUT", &path, Some(token), Some(&body))
                    })
                }
                ReplyChange::Delete => {
                    let path = format!("/comments/{}", reply.id);
                    self.authorized(|token| self.transport.call("DELETE", &path, Some(token), None))
                }
            };
            match answer {
                Ok(value) => {
                    let stored: Option<crate::comments::Comment> = if reply.change
                        == ReplyChange::Delete
                    {
                        None
                    } else {
                        Some(serde_json::from_value(value).map_err(|e| {
                            SyncError::Protocol(format!("the reply's answer cannot be read: {e}"))
                        })?)
                    };
                    self.store.reply_sent(&reply, stored.as_ref())?;
                    report.replies_sent += 1;
                }
                Err(SyncError::Rejected {
                    status: 404 | 409 | 410 | 422,
                    ..
                }) => {
                    self.store.reply_refused(&reply)?;
                    if reply.change != ReplyChange::Delete {
                        report.replies_refused.push(reply.id);
                    }
                }
                Err(other) => return Err(other),
            }
        }
        Ok(())
    }

    fn push_all(&self, report: &mut SyncReport) -> Result<(), SyncError> {
        let mut batch_size = u32::try_from(MAX_PUSH_MUTATIONS).unwrap_or(u32::MAX);
        let mut renewed = false;
        let mut restamped = false;
        loop {
            let mut mutations = self.store.pending_mutations(batch_size)?;
            let Some(first) = mutations.first().map(|m| m.mutation_id) else {
                return Ok(());
            };
            keep_within(&mut mutations, MAX_PUSH_BYTES)?;
            let sent = u32::try_from(mutations.len()).unwrap_or(u32::MAX);
            let request = PushRequest {
                device_id: self.store.device_id(),
                mutations,
            };
            let answer = match self.authorized(|token| self.transport.push(token, &request)) {
                // Still too large for this server: send fewer at a time.
                Err(SyncError::Rejected { status: 413, .. }) if sent > 1 => {
                    batch_size = sent / 2;
                    continue;
                }
                // This journal's change numbers went back (restored from a
                // backup): under a new device id its changes count as new
                // instead of being taken for replays. Once per sync.
                Err(SyncError::Rejected {
                    status: 409,
                    ref problem_type,
                    ..
                }) if problem_type == DEVICE_REWOUND && !renewed => {
                    self.store.renew_device_id()?;
                    renewed = true;
                    continue;
                }
                // This device's clock runs ahead: learn the server's time
                // from a pull, stamp the waiting changes again, resend.
                // Once per sync; if nothing needed a new stamp, the
                // refusal stands.
                Err(error) if is_clock_ahead(&error) && !restamped => {
                    restamped = true;
                    self.pull_all(report)?;
                    if self.store.restamp_ahead()? == 0 {
                        return Err(error);
                    }
                    continue;
                }
                other => other?,
            };
            for outcome in &answer.results {
                match outcome.status {
                    OutcomeStatus::Applied => report.pushed += 1,
                    OutcomeStatus::Rejected => report.rejected += 1,
                }
                if outcome.conflict {
                    report.conflicts += 1;
                }
            }
            // Without progress the loop would send the same batch forever.
            match answer.last_applied_mutation {
                Some(through) if through >= first => {
                    self.store.acknowledge_changes(through)?;
                }
                other => {
                    return Err(SyncError::Protocol(format!(
                        "the push was answered without acknowledging its first change \
                         (mutation {first}; last applied: {})",
                        other.map_or_else(|| "none".to_owned(), |m| m.to_string())
                    )));
                }
            }
        }
    }

    /// Pulls and applies every page after this device's cursor. While one
    /// page is written here, the next is already asked for (its cursor is
    /// the one the written page ends at), so the server's time and the
    /// network's overlap the phone's writes. Pages are still applied one at
    /// a time and in order, each in its own transaction; a page asked for
    /// ahead is dropped if the one before it cannot be applied, and the
    /// next sync asks for it again from the cursor kept.
    fn pull_all(&self, report: &mut SyncReport) -> Result<(), SyncError> {
        let device = self.store.device_id();
        let mut since = self.store.pull_cursor()?;
        let mut page = self.pull_page(since, device)?;
        loop {
            if !page.has_more {
                report.add(self.store.apply_pull(&page)?);
                return Ok(());
            }
            if page.cursor <= since {
                // What came is still written; then the sync stops.
                report.add(self.store.apply_pull(&page)?);
                return Err(SyncError::Protocol(format!(
                    "the server said more changes follow, but its cursor stayed at {since}"
                )));
            }
            since = page.cursor;
            let (applied, ahead) = std::thread::scope(|scope| {
                let ahead = std::thread::Builder::new()
                    .name("journal-pull-ahead".to_owned())
                    .spawn_scoped(scope, || self.pull_page(since, device))
                    .ok();
                let applied = self.store.apply_pull(&page);
                let ahead = ahead.map(|handle| {
                    handle.join().unwrap_or_else(|_| {
                        Err(SyncError::Protocol(
                            "asking for the next page failed unexpectedly".to_owned(),
                        ))
                    })
                });
                (applied, ahead)
            });
            report.add(applied?);
            page = match ahead {
                Some(next) => next?,
                // No thread to spare: asked for now the page is written.
                None => self.pull_page(since, device)?,
            };
        }
    }

    /// Asks the server for the changes after `since`, one page.
    fn pull_page(
        &self,
        since: super::OwnerVersion,
        device: crate::ids::DeviceId,
    ) -> Result<PullResponse, SyncError> {
        self.authorized(|token| self.transport.pull(token, since, MAX_PULL_LIMIT, device))
    }

    /// Runs `call` with a valid access token: refreshing first when the
    /// token is missing or about to expire, and once more if the server
    /// refuses it.
    fn authorized<T>(
        &self,
        call: impl Fn(&str) -> Result<T, TransportError>,
    ) -> Result<T, SyncError> {
        let (token, fresh) = match self.current_token() {
            Some(token) => (token, false),
            None => (self.refresh()?, true),
        };
        match call(&token) {
            Err(TransportError::Unauthorized(_)) if !fresh => {
                let token = self.refresh()?;
                call(&token).map_err(SyncError::from)
            }
            other => other.map_err(SyncError::from),
        }
    }

    fn current_token(&self) -> Option<String> {
        lock(&self.access)
            .as_ref()
            .filter(|a| Instant::now() < a.refresh_at)
            .map(|a| a.token.clone())
    }

    /// Trades the kept refresh token for new tokens. A refused refresh token
    /// is forgotten: only signing in again helps.
    fn refresh(&self) -> Result<String, SyncError> {
        let Some(refresh_token) = self.secrets.get(REFRESH_TOKEN_KEY) else {
            return Err(SyncError::NotSignedIn);
        };
        match self.transport.refresh(&refresh_token) {
            Ok(tokens) => Ok(self.keep(tokens)),
            Err(TransportError::Unauthorized(_)) => {
                self.sign_out();
                Err(SyncError::NotSignedIn)
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Keeps new tokens (the refresh token rotates on every use) and returns
    /// the access token.
    fn keep(&self, tokens: Tokens) -> String {
        self.secrets.set(REFRESH_TOKEN_KEY, &tokens.refresh_token);
        let lifetime = Duration::from_secs(tokens.expires_in).saturating_sub(EXPIRY_MARGIN);
        let refresh_at = Instant::now()
            .checked_add(lifetime)
            .unwrap_or_else(Instant::now);
        *lock(&self.access) = Some(AccessToken {
            token: tokens.access_token.clone(),
            refresh_at,
        });
        tokens.access_token
    }
}

mod account;
pub use account::{
    Account, CareLink, Party, Policy, is_unusable_invitation, request_password_reset,
    reset_password,
};

#[cfg(test)]
mod tests;

//! Sync: a patient's devices push their local changes and pull everyone
//! else's (`docs/sync.md`). The JSON is journal-core's
//! [`journal_core::sync::wire`]; conflicts are decided by journal-core's
//! [`resolve`], the very function the phone calls, never here.
//!
//! - **Push** is one transaction per request. Its first write bumps the
//!   owner's version counter by a block (two versions per mutation: a
//!   record and a revision at most), which also takes the owner's lock
//!   before anything is read; every row it writes is stamped from that
//!   block, in order. Versions therefore follow commit order.
//! - Each device numbers its mutations; the server keeps the last one it
//!   dealt with and the outcome each recent one got, so a replayed mutation
//!   is answered as the first time and changes nothing. A push that only
//!   replays writes nothing at all.
//! - A mutation is rejected on its own (unreadable, invalid, another
//!   patient's record, another kind) and never holds up the ones behind it.
//! - Every statement on records names the owner: another patient's record
//!   is never read, and never written.
//! - **Pull** reads records, revisions and therapists' comments in one
//!   snapshot, merged in version order, so a page never skips a change
//!   committed meanwhile.
//!
//! Edits made through the REST records API go through [`resolve`] too (with
//! the nil device id), so field stamps and revisions stay right whichever
//! way a change arrives: the row-level helpers here are shared with
//! [`super::records`].

use std::collections::{HashMap, HashSet};

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::dsl::exists;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use journal_core::hlc::Hlc;
use journal_core::ids::{DeviceId, MutationId, RecordId};
use journal_core::phase::Phase;
use journal_core::records::{RecordBody, RecordKind};
use journal_core::sync::{
    ChangeOp, DEFAULT_PULL_LIMIT, FieldStamps, Incoming, IncomingOp, LostText, MAX_PULL_LIMIT,
    MAX_PUSH_MUTATIONS, Mutation, MutationOutcome, MutationProblem, OutcomeStatus, OwnerVersion,
    PullResponse, PulledChange, PushRequest, PushResponse, RecordState, Resolution, Revision,
    RevisionReason, Stamp, Stored, resolve,
};
use journal_core::validation::{FieldViolation, InvalidInput};
use serde::Deserialize;
use utoipa::IntoParams;

use super::comments::{CommentRow, with_authors};
use super::now_micros;
use super::records::{NOT_FOUND, Patient, bump_version_by};
use crate::auth::AuthUser;
use crate::db::DbConnection;
use crate::db::schema::{
    comments, mutation_outcomes, record_revisions, records, sync_devices, users,
};
use crate::error::ApiError;
use crate::state::AppState;

/// Versions a push reserves per mutation: one for the record it writes and
/// one for the revision it may keep.
const VERSIONS_PER_MUTATION: i64 = 2;

/// The most fields one mutation may list as changed: far more than any
/// kind has, few enough that no device can bloat a record's field stamps.
const MAX_CHANGED_FIELDS: usize = 32;

/// The longest field name a mutation may list as changed.
const MAX_FIELD_NAME_CHARS: usize = 64;

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Resources (not bare routes) so a known path with the wrong method
    // answers 405, not 404.
    cfg.service(web::resource("/sync/push").route(web::post().to(push)))
        .service(web::resource("/sync/pull").route(web::get().to(pull)))
        .service(web::resource("/records/{id}/revisions").route(web::get().to(list_revisions)));
}

/// The device that REST edits are stamped with: the nil id, which no device
/// may push as.
pub(crate) fn rest_device() -> DeviceId {
    DeviceId::from_uuid(uuid::Uuid::nil())
}

// ---------------------------------------------------------------------------
// Push
// ---------------------------------------------------------------------------

/// Pushes a device's local changes, oldest first.
///
/// The first push of a device id binds it to the signed-in patient. Each
/// mutation gets an outcome, in order: `applied` (possibly merged by the
/// conflict rules: `conflict` says so, and a losing text is kept as a
/// revision) or `rejected` with a problem (unreadable or invalid content,
/// a record of someone else's, a record of another kind). A rejected
/// mutation does not hold up the ones behind it. A mutation at or below the
/// device's last applied one is a replay: it is answered with the outcome
/// it got the first time and changes nothing.
///
/// The request as a whole is refused (nothing happens) when it is not a
/// push (400), holds no or more than 500 mutations or mutation ids that do
/// not rise (422), or names a device of another patient (403).
#[utoipa::path(post, path = "/api/v1/sync/push", tag = "sync",
    request_body(content = PushRequest, description = "The device and its changes, oldest first"),
    responses(
        (status = 200, description = "One outcome per mutation, in order", body = PushResponse),
        (status = 400, description = "Not a push: malformed JSON, wrong types or unknown fields",
            body = crate::error::Problem, content_type = "application/problem+json"),
        crate::error::documented::NotSignedIn,
        (status = 403, description = "Not a patient, or the device is another patient's",
            body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The device's mutation ids went back (type device-rewound): a mutation id it already used names another change; take a new device id",
            body = crate::error::Problem, content_type = "application/problem+json"),
        crate::error::documented::BodyTooLarge,
        crate::error::documented::BodyNotJson,
        (status = 422, description = "No or more than 500 mutations, mutation ids that do not rise, or the reserved nil device id",
            body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn push(
    state: web::Data<AppState>,
    patient: Patient,
    body: web::Json<PushRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = body.into_inner();
    let ids = check_push(&request)?;
    let owner = patient.owner();
    let response = state
        .db
        .run(move |conn| push_mutations(conn, &owner, &request, &ids))
        .await?;
    Ok(HttpResponse::Ok().json(response))
}

/// Checks the request as a whole; returns the mutation ids as stored.
fn check_push(request: &PushRequest) -> Result<Vec<i64>, ApiError> {
    let mut invalid = Vec::new();
    if request.device_id.as_uuid().is_nil() {
        invalid.push(violation(
            "deviceId",
            "reserved",
            "the nil id is reserved for edits made through the API",
        ));
    }
    let count = request.mutations.len();
    if count == 0 || count > MAX_PUSH_MUTATIONS {
        invalid.push(violation(
            "mutations",
            "length",
            &format!("must hold 1 to {MAX_PUSH_MUTATIONS} mutations, not {count}"),
        ));
    }
    let mut ids = Vec::with_capacity(count.min(MAX_PUSH_MUTATIONS));
    let mut previous: Option<u64> = None;
    // Past the limit the list is refused anyway; stop reading it.
    for (index, mutation) in request
        .mutations
        .iter()
        .enumerate()
        .take(MAX_PUSH_MUTATIONS)
    {
        let field = format!("mutations[{index}].mutationId");
        let id = mutation.mutation_id.0;
        match i64::try_from(id) {
            Ok(stored) if stored >= 1 => ids.push(stored),
            _ => invalid.push(violation(
                &field,
                "range",
                &format!("must be between 1 and {}", i64::MAX),
            )),
        }
        if let Some(before) = previous
            && id <= before
        {
            invalid.push(violation(
                &field,
                "increasing",
                &format!("mutation ids must rise; {id} follows {before}"),
            ));
        }
        previous = Some(id);
    }
    if invalid.is_empty() {
        Ok(ids)
    } else {
        invalid.sort_by(|a, b| a.field.cmp(&b.field).then(a.rule.cmp(&b.rule)));
        Err(InvalidInput {
            violations: invalid,
        }
        .into())
    }
}

fn violation(field: &str, rule: &str, message: &str) -> FieldViolation {
    FieldViolation {
        field: field.to_owned(),
        rule: rule.to_owned(),
        message: message.to_owned(),
    }
}

/// How many times a push's transaction is tried when a record id it
/// inserts is taken meanwhile by another patient's record.
const PUSH_ATTEMPTS: u32 = 3;

/// Applies a checked push.
fn push_mutations(
    conn: &mut DbConnection,
    owner: &str,
    request: &PushRequest,
    ids: &[i64],
) -> Result<PushResponse, ApiError> {
    // A push that only replays is answered from what is stored, writing
    // nothing: the last applied id only ever rises, so what it answers
    // cannot go stale.
    let replayed = conn.transaction(|conn| replay_only(conn, owner, request, ids))?;
    if let Some(response) = replayed {
        return Ok(response);
    }
    let mut attempt = 1;
    loop {
        match conn.transaction(|conn| apply_push(conn, owner, request, ids)) {
            Ok(response) => return Ok(response),
            Err(PushError::Api(error)) => return Err(error),
            // Tried again from the start, the look-up finds the record that
            // took the id, and that mutation alone is rejected.
            Err(PushError::IdTakenMeanwhile) if attempt < PUSH_ATTEMPTS => attempt += 1,
            Err(PushError::IdTakenMeanwhile) => {
                return Err(ApiError::Conflict(
                    "record ids of this push kept being taken meanwhile; push again".to_owned(),
                ));
            }
        }
    }
}

/// Why a push's transaction ended without an answer.
#[derive(Debug)]
enum PushError {
    /// The push fails with this error.
    Api(ApiError),
    /// A record id the push inserts was taken by another patient's record
    /// after the push looked it up (only possible on PostgreSQL, where
    /// writers of different patients run side by side): nothing was
    /// written, and the transaction is tried again.
    IdTakenMeanwhile,
}

impl From<ApiError> for PushError {
    fn from(error: ApiError) -> Self {
        PushError::Api(error)
    }
}

impl From<DieselError> for PushError {
    fn from(error: DieselError) -> Self {
        PushError::Api(error.into())
    }
}

/// The answer to a push whose every mutation is a replay, or `None` when
/// there is something new (or the device is new). Refuses another
/// patient's device.
fn replay_only(
    conn: &mut DbConnection,
    owner: &str,
    request: &PushRequest,
    ids: &[i64],
) -> Result<Option<PushResponse>, ApiError> {
    let device = request.device_id.to_string();
    let Some((device_owner, last)) = sync_devices::table
        .find(&device)
        .select((sync_devices::owner_id, sync_devices::last_mutation_id))
        .get_result::<(String, i64)>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    if device_owner != owner {
        return Err(another_owners_device());
    }
    if ids.iter().any(|&id| id > last) {
        return Ok(None);
    }
    let earlier = stored_outcomes(conn, &device, ids)?;
    let results = request
        .mutations
        .iter()
        .zip(ids)
        .map(|(mutation, &id)| replayed_outcome(&device, mutation, id, earlier.get(&id)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(PushResponse {
        results,
        last_applied_mutation: applied_mutation(last),
    }))
}

fn another_owners_device() -> ApiError {
    ApiError::Forbidden("this device id belongs to another account".to_owned())
}

/// The highest mutation dealt with, as the wire says it (`None` before the
/// first).
fn applied_mutation(last: i64) -> Option<MutationId> {
    u64::try_from(last).ok().filter(|&m| m > 0).map(MutationId)
}

/// The outcome a replayed mutation got the first time (`applied` when none
/// was kept: pushed before outcomes were kept for good).
///
/// A "replay" of a different change under a number already used means the
/// device's numbering went back — a phone restored from a backup. Taking it
/// for a replay would drop the change silently; the whole push is refused
/// instead, and the device takes a new id and pushes again.
fn replayed_outcome(
    device: &str,
    mutation: &Mutation,
    id: i64,
    stored: Option<&StoredOutcome>,
) -> Result<MutationOutcome, ApiError> {
    let mutation_id = mutation.mutation_id;
    if let Some((_, Some(record_id), Some(hlc))) = stored
        && (*record_id != mutation.record_id.to_string() || *hlc != mutation.hlc.to_i64())
    {
        return Err(ApiError::DeviceRewound(format!(
            "mutation {mutation_id} of this device was already used for another change; \
             the device's numbering went back (restored from a backup?): \
             take a new device id and push again"
        )));
    }
    match stored.map(|(json, _, _)| json) {
        Some(json) => serde_json::from_str(json).map_err(|e| {
            ApiError::Internal(format!(
                "stored outcome of mutation {id} of device {device} is unreadable: {e}"
            ))
        }),
        None => Ok(MutationOutcome {
            mutation_id,
            status: OutcomeStatus::Applied,
            conflict: false,
            problem: None,
        }),
    }
}

/// A kept outcome: its JSON, and the record and stamp of the mutation.
type StoredOutcome = (String, Option<String>, Option<i64>);

/// The kept outcomes of the device's mutations `ids`, by mutation id, in
/// one query per chunk of ids.
fn stored_outcomes(
    conn: &mut DbConnection,
    device: &str,
    ids: &[i64],
) -> Result<HashMap<i64, StoredOutcome>, ApiError> {
    let mut found = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(IDS_PER_LOOKUP) {
        let rows: Vec<(i64, String, Option<String>, Option<i64>)> = mutation_outcomes::table
            .filter(mutation_outcomes::device_id.eq(device))
            .filter(mutation_outcomes::mutation_id.eq_any(chunk))
            .select((
                mutation_outcomes::mutation_id,
                mutation_outcomes::outcome,
                mutation_outcomes::record_id,
                mutation_outcomes::hlc,
            ))
            .load(conn)?;
        found.extend(
            rows.into_iter()
                .map(|(id, json, record, hlc)| (id, (json, record, hlc))),
        );
    }
    Ok(found)
}

/// The push's one transaction.
///
/// Statements are few whatever the push's length: one look-up of all the
/// records it names, one multi-row insert of the new records and one of
/// the outcomes; only changes to records already stored (and revisions)
/// are written one by one.
fn apply_push(
    conn: &mut DbConnection,
    owner: &str,
    request: &PushRequest,
    ids: &[i64],
) -> Result<PushResponse, PushError> {
    let now = now_micros();
    // First write: the version block, which also takes the owner's lock.
    let count = i64::try_from(request.mutations.len())
        .map_err(|_| ApiError::Internal("push too long".to_owned()))?;
    let block = count.saturating_mul(VERSIONS_PER_MUTATION);
    let top = bump_version_by(conn, owner, block)?;
    let mut versions = Versions::block(top, block);
    let device = request.device_id.to_string();
    let last = register_device(conn, owner, &device, now)?;

    let replays: Vec<i64> = ids.iter().copied().filter(|&id| id <= last).collect();
    let earlier = stored_outcomes(conn, &device, &replays)?;
    // Read and checked before the look-up, so that it asks only for the
    // records that may be written.
    let ops: Vec<Option<Result<IncomingOp, ApiError>>> = request
        .mutations
        .iter()
        .zip(ids)
        .map(|(mutation, &id)| (id > last).then(|| incoming_op(mutation)))
        .collect();
    let named: Vec<String> = request
        .mutations
        .iter()
        .zip(&ops)
        .filter(|(_, op)| matches!(op, Some(Ok(_))))
        .map(|(mutation, _)| mutation.record_id.to_string())
        .collect();
    let mut batch = PushBatch::look_up(conn, owner, named)?;

    let mut results = Vec::with_capacity(request.mutations.len());
    let mut outcomes = Vec::with_capacity(request.mutations.len() - replays.len());
    let mut highest = last;
    for ((mutation, &id), op) in request.mutations.iter().zip(ids).zip(ops) {
        let Some(op) = op else {
            results.push(replayed_outcome(&device, mutation, id, earlier.get(&id))?);
            continue;
        };
        let outcome = match op {
            Ok(op) => batch.apply(conn, request.device_id, mutation, op, &mut versions)?,
            Err(error) => rejected(mutation, &error),
        };
        let json = serde_json::to_string(&outcome)
            .map_err(|e| ApiError::Internal(format!("outcome cannot be written: {e}")))?;
        outcomes.push(OutcomeRow {
            device_id: &device,
            mutation_id: id,
            outcome: json,
            record_id: Some(mutation.record_id.to_string()),
            hlc: Some(mutation.hlc.to_i64()),
        });
        highest = highest.max(id);
        results.push(outcome);
    }
    batch.insert_new(conn)?;
    for chunk in outcomes.chunks(MAX_BINDS / OUTCOME_COLUMNS) {
        // Multi-row inserts are written per backend: diesel's connection
        // over both cannot build them.
        let insert = diesel::insert_into(mutation_outcomes::table).values(chunk);
        match conn {
            DbConnection::Postgresql(pg) => insert.execute(pg)?,
            DbConnection::Sqlite(lite) => insert.execute(lite)?,
        };
    }

    diesel::update(
        sync_devices::table
            .filter(sync_devices::device_id.eq(&device))
            .filter(sync_devices::owner_id.eq(owner)),
    )
    .set((
        sync_devices::last_mutation_id.eq(highest),
        sync_devices::last_seen_at.eq(now),
    ))
    .execute(conn)?;
    crate::review::raise_alerts(conn, owner)?;
    Ok(PushResponse {
        results,
        last_applied_mutation: applied_mutation(highest),
    })
}

/// The most values one statement binds: well below SQLite's limit (32,766)
/// and PostgreSQL's (65,535).
const MAX_BINDS: usize = 16_000;
/// Record ids per look-up.
const IDS_PER_LOOKUP: usize = 4_000;
/// Columns of a record row.
const RECORD_COLUMNS: usize = 16;
/// Columns of an outcome row.
const OUTCOME_COLUMNS: usize = 5;

/// A mutation's kept outcome, to insert.
#[derive(Insertable)]
#[diesel(table_name = mutation_outcomes, treat_none_as_default_value = false)]
struct OutcomeRow<'a> {
    device_id: &'a str,
    mutation_id: i64,
    outcome: String,
    record_id: Option<String>,
    hlc: Option<i64>,
}

/// What a push knows of the records it names, kept up to date as its
/// mutations are applied in order: the owner's rows (as found, then as
/// written), the ids taken by other patients' records, and the new records,
/// inserted all together at the end.
struct PushBatch<'a> {
    owner: &'a str,
    rows: HashMap<String, Known>,
    taken: HashSet<String>,
    new_rows: Vec<NewRow<'a>>,
}

/// A record of the owner's as the push has it so far.
struct Known {
    row: StoredRow,
    /// Its place in [`PushBatch::new_rows`] when the push creates it.
    new: Option<usize>,
}

impl<'a> PushBatch<'a> {
    /// Looks up every record the push names: the owner's rows, and which of
    /// the other ids are another patient's (their ids only).
    fn look_up(
        conn: &mut DbConnection,
        owner: &'a str,
        mut named: Vec<String>,
    ) -> Result<Self, ApiError> {
        named.sort_unstable();
        named.dedup();
        let mut rows = HashMap::with_capacity(named.len());
        for chunk in named.chunks(IDS_PER_LOOKUP) {
            let found: Vec<StoredRow> = records::table
                .filter(records::owner_id.eq(owner))
                .filter(records::id.eq_any(chunk))
                .select(StoredRow::as_select())
                .load(conn)?;
            rows.extend(
                found
                    .into_iter()
                    .map(|row| (row.id.clone(), Known { row, new: None })),
            );
        }
        let unknown: Vec<&String> = named.iter().filter(|id| !rows.contains_key(*id)).collect();
        let mut taken = HashSet::new();
        for chunk in unknown.chunks(IDS_PER_LOOKUP) {
            let others: Vec<String> = records::table
                .filter(records::owner_id.ne(owner))
                .filter(records::id.eq_any(chunk))
                .select(records::id)
                .load(conn)?;
            taken.extend(others);
        }
        Ok(Self {
            owner,
            rows,
            taken,
            new_rows: Vec::new(),
        })
    }

    /// Decides one new mutation and writes it (or queues its new record).
    /// Errors are the database's; everything wrong with the mutation itself
    /// is its outcome.
    fn apply(
        &mut self,
        conn: &mut DbConnection,
        device: DeviceId,
        mutation: &Mutation,
        op: IncomingOp,
        versions: &mut Versions,
    ) -> Result<MutationOutcome, ApiError> {
        let key = mutation.record_id.to_string();
        if self.taken.contains(&key) {
            return Ok(rejected(
                mutation,
                &ApiError::NotFound(NOT_FOUND.to_owned()),
            ));
        }
        let known = self.rows.get(&key);
        if let Some(known) = known
            && known.row.kind != mutation.kind.as_str()
        {
            let error = ApiError::Conflict(format!(
                "this record is a {}; a record's kind cannot change",
                known.row.kind
            ));
            return Ok(rejected(mutation, &error));
        }
        let stored = known.map(|k| k.row.to_stored()).transpose()?;
        let incoming = Incoming {
            stamp: Stamp {
                hlc: mutation.hlc,
                device,
            },
            base: mutation.base_hlc,
            op,
        };
        let resolution = resolve(stored.as_ref(), incoming);
        let target = WriteTarget {
            owner: self.owner,
            id: mutation.record_id,
            kind: mutation.kind,
            existing: known.map(|k| &k.row),
            created_at: mutation.created_at.timestamp_micros(),
            updated_at: mutation.updated_at.timestamp_micros(),
        };
        let (written, lost) = match &resolution {
            Resolution::Write {
                body,
                stamp,
                fields,
                lost,
                ..
            } => {
                let version = versions.take()?;
                let row = new_row(self.owner, &target, body.as_ref(), *stamp, fields, version)?;
                (Some(row), lost)
            }
            Resolution::Keep { lost, .. } => (None, lost),
        };
        if let Some(mut row) = written {
            match self.rows.get_mut(&key) {
                Some(known) => {
                    // Created before: it keeps its creation stamp.
                    row.created_hlc = known.row.created_hlc;
                    row.created_device = known.row.created_device.clone();
                    match known.new {
                        Some(index) => {
                            known.row = stored_of(&row);
                            if let Some(slot) = self.new_rows.get_mut(index) {
                                *slot = row;
                            }
                        }
                        None => {
                            update_row(conn, self.owner, mutation.record_id, &row)?;
                            known.row = stored_of(&row);
                        }
                    }
                }
                None => {
                    let known = Known {
                        row: stored_of(&row),
                        new: Some(self.new_rows.len()),
                    };
                    self.new_rows.push(row);
                    self.rows.insert(key, known);
                }
            }
        }
        if let Some(lost) = lost {
            let version = versions.take()?;
            insert_revision(
                conn,
                self.owner,
                mutation.record_id,
                mutation.kind,
                lost,
                version,
            )?;
        }
        Ok(MutationOutcome {
            mutation_id: mutation.mutation_id,
            status: OutcomeStatus::Applied,
            conflict: resolution_conflict(&resolution),
            problem: None,
        })
    }

    /// Inserts the push's new records, many rows per statement.
    fn insert_new(self, conn: &mut DbConnection) -> Result<(), PushError> {
        for chunk in self.new_rows.chunks(MAX_BINDS / RECORD_COLUMNS) {
            let insert = diesel::insert_into(records::table).values(chunk);
            let inserted = match conn {
                DbConnection::Postgresql(pg) => insert.execute(pg),
                DbConnection::Sqlite(lite) => insert.execute(lite),
            };
            match inserted {
                Ok(_) => {}
                Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                    return Err(PushError::IdTakenMeanwhile);
                }
                Err(other) => return Err(other.into()),
            }
        }
        Ok(())
    }
}

/// The stored row a written row becomes.
fn stored_of(row: &NewRow<'_>) -> StoredRow {
    StoredRow {
        id: row.id.clone(),
        kind: row.kind.to_owned(),
        created_at: row.created_at,
        updated_at: row.updated_at,
        occurred_at: row.occurred_at,
        hlc: row.hlc,
        deleted: row.deleted,
        body: row.body.clone(),
        origin_device: row.origin_device.clone(),
        created_hlc: row.created_hlc,
        created_device: row.created_device.clone(),
        field_stamps: row.field_stamps.clone(),
    }
}

/// The device's last applied mutation id, registering the device to the
/// owner on its first push. Refuses another patient's device.
fn register_device(
    conn: &mut DbConnection,
    owner: &str,
    device: &str,
    now: i64,
) -> Result<i64, ApiError> {
    if let Some(last) = device_of(conn, owner, device)? {
        return Ok(last);
    }
    // In a savepoint: when another account registered the id meanwhile,
    // only the insert is undone and the id is found to be theirs.
    let inserted = conn.transaction(|conn| {
        diesel::insert_into(sync_devices::table)
            .values((
                sync_devices::device_id.eq(device),
                sync_devices::owner_id.eq(owner),
                sync_devices::last_mutation_id.eq(0_i64),
                sync_devices::created_at.eq(now),
                sync_devices::last_seen_at.eq(now),
            ))
            .execute(conn)
    });
    match inserted {
        Ok(_) => Ok(0),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            device_of(conn, owner, device)?.ok_or_else(another_owners_device)
        }
        Err(other) => Err(other.into()),
    }
}

/// The last applied mutation id of the owner's device, `None` when the
/// device is unknown; another patient's device is refused.
fn device_of(conn: &mut DbConnection, owner: &str, device: &str) -> Result<Option<i64>, ApiError> {
    let found: Option<(String, i64)> = sync_devices::table
        .find(device)
        .select((sync_devices::owner_id, sync_devices::last_mutation_id))
        .get_result(conn)
        .optional()?;
    match found {
        Some((device_owner, _)) if device_owner != owner => Err(another_owners_device()),
        Some((_, last)) => Ok(Some(last)),
        None => Ok(None),
    }
}

/// What the mutation does, read and checked with journal-core's rules.
fn incoming_op(mutation: &Mutation) -> Result<IncomingOp, ApiError> {
    match mutation.op {
        ChangeOp::Delete => Ok(IncomingOp::Delete),
        ChangeOp::Upsert => {
            let Some(value) = mutation.body.clone() else {
                return Err(ApiError::BadRequest(
                    "an upsert needs the record's content in body".to_owned(),
                ));
            };
            let body = RecordBody::from_value(mutation.kind, value)
                .map_err(|e| ApiError::BadRequest(format!("invalid body: {e}")))?;
            body.validate()?;
            if let Some(fields) = &mutation.changed_fields {
                check_changed_fields(fields)?;
            }
            Ok(IncomingOp::Upsert {
                body,
                changed: mutation.changed_fields.clone(),
            })
        }
    }
}

fn check_changed_fields(fields: &[String]) -> Result<(), ApiError> {
    if fields.len() > MAX_CHANGED_FIELDS {
        return Err(ApiError::BadRequest(format!(
            "changedFields lists {} fields; at most {MAX_CHANGED_FIELDS}",
            fields.len()
        )));
    }
    if let Some(bad) = fields
        .iter()
        .find(|f| f.is_empty() || f.chars().count() > MAX_FIELD_NAME_CHARS)
    {
        return Err(ApiError::BadRequest(format!(
            "changedFields: {bad:?} is not a field name (1 to {MAX_FIELD_NAME_CHARS} characters)"
        )));
    }
    Ok(())
}

/// A rejected mutation's outcome, with the problem the REST API would have
/// answered.
fn rejected(mutation: &Mutation, error: &ApiError) -> MutationOutcome {
    let problem = error.problem();
    MutationOutcome {
        mutation_id: mutation.mutation_id,
        status: OutcomeStatus::Rejected,
        conflict: false,
        problem: Some(MutationProblem {
            problem_type: problem.problem_type,
            detail: problem.detail,
            errors: problem.errors,
        }),
    }
}

fn resolution_conflict(resolution: &Resolution) -> bool {
    match resolution {
        Resolution::Write { conflict, .. } | Resolution::Keep { conflict, .. } => *conflict,
    }
}

// ---------------------------------------------------------------------------
// Rows shared with the REST records API
// ---------------------------------------------------------------------------

/// Hands out the versions of one write transaction, in order.
#[derive(Debug)]
pub(crate) struct Versions {
    next: i64,
    remaining: i64,
}

impl Versions {
    /// The `size` versions ending at `top` (the counter's new value).
    pub(crate) fn block(top: i64, size: i64) -> Self {
        Self {
            next: top.saturating_sub(size).saturating_add(1),
            remaining: size,
        }
    }

    /// The next version of the block.
    fn take(&mut self) -> Result<i64, ApiError> {
        if self.remaining <= 0 {
            return Err(ApiError::Internal(
                "a write transaction ran out of versions".to_owned(),
            ));
        }
        let version = self.next;
        self.next = self.next.saturating_add(1);
        self.remaining -= 1;
        Ok(version)
    }
}

/// A record's row as the conflict rules need it, tombstones included.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = records)]
pub(crate) struct StoredRow {
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) occurred_at: i64,
    pub(crate) hlc: i64,
    pub(crate) deleted: bool,
    pub(crate) body: String,
    pub(crate) origin_device: String,
    pub(crate) created_hlc: Option<i64>,
    pub(crate) created_device: Option<String>,
    pub(crate) field_stamps: String,
}

impl StoredRow {
    fn corrupt(&self, what: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(format!("record {}: {what}", self.id))
    }

    /// The record's kind.
    pub(crate) fn record_kind(&self) -> Result<RecordKind, ApiError> {
        self.kind.parse().map_err(|e| self.corrupt(e))
    }

    /// The stamp of the current version.
    pub(crate) fn stamp(&self) -> Result<Stamp, ApiError> {
        Ok(Stamp {
            hlc: Hlc::from_i64(self.hlc).map_err(|e| self.corrupt(e))?,
            device: self
                .origin_device
                .parse()
                .map_err(|e| self.corrupt(format!("bad origin device: {e}")))?,
        })
    }

    /// The content, `None` for a tombstone.
    pub(crate) fn content(&self) -> Result<Option<RecordBody>, ApiError> {
        if self.deleted {
            return Ok(None);
        }
        let kind = self.record_kind()?;
        RecordBody::from_json(kind, &self.body)
            .map(Some)
            .map_err(|e| self.corrupt(format!("unreadable body: {e}")))
    }

    /// What [`resolve`] is given: created stamp and field stamps included
    /// (rows written before sync have neither: created is the current
    /// stamp).
    pub(crate) fn to_stored(&self) -> Result<Stored, ApiError> {
        let stamp = self.stamp()?;
        let created = match (self.created_hlc, &self.created_device) {
            (Some(hlc), Some(device)) => Stamp {
                hlc: Hlc::from_i64(hlc).map_err(|e| self.corrupt(e))?,
                device: device
                    .parse()
                    .map_err(|e| self.corrupt(format!("bad created device: {e}")))?,
            },
            _ => stamp,
        };
        let fields: FieldStamps = serde_json::from_str(&self.field_stamps)
            .map_err(|e| self.corrupt(format!("unreadable field stamps: {e}")))?;
        Ok(Stored {
            kind: self.record_kind()?,
            stamp,
            created,
            body: self.content()?,
            fields,
        })
    }
}

/// The owner's row of a record, tombstone or not.
pub(crate) fn load_stored(
    conn: &mut DbConnection,
    owner: &str,
    id: RecordId,
) -> Result<Option<StoredRow>, ApiError> {
    Ok(records::table
        .filter(records::id.eq(id.to_string()))
        .filter(records::owner_id.eq(owner))
        .select(StoredRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// Where a resolution is written.
pub(crate) struct WriteTarget<'a> {
    /// The owner.
    pub(crate) owner: &'a str,
    /// The record.
    pub(crate) id: RecordId,
    /// Its kind.
    pub(crate) kind: RecordKind,
    /// The owner's row of it, when there is one.
    pub(crate) existing: Option<&'a StoredRow>,
    /// When the record was created (used when inserting it).
    pub(crate) created_at: i64,
    /// When this change was made.
    pub(crate) updated_at: i64,
}

/// What became of a write.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Written {
    /// Written (or nothing to write).
    Done,
    /// The id is another owner's record; nothing was written.
    TakenByAnother,
}

/// A record row to insert: by a push here, by the REST API's create in
/// `records.rs`.
#[derive(Insertable)]
#[diesel(table_name = records, treat_none_as_default_value = false)]
pub(crate) struct NewRow<'a> {
    pub(crate) id: String,
    pub(crate) owner_id: &'a str,
    pub(crate) kind: &'static str,
    pub(crate) phase: Option<&'static str>,
    pub(crate) dosing_session_id: Option<String>,
    pub(crate) occurred_at: i64,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) hlc: i64,
    pub(crate) deleted: bool,
    pub(crate) body: String,
    pub(crate) version: i64,
    pub(crate) origin_device: String,
    pub(crate) created_hlc: Option<i64>,
    pub(crate) created_device: Option<String>,
    pub(crate) field_stamps: String,
}

/// Writes what [`resolve`] decided: the record's new version and the
/// revision of lost text, each with the next version of the block.
pub(crate) fn write_resolution(
    conn: &mut DbConnection,
    target: &WriteTarget<'_>,
    resolution: &Resolution,
    versions: &mut Versions,
) -> Result<Written, ApiError> {
    let lost = match resolution {
        Resolution::Write {
            body,
            stamp,
            fields,
            lost,
            ..
        } => {
            let version = versions.take()?;
            if write_row(conn, target, body.as_ref(), *stamp, fields, version)?
                == Written::TakenByAnother
            {
                return Ok(Written::TakenByAnother);
            }
            lost
        }
        Resolution::Keep { lost, .. } => lost,
    };
    if let Some(lost) = lost {
        let version = versions.take()?;
        insert_revision(conn, target.owner, target.id, target.kind, lost, version)?;
    }
    Ok(Written::Done)
}

fn write_row(
    conn: &mut DbConnection,
    target: &WriteTarget<'_>,
    body: Option<&RecordBody>,
    stamp: Stamp,
    fields: &FieldStamps,
    version: i64,
) -> Result<Written, ApiError> {
    let row = new_row(target.owner, target, body, stamp, fields, version)?;
    if target.existing.is_some() {
        update_row(conn, target.owner, target.id, &row)?;
        return Ok(Written::Done);
    }
    // In a savepoint: an id taken by another owner's record fails the
    // insert alone, and that record stays as it was.
    let inserted = conn.transaction(|conn| {
        diesel::insert_into(records::table)
            .values(&row)
            .execute(conn)
    });
    match inserted {
        Ok(_) => Ok(Written::Done),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            Ok(Written::TakenByAnother)
        }
        Err(other) => Err(other.into()),
    }
}

/// The record's row once `body` (`None`: a tombstone) is written with
/// `stamp`, as a new record would be inserted; a record already stored
/// keeps when it was created.
fn new_row<'o>(
    owner: &'o str,
    target: &WriteTarget<'_>,
    body: Option<&RecordBody>,
    stamp: Stamp,
    fields: &FieldStamps,
    version: i64,
) -> Result<NewRow<'o>, ApiError> {
    let content = match body {
        Some(body) => body_json(body)?,
        None => "{}".to_owned(),
    };
    let phase = body.and_then(RecordBody::phase).map(Phase::as_str);
    let session = body
        .and_then(|b| b.dosing_session_id(target.id))
        .map(|s| s.to_string());
    let field_stamps = serde_json::to_string(fields)
        .map_err(|e| ApiError::Internal(format!("field stamps cannot be written: {e}")))?;
    let created_at = target.existing.map_or(target.created_at, |r| r.created_at);
    // A tombstone keeps the moment it was about, so it sorts where it was.
    let occurred_at = match body {
        Some(body) => body
            .occurred_at()
            .map_or(created_at, |at| at.timestamp_micros()),
        None => target.existing.map_or(created_at, |r| r.occurred_at),
    };
    Ok(NewRow {
        id: target.id.to_string(),
        owner_id: owner,
        kind: target.kind.as_str(),
        phase,
        dosing_session_id: session,
        occurred_at,
        created_at,
        updated_at: target.updated_at,
        hlc: stamp.hlc.to_i64(),
        deleted: body.is_none(),
        body: content,
        version,
        origin_device: stamp.device.to_string(),
        created_hlc: Some(stamp.hlc.to_i64()),
        created_device: Some(stamp.device.to_string()),
        field_stamps,
    })
}

/// Writes a new version over the owner's stored record (its creation
/// stamp and kind stay).
fn update_row(
    conn: &mut DbConnection,
    owner: &str,
    id: RecordId,
    row: &NewRow<'_>,
) -> Result<(), ApiError> {
    let updated = diesel::update(
        records::table
            .filter(records::id.eq(id.to_string()))
            .filter(records::owner_id.eq(owner)),
    )
    .set((
        records::deleted.eq(row.deleted),
        records::body.eq(&row.body),
        records::phase.eq(row.phase),
        records::dosing_session_id.eq(&row.dosing_session_id),
        records::occurred_at.eq(row.occurred_at),
        records::updated_at.eq(row.updated_at),
        records::hlc.eq(row.hlc),
        records::origin_device.eq(&row.origin_device),
        records::field_stamps.eq(&row.field_stamps),
        records::version.eq(row.version),
    ))
    .execute(conn)?;
    if updated != 1 {
        return Err(ApiError::Internal(format!(
            "updating record {id} changed {updated} rows"
        )));
    }
    Ok(())
}

fn insert_revision(
    conn: &mut DbConnection,
    owner: &str,
    id: RecordId,
    kind: RecordKind,
    lost: &LostText,
    version: i64,
) -> Result<(), ApiError> {
    diesel::insert_into(record_revisions::table)
        .values((
            record_revisions::id.eq(uuid::Uuid::now_v7().to_string()),
            record_revisions::owner_id.eq(owner),
            record_revisions::record_id.eq(id.to_string()),
            record_revisions::kind.eq(kind.as_str()),
            record_revisions::hlc.eq(lost.stamp.hlc.to_i64()),
            record_revisions::origin_device.eq(lost.stamp.device.to_string()),
            record_revisions::reason.eq(reason_name(lost.reason)),
            record_revisions::body.eq(body_json(&lost.body)?),
            record_revisions::created_at.eq(now_micros()),
            record_revisions::version.eq(version),
        ))
        .execute(conn)?;
    Ok(())
}

fn reason_name(reason: RevisionReason) -> &'static str {
    match reason {
        RevisionReason::Conflict => "conflict",
        RevisionReason::Deleted => "deleted",
    }
}

fn parse_reason(text: &str) -> Option<RevisionReason> {
    match text {
        "conflict" => Some(RevisionReason::Conflict),
        "deleted" => Some(RevisionReason::Deleted),
        _ => None,
    }
}

fn body_json(body: &RecordBody) -> Result<String, ApiError> {
    body.to_json()
        .map_err(|e| ApiError::Internal(format!("content cannot be written as JSON: {e}")))
}

fn micros_to_time(micros: i64) -> Result<DateTime<Utc>, ApiError> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| ApiError::Internal(format!("timestamp {micros} is out of range")))
}

// ---------------------------------------------------------------------------
// Pull
// ---------------------------------------------------------------------------

/// The cursor and page of `GET /sync/pull`. Unknown parameters are refused.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PullParams {
    /// The `cursor` of the previous pull; 0 (the default) for everything.
    #[param(minimum = 0)]
    pub since: Option<u64>,
    /// Page size, 1–1000; 500 when absent.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The asking device, to learn its last applied mutation.
    #[param(value_type = Option<DeviceId>)]
    pub device_id: Option<DeviceId>,
}

/// Pulls the signed-in patient's changes after a cursor: their records as
/// the server now holds them (tombstones included, without content), the
/// revisions of text that lost a conflict, and therapists' comments on
/// their records (new, edited or deleted — a deleted one comes with
/// `deleted: true` and no text), in version order.
///
/// Pass `cursor` as `since` next time; keep pulling while `hasMore`. With
/// `deviceId`, the answer says the last mutation of that device the server
/// has dealt with, so the device can drop changes whose push answer was
/// lost.
#[utoipa::path(get, path = "/api/v1/sync/pull", tag = "sync",
    params(PullParams),
    responses(
        (status = 200, description = "One page of changes", body = PullResponse),
        (status = 400, description = "Unreadable parameters: not a number, not a UUID, an unknown parameter",
            body = crate::error::Problem, content_type = "application/problem+json"),
        crate::error::documented::NotSignedIn,
        (status = 403, description = "Not a patient, or the device is another patient's",
            body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A limit outside 1–1000, or a cursor past any version",
            body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn pull(
    state: web::Data<AppState>,
    user: AuthUser,
    params: web::Query<PullParams>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let (since, limit) = check_pull(&params)?;
    let device = params.device_id;
    let page = state
        .db
        .run(move |conn| pull_page(conn, user, since, limit, device))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

fn check_pull(params: &PullParams) -> Result<(i64, u32), ApiError> {
    let mut invalid = Vec::new();
    let since = i64::try_from(params.since.unwrap_or(0)).unwrap_or_else(|_| {
        invalid.push(violation(
            "since",
            "range",
            &format!("must be between 0 and {}", i64::MAX),
        ));
        0
    });
    let limit = params.limit.unwrap_or(DEFAULT_PULL_LIMIT);
    if !(1..=MAX_PULL_LIMIT).contains(&limit) {
        invalid.push(violation(
            "limit",
            "range",
            &format!("must be between 1 and {MAX_PULL_LIMIT}"),
        ));
    }
    if invalid.is_empty() {
        Ok((since, limit))
    } else {
        Err(InvalidInput {
            violations: invalid,
        }
        .into())
    }
}

/// A record's row as pull (and the export) sends it.
#[derive(Queryable, Selectable)]
#[diesel(table_name = records)]
pub(crate) struct PulledRow {
    id: String,
    kind: String,
    created_at: i64,
    updated_at: i64,
    hlc: i64,
    deleted: bool,
    body: String,
    version: i64,
}

impl PulledRow {
    fn into_change(self) -> Result<PulledChange, ApiError> {
        Ok(PulledChange::Record {
            version: owner_version(self.version)?,
            record: self.into_state()?,
        })
    }

    /// The record as the server holds it.
    pub(crate) fn into_state(self) -> Result<RecordState, ApiError> {
        let corrupt = |what: String| ApiError::Internal(format!("record {}: {what}", self.id));
        let body = if self.deleted {
            None
        } else {
            Some(
                serde_json::from_str(&self.body)
                    .map_err(|e| corrupt(format!("unreadable body: {e}")))?,
            )
        };
        Ok(RecordState {
            id: self
                .id
                .parse()
                .map_err(|e| corrupt(format!("bad id: {e}")))?,
            kind: self
                .kind
                .parse()
                .map_err(|e: journal_core::records::UnknownKind| corrupt(e.to_string()))?,
            created_at: micros_to_time(self.created_at)?,
            updated_at: micros_to_time(self.updated_at)?,
            hlc: Hlc::from_i64(self.hlc).map_err(|e| corrupt(e.to_string()))?,
            deleted: self.deleted,
            body,
        })
    }
}

/// A revision's row.
#[derive(Queryable, Selectable)]
#[diesel(table_name = record_revisions)]
pub(crate) struct RevisionRow {
    id: String,
    record_id: String,
    kind: String,
    hlc: i64,
    reason: String,
    body: String,
    created_at: i64,
    version: i64,
}

impl RevisionRow {
    /// The revision as pull and the export send it.
    pub(crate) fn into_revision(self) -> Result<Revision, ApiError> {
        let corrupt = |what: String| ApiError::Internal(format!("revision {}: {what}", self.id));
        Ok(Revision {
            id: self
                .id
                .parse()
                .map_err(|e| corrupt(format!("bad id: {e}")))?,
            record_id: self
                .record_id
                .parse()
                .map_err(|e| corrupt(format!("bad record id: {e}")))?,
            kind: self
                .kind
                .parse()
                .map_err(|e: journal_core::records::UnknownKind| corrupt(e.to_string()))?,
            hlc: Hlc::from_i64(self.hlc).map_err(|e| corrupt(e.to_string()))?,
            reason: parse_reason(&self.reason)
                .ok_or_else(|| corrupt(format!("unknown reason {:?}", self.reason)))?,
            body: serde_json::from_str(&self.body)
                .map_err(|e| corrupt(format!("unreadable body: {e}")))?,
            created_at: micros_to_time(self.created_at)?,
        })
    }

    fn into_change(self) -> Result<PulledChange, ApiError> {
        let version = owner_version(self.version)?;
        Ok(PulledChange::Revision {
            version,
            revision: self.into_revision()?,
        })
    }
}

fn owner_version(version: i64) -> Result<OwnerVersion, ApiError> {
    u64::try_from(version)
        .map(OwnerVersion)
        .map_err(|_| ApiError::Internal(format!("negative version {version}")))
}

/// One page of the owner's changes after `since`.
fn pull_page(
    conn: &mut DbConnection,
    user: AuthUser,
    since: i64,
    limit: u32,
    device: Option<DeviceId>,
) -> Result<PullResponse, ApiError> {
    // The account middleware (auth::refuse_gone_accounts) leaves this
    // route to check the account here, in the same database call: a token
    // that outlived its account, or names a role the account does not
    // have, gets the 401 it gets everywhere; a therapist gets 403.
    let owner = user.id.to_string();
    let owner = owner.as_str();
    let role: Option<String> = users::table
        .find(owner)
        .select(users::role)
        .get_result(conn)
        .optional()?;
    if role.as_deref() != Some(user.role.as_str()) {
        return Err(ApiError::Unauthorized(
            "the account no longer exists; sign in again".to_owned(),
        ));
    }
    user.require_patient()?;
    // The common case, a device that is up to date, is answered without a
    // transaction: one statement says whether anything lies after the
    // cursor (and, unlike the page's queries, binds no LIMIT, which SQLite
    // would plan anew on every call). The device's last applied mutation
    // is read first: a push that moved it had committed, so its changes
    // are seen, and the device is never told its changes were dealt with
    // by a page that says nothing newer exists.
    let last_applied = match device {
        Some(device) => device_of(conn, owner, &device.to_string())?.unwrap_or(0),
        None => 0,
    };
    let newer: bool = diesel::select(
        exists(
            records::table
                .filter(records::owner_id.eq(owner))
                .filter(records::version.gt(since)),
        )
        .or(exists(
            record_revisions::table
                .filter(record_revisions::owner_id.eq(owner))
                .filter(record_revisions::version.gt(since)),
        ))
        .or(exists(
            comments::table
                .filter(comments::owner_id.eq(owner))
                .filter(comments::version.gt(since)),
        )),
    )
    .get_result(conn)?;
    if !newer {
        return Ok(PullResponse {
            changes: Vec::new(),
            cursor: OwnerVersion(u64::try_from(since).unwrap_or(0)),
            has_more: false,
            last_applied_mutation: applied_mutation(last_applied),
        });
    }
    conn.transaction(|conn| {
        // Records, revisions and comments are read in separate statements:
        // one snapshot for all, or a write committing between them could
        // put a change on this page above a version the page missed, and
        // the cursor would pass that change for good. (SQLite's read
        // transaction is a snapshot already.)
        if matches!(conn, DbConnection::Postgresql(_)) {
            conn.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        }
        let last_applied = match device {
            Some(device) => device_of(conn, owner, &device.to_string())?.unwrap_or(0),
            None => 0,
        };
        // Each kind of change is read up to one past the page: the page's
        // changes are the first `limit` of the three merged, and no change
        // among them can lie beyond its own kind's first `limit + 1`.
        let fetch = i64::from(limit) + 1;
        let rows: Vec<PulledRow> = records::table
            .filter(records::owner_id.eq(owner))
            .filter(records::version.gt(since))
            .order(records::version.asc())
            .limit(fetch)
            .select(PulledRow::as_select())
            .load(conn)?;
        let revisions: Vec<RevisionRow> = record_revisions::table
            .filter(record_revisions::owner_id.eq(owner))
            .filter(record_revisions::version.gt(since))
            .order(record_revisions::version.asc())
            .limit(fetch)
            .select(RevisionRow::as_select())
            .load(conn)?;
        let comment_rows: Vec<CommentRow> = comments::table
            .filter(comments::owner_id.eq(owner))
            .filter(comments::version.gt(since))
            .order(comments::version.asc())
            .limit(fetch)
            .select(CommentRow::as_select())
            .load(conn)?;

        let limit = limit as usize;
        let mut pending: Vec<Pending> = rows
            .into_iter()
            .map(Pending::Record)
            .chain(revisions.into_iter().map(Pending::Revision))
            .chain(comment_rows.into_iter().map(Pending::Comment))
            .collect();
        // Every version of an owner is drawn once, by one row of one table.
        pending.sort_by_key(Pending::version);
        let has_more = pending.len() > limit;
        pending.truncate(limit);
        let page_comments: Vec<CommentRow> = pending
            .iter()
            .filter_map(|p| match p {
                Pending::Comment(row) => Some(row.clone()),
                _ => None,
            })
            .collect();
        let mut authored = with_authors(conn, &page_comments)?.into_iter();
        let changes = pending
            .into_iter()
            .map(|p| match p {
                Pending::Record(row) => row.into_change(),
                Pending::Revision(row) => row.into_change(),
                Pending::Comment(row) => {
                    let comment = authored.next().ok_or_else(|| {
                        ApiError::Internal(format!("comment {} lost its author", row.id))
                    })?;
                    Ok(PulledChange::Comment {
                        version: owner_version(row.version)?,
                        comment,
                    })
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let cursor = changes
            .last()
            .map(PulledChange::version)
            .unwrap_or(OwnerVersion(u64::try_from(since).unwrap_or(0)));
        Ok(PullResponse {
            changes,
            cursor,
            has_more,
            last_applied_mutation: applied_mutation(last_applied),
        })
    })
}

/// A row read for a pull page, before it is sent.
enum Pending {
    Record(PulledRow),
    Revision(RevisionRow),
    Comment(CommentRow),
}

impl Pending {
    fn version(&self) -> i64 {
        match self {
            Pending::Record(row) => row.version,
            Pending::Revision(row) => row.version,
            Pending::Comment(row) => row.version,
        }
    }
}

// ---------------------------------------------------------------------------
// Revisions of one record
// ---------------------------------------------------------------------------

/// Lists the revisions kept of one of the signed-in patient's records (text
/// that lost a conflict or to a delete), newest first. A deleted record's
/// revisions are listed too.
#[utoipa::path(get, path = "/api/v1/records/{id}/revisions", tag = "records",
    params(("id" = RecordId, Path, description = "The record's id")),
    responses(
        (status = 200, description = "The record's revisions, newest first", body = Vec<Revision>),
        crate::error::documented::NotSignedIn,
        crate::error::documented::NotAPatient,
        (status = 404, description = "No such record of yours",
            body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_revisions(
    state: web::Data<AppState>,
    patient: Patient,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::NotFound(NOT_FOUND.to_owned());
    let id: RecordId = id.parse().map_err(|_| not_found())?;
    let owner = patient.owner();
    let revisions = state
        .db
        .run(move |conn| -> Result<Option<Vec<Revision>>, ApiError> {
            conn.transaction(|conn| {
                let known: i64 = records::table
                    .filter(records::id.eq(id.to_string()))
                    .filter(records::owner_id.eq(&owner))
                    .count()
                    .get_result(conn)?;
                if known == 0 {
                    return Ok(None);
                }
                let rows: Vec<RevisionRow> = record_revisions::table
                    .filter(record_revisions::owner_id.eq(&owner))
                    .filter(record_revisions::record_id.eq(id.to_string()))
                    .order(record_revisions::version.desc())
                    .select(RevisionRow::as_select())
                    .load(conn)?;
                rows.into_iter()
                    .map(RevisionRow::into_revision)
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some)
            })
        })
        .await?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(revisions))
}

/// The sync API's part of the OpenAPI document: push, pull, a record's
/// revisions, and journal-core's wire types.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(push, pull, list_revisions),
    components(schemas(
        journal_core::sync::PushRequest,
        journal_core::sync::Mutation,
        journal_core::sync::ChangeOp,
        journal_core::sync::PushResponse,
        journal_core::sync::MutationOutcome,
        journal_core::sync::OutcomeStatus,
        journal_core::sync::MutationProblem,
        journal_core::sync::PullResponse,
        journal_core::sync::PulledChange,
        journal_core::sync::RecordState,
        journal_core::sync::Revision,
        journal_core::sync::RevisionReason,
        journal_core::sync::OwnerVersion,
        journal_core::comments::Comment,
        journal_core::ids::DeviceId,
        journal_core::ids::MutationId,
        journal_core::ids::RecordId,
        journal_core::hlc::Hlc,
        journal_core::records::RecordKind,
        journal_core::validation::FieldViolation,
        crate::error::Problem
    )),
    tags((name = "sync", description = "A patient's devices push their changes and pull everyone else's"))
)]
pub struct SyncApi;

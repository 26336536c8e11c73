//! A push, incoming: a device's local changes applied in one transaction.
//!
//! - Its first write bumps the owner's version counter by a block (two
//!   versions per mutation: a record and a revision at most), which also
//!   takes the owner's lock before anything is read; every row it writes
//!   is stamped from that block, in order. Versions therefore follow
//!   commit order.
//! - Each device numbers its mutations; the last one dealt with and the
//!   outcome each got are kept ([`super::devices`]), so a replayed
//!   mutation is answered as the first time and changes nothing. A push
//!   that only replays writes nothing at all.
//! - A mutation is rejected on its own (unreadable, invalid, another
//!   patient's record, another kind) and never holds up the ones behind it.
//! - Conflicts are decided by journal-core's `resolve`, the very function
//!   the phone calls; what it decided is written by [`super::write`].
//! - Statements are few whatever the push's length: one look-up of all the
//!   records it names, one multi-row insert of the new records and one of
//!   the outcomes; only changes to records already stored (and revisions)
//!   are written one by one.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use journal_core::ids::DeviceId;
use journal_core::records::check_share_edit;
use journal_core::sync::{
    ChangeOp, Incoming, IncomingOp, Mutation, MutationOutcome, MutationProblem, OutcomeStatus,
    PushRequest, PushResponse, Resolution, Stamp, resolve,
};

use super::devices::{
    IDS_PER_LOOKUP, OutcomeRow, another_owners_device, applied_mutation, register_device,
    replayed_outcome, stored_outcomes,
};
use super::write::{WriteTarget, insert_revision, is_taken, resolved_row, update_row};
use crate::store::records::NOT_FOUND;
use crate::store::rows::{NewRow, StoredRow};
use crate::store::schema::{mutation_outcomes, records, sync_devices};
use crate::store::time::now_micros;
use crate::store::versions::{Versions, bump_version_by};
use crate::store::{DbConnection, StoreError, alerts};

/// Turns why a mutation is rejected into the problem its outcome carries.
pub type Describe<'a> = &'a (dyn Fn(&StoreError) -> MutationProblem + Sync);

/// Versions a push reserves per mutation: one for the record it writes and
/// one for the revision it may keep.
const VERSIONS_PER_MUTATION: i64 = 2;

/// The most fields one mutation may list as changed: far more than any
/// kind has, few enough that no device can bloat a record's field stamps.
const MAX_CHANGED_FIELDS: usize = 32;

/// The longest field name a mutation may list as changed.
const MAX_FIELD_NAME_CHARS: usize = 64;

/// How many times a push's transaction is tried when a record id it
/// inserts is taken meanwhile by another patient's record.
const PUSH_ATTEMPTS: u32 = 3;

/// Applies a push whose request as a whole was checked: `ids` are its
/// mutation ids as stored (rising, at least 1). `describe` turns why a
/// mutation is rejected into the problem its outcome carries (the API's
/// problem vocabulary, which the store does not know).
pub fn push(
    conn: &mut DbConnection,
    owner: &str,
    request: &PushRequest,
    ids: &[i64],
    describe: Describe<'_>,
) -> Result<PushResponse, StoreError> {
    // A push that only replays is answered from what is stored, writing
    // nothing: the last applied id only ever rises, so what it answers
    // cannot go stale.
    let replayed = conn.transaction(|conn| replay_only(conn, owner, request, ids))?;
    if let Some(response) = replayed {
        return Ok(response);
    }
    let mut attempt = 1;
    loop {
        match conn.transaction(|conn| apply_push(conn, owner, request, ids, describe)) {
            Ok(response) => return Ok(response),
            Err(PushError::Failed(error)) => return Err(error),
            // Tried again from the start, the look-up finds the record that
            // took the id, and that mutation alone is rejected.
            Err(PushError::IdTakenMeanwhile) if attempt < PUSH_ATTEMPTS => attempt += 1,
            Err(PushError::IdTakenMeanwhile) => {
                return Err(StoreError::Conflict(
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
    Failed(StoreError),
    /// A record id the push inserts was taken by another patient's record
    /// after the push looked it up (only possible on PostgreSQL, where
    /// writers of different patients run side by side): nothing was
    /// written, and the transaction is tried again.
    IdTakenMeanwhile,
}

impl From<StoreError> for PushError {
    fn from(error: StoreError) -> Self {
        PushError::Failed(error)
    }
}

impl From<DieselError> for PushError {
    fn from(error: DieselError) -> Self {
        PushError::Failed(error.into())
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
) -> Result<Option<PushResponse>, StoreError> {
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
    describe: Describe<'_>,
) -> Result<PushResponse, PushError> {
    let now = now_micros();
    // First write: the version block, which also takes the owner's lock.
    let count = i64::try_from(request.mutations.len())
        .map_err(|_| StoreError::Internal("push too long".to_owned()))?;
    let block = count.saturating_mul(VERSIONS_PER_MUTATION);
    let top = bump_version_by(conn, owner, block)?;
    let mut versions = Versions::block(top, block);
    let device = request.device_id.to_string();
    let last = register_device(conn, owner, &device, now)?;

    let replays: Vec<i64> = ids.iter().copied().filter(|&id| id <= last).collect();
    let earlier = stored_outcomes(conn, &device, &replays)?;
    // Read and checked before the look-up, so that it asks only for the
    // records that may be written.
    let ops: Vec<Option<Result<IncomingOp, StoreError>>> = request
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
            Ok(op) => batch.apply(
                conn,
                request.device_id,
                mutation,
                op,
                &mut versions,
                describe,
            )?,
            Err(error) => rejected(mutation, &error, describe),
        };
        let json = serde_json::to_string(&outcome)
            .map_err(|e| StoreError::Internal(format!("outcome cannot be written: {e}")))?;
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
        conn.execute_native(diesel::insert_into(mutation_outcomes::table).values(chunk))?;
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
    alerts::raise(conn, owner)?;
    Ok(PushResponse {
        results,
        last_applied_mutation: applied_mutation(highest),
    })
}

/// The most values one statement binds: well below SQLite's limit (32,766)
/// and PostgreSQL's (65,535).
const MAX_BINDS: usize = 16_000;
/// Columns of a record row.
const RECORD_COLUMNS: usize = 16;
/// Columns of an outcome row.
const OUTCOME_COLUMNS: usize = 5;

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

/// The records whose id is one of `ids`, whoever's they are: looked up by
/// primary key (see [`PushBatch::look_up`]).
fn records_named(
    ids: &[String],
) -> diesel::dsl::Filter<records::table, diesel::dsl::EqAny<records::id, &[String]>> {
    records::table.filter(records::id.eq_any(ids))
}

impl<'a> PushBatch<'a> {
    /// Looks up every record the push names: the owner's rows, and which of
    /// the other ids are another patient's (their ids only).
    ///
    /// By id alone, then split by owner: with the owner in the filter too,
    /// SQLite would rather walk an `owner_id` index through every record
    /// the patient has (bodies included) than look up a list of ids, and a
    /// push would grow slower with each entry the patient keeps.
    /// A test below (`the_push_looks_records_up_by_id`) checks the plan.
    fn look_up(
        conn: &mut DbConnection,
        owner: &'a str,
        mut named: Vec<String>,
    ) -> Result<Self, StoreError> {
        named.sort_unstable();
        named.dedup();
        let mut rows = HashMap::with_capacity(named.len());
        let mut taken = HashSet::new();
        for chunk in named.chunks(IDS_PER_LOOKUP) {
            let found: Vec<(String, StoredRow)> = records_named(chunk)
                .select((records::owner_id, StoredRow::as_select()))
                .load(conn)?;
            for (row_owner, row) in found {
                if row_owner == owner {
                    rows.insert(row.id.clone(), Known { row, new: None });
                } else {
                    taken.insert(row.id);
                }
            }
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
        describe: Describe<'_>,
    ) -> Result<MutationOutcome, StoreError> {
        let key = mutation.record_id.to_string();
        if self.taken.contains(&key) {
            return Ok(rejected(
                mutation,
                &StoreError::NotFound(NOT_FOUND.to_owned()),
                describe,
            ));
        }
        let known = self.rows.get(&key);
        // Deleting what was never here (its create was refused, or the id
        // is made up) deletes nothing: said so, and no tombstone is made
        // up for it.
        if known.is_none() && matches!(op, IncomingOp::Delete) {
            return Ok(rejected(
                mutation,
                &StoreError::NotFound(format!("{NOT_FOUND}: nothing to delete")),
                describe,
            ));
        }
        if let Some(known) = known
            && known.row.kind != mutation.kind.as_str()
        {
            let error = StoreError::Conflict(format!(
                "this record is a {}; a record's kind cannot change",
                known.row.kind
            ));
            return Ok(rejected(mutation, &error, describe));
        }
        let stored = known.map(|k| k.row.to_stored()).transpose()?;
        // Made on the revoked version itself (not racing the revocation,
        // which the conflict rules settle): granting or changing a revoked
        // share again is refused, as through the REST API.
        if let (Some(stored), IncomingOp::Upsert { body, .. }) = (&stored, &op)
            && let Some(current) = &stored.body
            && mutation
                .base_hlc
                .is_some_and(|base| base >= stored.stamp.hlc)
            && let Err(refused) = check_share_edit(current, body)
        {
            let error = StoreError::Conflict(refused.to_string());
            return Ok(rejected(mutation, &error, describe));
        }
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
                let row =
                    resolved_row(self.owner, &target, body.as_ref(), *stamp, fields, version)?;
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
                            known.row = row.to_stored_row();
                            if let Some(slot) = self.new_rows.get_mut(index) {
                                *slot = row;
                            }
                        }
                        None => {
                            update_row(conn, self.owner, mutation.record_id, &row)?;
                            known.row = row.to_stored_row();
                        }
                    }
                }
                None => {
                    let known = Known {
                        row: row.to_stored_row(),
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
            match conn.execute_native(diesel::insert_into(records::table).values(chunk)) {
                Ok(_) => {}
                Err(error) if is_taken(&error) => return Err(PushError::IdTakenMeanwhile),
                Err(other) => return Err(other.into()),
            }
        }
        Ok(())
    }
}

/// What the mutation does, read and checked with journal-core's rules.
fn incoming_op(mutation: &Mutation) -> Result<IncomingOp, StoreError> {
    match mutation.op {
        ChangeOp::Delete => Ok(IncomingOp::Delete),
        ChangeOp::Upsert => {
            let Some(value) = &mutation.body else {
                return Err(StoreError::Unreadable(
                    "an upsert needs the record's content in body".to_owned(),
                ));
            };
            let body = value
                .read_as(mutation.kind)
                .map_err(|e| StoreError::Unreadable(format!("invalid body: {e}")))?;
            body.validate()?;
            body.check_plausible(chrono::Utc::now())?;
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

fn check_changed_fields(fields: &[String]) -> Result<(), StoreError> {
    if fields.len() > MAX_CHANGED_FIELDS {
        return Err(StoreError::Unreadable(format!(
            "changedFields lists {} fields; at most {MAX_CHANGED_FIELDS}",
            fields.len()
        )));
    }
    if let Some(bad) = fields
        .iter()
        .find(|f| f.is_empty() || f.chars().count() > MAX_FIELD_NAME_CHARS)
    {
        return Err(StoreError::Unreadable(format!(
            "changedFields: {bad:?} is not a field name (1 to {MAX_FIELD_NAME_CHARS} characters)"
        )));
    }
    Ok(())
}

/// A rejected mutation's outcome, with the problem the REST API would have
/// answered.
fn rejected(mutation: &Mutation, error: &StoreError, describe: Describe<'_>) -> MutationOutcome {
    MutationOutcome {
        mutation_id: mutation.mutation_id,
        status: OutcomeStatus::Rejected,
        conflict: false,
        problem: Some(describe(error)),
    }
}

fn resolution_conflict(resolution: &Resolution) -> bool {
    match resolution {
        Resolution::Write { conflict, .. } | Resolution::Keep { conflict, .. } => *conflict,
    }
}

#[cfg(test)]
mod tests {
    use diesel::sqlite::Sqlite;

    use super::*;
    use crate::store::Database;

    /// The push's look-up goes by primary key, never through an index on
    /// the owner (which would read every record the patient has): the plan
    /// SQLite chooses, read with `EXPLAIN QUERY PLAN`.
    #[test]
    fn the_push_looks_records_up_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("plan.db").display());
        let database = Database::open(&url, 1).unwrap();
        database.migrate().unwrap();
        let ids: Vec<String> = (0..500).map(|n| format!("id-{n}")).collect();
        let query = records_named(&ids).select((records::owner_id, StoredRow::as_select()));
        let sql = diesel::debug_query::<Sqlite, _>(&query).to_string();
        let sql = sql.split(" -- binds").next().unwrap();
        #[derive(QueryableByName)]
        struct Step {
            #[diesel(sql_type = diesel::sql_types::Text)]
            detail: String,
        }
        let mut conn = database.get().unwrap();
        let DbConnection::Sqlite(conn) = &mut *conn else {
            panic!("not SQLite");
        };
        let plan: Vec<Step> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
            .load(conn)
            .unwrap();
        let plan: Vec<&str> = plan.iter().map(|s| s.detail.as_str()).collect();
        assert_eq!(
            plan,
            ["SEARCH records USING INDEX sqlite_autoindex_records_1 (id=?)"],
            "{sql}"
        );
    }
}

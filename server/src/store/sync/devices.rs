//! The devices of a patient that push: which patient each belongs to, the
//! last mutation each had dealt with, and the outcome each recent mutation
//! got, so a replay is answered as the first time and a device whose
//! numbering went back is told so.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use journal_core::ids::MutationId;
use journal_core::sync::{Mutation, MutationOutcome, OutcomeStatus};

use crate::store::schema::{mutation_outcomes, sync_devices};
use crate::store::{DbConnection, StoreError};

/// Record ids (or mutation ids) per look-up.
pub(crate) const IDS_PER_LOOKUP: usize = 4_000;

pub(crate) fn another_owners_device() -> StoreError {
    StoreError::NotAllowed("this device id belongs to another account".to_owned())
}

/// The highest mutation dealt with, as the wire says it (`None` before the
/// first).
pub(crate) fn applied_mutation(last: i64) -> Option<MutationId> {
    u64::try_from(last).ok().filter(|&m| m > 0).map(MutationId)
}

/// The outcome a replayed mutation got the first time (`applied` when none
/// was kept: pushed before outcomes were kept for good).
///
/// A "replay" of a different change under a number already used means the
/// device's numbering went back — a phone restored from a backup. Taking it
/// for a replay would drop the change silently; the whole push is refused
/// instead, and the device takes a new id and pushes again.
pub(crate) fn replayed_outcome(
    device: &str,
    mutation: &Mutation,
    id: i64,
    stored: Option<&StoredOutcome>,
) -> Result<MutationOutcome, StoreError> {
    let mutation_id = mutation.mutation_id;
    if let Some((_, Some(record_id), Some(hlc))) = stored
        && (*record_id != mutation.record_id.to_string() || *hlc != mutation.hlc.to_i64())
    {
        return Err(StoreError::DeviceRewound(format!(
            "mutation {mutation_id} of this device was already used for another change; \
             the device's numbering went back (restored from a backup?): \
             take a new device id and push again"
        )));
    }
    match stored.map(|(json, _, _)| json) {
        Some(json) => serde_json::from_str(json).map_err(|e| {
            StoreError::Internal(format!(
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
pub(crate) type StoredOutcome = (String, Option<String>, Option<i64>);

/// The kept outcomes of the device's mutations `ids`, by mutation id, in
/// one query per chunk of ids.
pub(crate) fn stored_outcomes(
    conn: &mut DbConnection,
    device: &str,
    ids: &[i64],
) -> Result<HashMap<i64, StoredOutcome>, StoreError> {
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

/// A mutation's kept outcome, to insert.
#[derive(Insertable)]
#[diesel(table_name = mutation_outcomes, treat_none_as_default_value = false)]
pub(crate) struct OutcomeRow<'a> {
    pub(crate) device_id: &'a str,
    pub(crate) mutation_id: i64,
    pub(crate) outcome: String,
    pub(crate) record_id: Option<String>,
    pub(crate) hlc: Option<i64>,
}

/// The device's last applied mutation id, registering the device to the
/// owner on its first push. Refuses another patient's device.
pub(crate) fn register_device(
    conn: &mut DbConnection,
    owner: &str,
    device: &str,
    now: i64,
) -> Result<i64, StoreError> {
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
pub fn device_of(
    conn: &mut DbConnection,
    owner: &str,
    device: &str,
) -> Result<Option<i64>, StoreError> {
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

//! Care links between patients and therapists, and the invitations that
//! make them. Codes are stored only hashed, are single use, expire, and
//! can be revoked; either party can end a link at any time.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::rows::parse_id;
use super::schema::{care_invitations, care_links, users};
use super::time::{micros_to_time, now_micros};
use super::versions::owner_write;
use super::{DbConnection, StoreError, alerts, care_plans};
use crate::auth::codes::{new_invitation_code, normalize_code};
use crate::auth::tokens::secret_hash;

/// Tries at a fresh code when one collides with a stored one.
const CODE_ATTEMPTS: usize = 3;

/// A new invitation: its code is known only now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvitation {
    /// The invitation's id.
    pub id: Uuid,
    /// The code to hand to the patient.
    pub code: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When the code stops working.
    pub expires_at: DateTime<Utc>,
}

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationState {
    /// Its code can still be used.
    Pending,
    /// A patient used it.
    Used,
    /// It expired unused.
    Expired,
    /// The therapist revoked it.
    Revoked,
}

/// One of a therapist's invitations (never its code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// The invitation's id.
    pub id: Uuid,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When its code stops (or stopped) working.
    pub expires_at: DateTime<Utc>,
    /// Where it stands now.
    pub status: InvitationState,
}

/// One side of a care link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    /// The account's id.
    pub id: Uuid,
    /// The name they chose, if any.
    pub display_name: Option<String>,
    /// Their email address.
    pub email: String,
}

/// An active care link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CareLink {
    /// The link's id.
    pub id: Uuid,
    /// When the patient accepted the invitation.
    pub created_at: DateTime<Utc>,
    /// The patient.
    pub patient: Party,
    /// The therapist.
    pub therapist: Party,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = care_invitations)]
struct InvitationRow {
    id: String,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl InvitationRow {
    fn status(&self, now: i64) -> InvitationState {
        if self.used_at.is_some() {
            InvitationState::Used
        } else if self.revoked_at.is_some() {
            InvitationState::Revoked
        } else if self.expires_at <= now {
            InvitationState::Expired
        } else {
            InvitationState::Pending
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = care_links)]
struct LinkRow {
    id: String,
    patient_id: String,
    therapist_id: String,
    created_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
struct PartyRow {
    id: String,
    email: String,
    display_name: Option<String>,
}

/// Makes an invitation of the therapist's that expires after `lifetime`
/// microseconds.
pub fn invite(
    conn: &mut DbConnection,
    therapist: &str,
    lifetime: i64,
) -> Result<NewInvitation, StoreError> {
    let now = now_micros();
    let expires_at = now.saturating_add(lifetime);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let id = Uuid::now_v7();
        let code = new_invitation_code();
        let hash = secret_hash(&normalize_code(&code).unwrap_or_default());
        let inserted = diesel::insert_into(care_invitations::table)
            .values((
                care_invitations::id.eq(id.to_string()),
                care_invitations::therapist_id.eq(therapist),
                care_invitations::code_hash.eq(&hash),
                care_invitations::created_at.eq(now),
                care_invitations::expires_at.eq(expires_at),
            ))
            .execute(conn);
        match inserted.map_err(StoreError::from) {
            Ok(_) => {
                return Ok(NewInvitation {
                    id,
                    code,
                    created_at: micros_to_time(now)?,
                    expires_at: micros_to_time(expires_at)?,
                });
            }
            // Two random 50-bit codes colliding is all but impossible, but
            // a fresh one costs nothing.
            Err(StoreError::Conflict(_)) if attempt < CODE_ATTEMPTS => {}
            Err(other) => return Err(other),
        }
    }
}

/// The therapist's invitations, newest first, with their state now.
pub fn invitations(
    conn: &mut DbConnection,
    therapist: &str,
) -> Result<Vec<Invitation>, StoreError> {
    let rows: Vec<InvitationRow> = care_invitations::table
        .filter(care_invitations::therapist_id.eq(therapist))
        .order((
            care_invitations::created_at.desc(),
            care_invitations::id.desc(),
        ))
        .select(InvitationRow::as_select())
        .load(conn)?;
    let now = now_micros();
    rows.iter()
        .map(|row| {
            Ok(Invitation {
                id: parse_id(&row.id)?,
                created_at: micros_to_time(row.created_at)?,
                expires_at: micros_to_time(row.expires_at)?,
                status: row.status(now),
            })
        })
        .collect()
}

/// Revokes one of the therapist's invitations (revoking twice, or one
/// already used, changes nothing); `NotFound` when it is not theirs.
pub fn revoke_invitation(
    conn: &mut DbConnection,
    therapist: &str,
    id: Uuid,
) -> Result<(), StoreError> {
    let id = id.to_string();
    let mine = care_invitations::table
        .find(&id)
        .filter(care_invitations::therapist_id.eq(therapist));
    let exists: Option<String> = mine.select(care_invitations::id).first(conn).optional()?;
    if exists.is_none() {
        return Err(StoreError::NotFound("no such invitation".to_owned()));
    }
    diesel::update(
        mine.filter(care_invitations::revoked_at.is_null())
            .filter(care_invitations::used_at.is_null()),
    )
    .set(care_invitations::revoked_at.eq(now_micros()))
    .execute(conn)?;
    Ok(())
}

/// Links the patient with the therapist whose invitation has this code (as
/// entered; `NotFound` when it cannot be one). Each code links once.
pub fn accept(
    conn: &mut DbConnection,
    patient: &str,
    entered: &str,
) -> Result<CareLink, StoreError> {
    let unknown = || StoreError::NotFound("no invitation has this code".to_owned());
    let code = normalize_code(entered).ok_or_else(unknown)?;
    let hash = secret_hash(&code);
    conn.write_transaction(|conn| {
        let now = now_micros();
        // The claim comes first and is conditional: of two patients
        // entering one code at once, exactly one changes the row. (On
        // SQLite, writing first also takes the write lock before any read,
        // so the loser waits instead of failing.)
        let claimed = diesel::update(
            care_invitations::table
                .filter(care_invitations::code_hash.eq(&hash))
                .filter(care_invitations::used_at.is_null())
                .filter(care_invitations::revoked_at.is_null())
                .filter(care_invitations::expires_at.gt(now)),
        )
        .set((
            care_invitations::used_at.eq(now),
            care_invitations::used_by.eq(patient),
        ))
        .execute(conn)?;
        type Invitation = (String, Option<i64>, Option<i64>, i64, Option<String>);
        let invitation: Option<Invitation> = care_invitations::table
            .filter(care_invitations::code_hash.eq(&hash))
            .select((
                care_invitations::therapist_id,
                care_invitations::used_at,
                care_invitations::revoked_at,
                care_invitations::expires_at,
                care_invitations::used_by,
            ))
            .first(conn)
            .optional()?;
        let (therapist_id, used_at, revoked_at, expires_at, used_by) =
            invitation.ok_or_else(unknown)?;
        // The same patient entering the code they used again (their app
        // retrying after the answer was lost on the way): the link it made
        // is the answer, as long as it stands.
        if claimed != 1 && used_by.as_deref() == Some(patient) && revoked_at.is_none() {
            let made: Option<LinkRow> = care_links::table
                .filter(care_links::patient_id.eq(patient))
                .filter(care_links::therapist_id.eq(&therapist_id))
                .filter(care_links::ended_at.is_null())
                .select(LinkRow::as_select())
                .first(conn)
                .optional()?;
            if let Some(row) = made {
                let parties = load_parties(conn, std::slice::from_ref(&row))?;
                return link_view(&row, &parties);
            }
        }
        if claimed != 1 {
            let why = if used_at.is_some() {
                "this invitation code was already used"
            } else if revoked_at.is_some() {
                "this invitation code was revoked"
            } else if expires_at <= now {
                "this invitation code has expired; ask for a new one"
            } else {
                "this invitation code can no longer be used"
            };
            return Err(StoreError::Gone(why.to_owned()));
        }
        let already =
            || StoreError::Conflict("you are already linked with this therapist".to_owned());
        // Returning an error rolls the claim back: the code stays usable.
        let linked: i64 = care_links::table
            .filter(care_links::patient_id.eq(patient))
            .filter(care_links::therapist_id.eq(&therapist_id))
            .filter(care_links::ended_at.is_null())
            .count()
            .get_result(conn)?;
        if linked > 0 {
            return Err(already());
        }
        let id = Uuid::now_v7();
        diesel::insert_into(care_links::table)
            .values((
                care_links::id.eq(id.to_string()),
                care_links::patient_id.eq(patient),
                care_links::therapist_id.eq(&therapist_id),
                care_links::created_at.eq(now),
            ))
            .execute(conn)
            // The partial unique index catches a link made by another code
            // in the same instant.
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => already(),
                other => other,
            })?;
        // Re-linking a therapist who already holds a share of a risk answer
        // raises the alert now, not at the patient's next write.
        alerts::raise(conn, patient)?;
        let row = LinkRow {
            id: id.to_string(),
            patient_id: patient.to_owned(),
            therapist_id,
            created_at: now,
        };
        let parties = load_parties(conn, std::slice::from_ref(&row))?;
        link_view(&row, &parties)
    })
}

/// The account's active care links, newest first: a patient's therapists
/// or a therapist's patients.
pub fn links(conn: &mut DbConnection, account: &str) -> Result<Vec<CareLink>, StoreError> {
    let rows: Vec<LinkRow> = care_links::table
        .filter(care_links::ended_at.is_null())
        .filter(
            care_links::patient_id
                .eq(account)
                .or(care_links::therapist_id.eq(account)),
        )
        .order((care_links::created_at.desc(), care_links::id.desc()))
        .select(LinkRow::as_select())
        .load(conn)?;
    let parties = load_parties(conn, &rows)?;
    rows.iter().map(|row| link_view(row, &parties)).collect()
}

/// Ends one of the account's active links; `NotFound` otherwise. The
/// therapist's care plan for the patient is withdrawn with it (a change
/// of the patient's history, so their devices learn it).
pub fn end_link(conn: &mut DbConnection, account: &str, id: Uuid) -> Result<(), StoreError> {
    let gone = || StoreError::NotFound("no such care link".to_owned());
    let active = || {
        care_links::table
            .find(id.to_string())
            .filter(care_links::ended_at.is_null())
            .filter(
                care_links::patient_id
                    .eq(account)
                    .or(care_links::therapist_id.eq(account)),
            )
    };
    let (patient, therapist): (String, String) = active()
        .select((care_links::patient_id, care_links::therapist_id))
        .first(conn)
        .optional()?
        .ok_or_else(gone)?;
    owner_write(conn, &patient, 1, |conn, versions| {
        let ended = diesel::update(active())
            .set((
                care_links::ended_at.eq(now_micros()),
                care_links::ended_by.eq(account),
            ))
            .execute(conn)?;
        if ended == 0 {
            // Ended meanwhile by the other party.
            return Err(gone());
        }
        care_plans::withdraw(conn, &therapist, &patient, versions.take()?)?;
        Ok(())
    })
}

/// Both parties of every link, by id.
fn load_parties(
    conn: &mut DbConnection,
    links: &[LinkRow],
) -> Result<HashMap<String, PartyRow>, StoreError> {
    let mut ids: Vec<&str> = links
        .iter()
        .flat_map(|l| [l.patient_id.as_str(), l.therapist_id.as_str()])
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<PartyRow> = users::table
        .filter(users::id.eq_any(ids))
        .select(PartyRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.id.clone(), r)).collect())
}

fn link_view(row: &LinkRow, parties: &HashMap<String, PartyRow>) -> Result<CareLink, StoreError> {
    let party = |id: &str| -> Result<Party, StoreError> {
        let user = parties.get(id).ok_or_else(|| {
            StoreError::Internal(format!("care link {} names unknown user {id}", row.id))
        })?;
        Ok(Party {
            id: parse_id(&user.id)?,
            display_name: user.display_name.clone(),
            email: user.email.clone(),
        })
    };
    Ok(CareLink {
        id: parse_id(&row.id)?,
        created_at: micros_to_time(row.created_at)?,
        patient: party(&row.patient_id)?,
        therapist: party(&row.therapist_id)?,
    })
}

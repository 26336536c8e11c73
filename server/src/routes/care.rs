//! Care links between patients and therapists.
//!
//! A therapist creates an invitation and hands its short code to a patient
//! (on paper, by phone); the patient enters it and the two are linked. Codes
//! are stored only hashed, are single use, expire after
//! [`AppState::invitation_lifetime`], and can be revoked. Either party can
//! end a link at any time; what a therapist may read is decided from the
//! active links on every request, so ending one takes effect at once.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{guard_attempt, now_micros};
use crate::auth::AuthUser;
use crate::auth::tokens::secret_hash;
use crate::db::DbConnection;
use crate::db::schema::{care_invitations, care_links, users};
use crate::error::ApiError;
use crate::routes::accounts::parse_id;
use crate::state::AppState;

/// Crockford's base32 alphabet: no I, L, O or U, so codes read aloud or
/// copied by hand are hard to get wrong.
const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Symbols in a code (50 random bits), shown as two groups of five.
pub const CODE_LENGTH: usize = 10;
/// Tries at a fresh code when one collides with a stored one.
const CODE_ATTEMPTS: usize = 3;

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Resources (not bare routes) so a known path with the wrong method
    // answers 405, not 404.
    cfg.service(
        web::resource("/care/invitations")
            .route(web::post().to(create_invitation))
            .route(web::get().to(list_invitations)),
    )
    .service(web::resource("/care/invitations/{id}").route(web::delete().to(revoke_invitation)))
    .service(
        web::resource("/care/links")
            .route(web::post().to(accept_invitation))
            .route(web::get().to(list_links)),
    )
    .service(web::resource("/care/links/{id}").route(web::delete().to(end_link)));
}

/// A new invitation, with its code: the only time the code is shown.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewInvitation {
    /// The invitation's id (to list or revoke it).
    pub id: Uuid,
    /// The code to hand the patient, `XXXXX-XXXXX`; case, dashes and spaces
    /// do not matter when it is entered.
    #[schema(example = "7QK2M-9XHDA")]
    pub code: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When the code stops working.
    pub expires_at: DateTime<Utc>,
}

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InvitationStatus {
    /// Waiting for a patient to enter the code.
    Pending,
    /// A patient entered it; the link exists (or existed).
    Used,
    /// Not used in time.
    Expired,
    /// The therapist withdrew it.
    Revoked,
}

/// An invitation as its therapist sees it later (never with the code).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    /// The invitation's id.
    pub id: Uuid,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When the code stops (or stopped) working.
    pub expires_at: DateTime<Utc>,
    /// Where it stands now.
    pub status: InvitationStatus,
}

/// A code a patient entered.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AcceptInvitation {
    /// The code from the therapist; case, dashes and spaces do not matter.
    #[schema(example = "7QK2M-9XHDA")]
    pub code: String,
}

/// One side of a care link.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Party {
    /// The account's id.
    pub id: Uuid,
    /// The name they chose, if any.
    pub display_name: Option<String>,
    /// Their email address: linked parties may reach each other.
    pub email: String,
}

/// An active link between a patient and a therapist.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CareLink {
    /// The link's id (to end it).
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
    fn status(&self, now: i64) -> InvitationStatus {
        if self.used_at.is_some() {
            InvitationStatus::Used
        } else if self.revoked_at.is_some() {
            InvitationStatus::Revoked
        } else if self.expires_at <= now {
            InvitationStatus::Expired
        } else {
            InvitationStatus::Pending
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

/// A new random code, `XXXXX-XXXXX` in Crockford's base32.
pub fn new_invitation_code() -> String {
    let bits = rand::rng().next_u64();
    let mut code = String::with_capacity(CODE_LENGTH + 1);
    for i in 0..CODE_LENGTH {
        if i == CODE_LENGTH / 2 {
            code.push('-');
        }
        // Five bits per symbol; the mask keeps the index below 32.
        let index = ((bits >> (5 * i)) & 0x1f) as usize;
        code.push(char::from(CODE_ALPHABET[index]));
    }
    code
}

/// A code as entered, in the one form it is hashed in: upper case, without
/// dashes or white space, and with the letters Crockford's base32 reads as
/// digits (I and L as 1, O as 0) replaced. `None` when it cannot be a code
/// at all.
pub fn normalize_code(entered: &str) -> Option<String> {
    let mut code = String::with_capacity(CODE_LENGTH);
    for c in entered.chars() {
        if c == '-' || c.is_whitespace() {
            continue;
        }
        let c = match c.to_ascii_uppercase() {
            'I' | 'L' => '1',
            'O' => '0',
            other => other,
        };
        if !c.is_ascii() || !CODE_ALPHABET.contains(&(c as u8)) || code.len() == CODE_LENGTH {
            return None;
        }
        code.push(c);
    }
    (code.len() == CODE_LENGTH).then_some(code)
}

/// A stored timestamp (microseconds) as a time.
fn time(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// Creates an invitation code for the signed-in therapist.
#[utoipa::path(post, path = "/api/v1/care/invitations", tag = "care",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The invitation and its code, shown only now", body = NewInvitation),
        crate::error::documented::NotSignedIn,
        (status = 403, description = "Only therapists invite", body = crate::error::Problem,
            content_type = "application/problem+json")))]
pub async fn create_invitation(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let therapist = user.require_therapist()?;
    let lifetime = i64::try_from(state.invitation_lifetime.as_micros()).unwrap_or(i64::MAX);
    let created = state
        .db
        .run(move |conn| -> Result<NewInvitation, ApiError> {
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
                        care_invitations::therapist_id.eq(therapist.id.to_string()),
                        care_invitations::code_hash.eq(&hash),
                        care_invitations::created_at.eq(now),
                        care_invitations::expires_at.eq(expires_at),
                    ))
                    .execute(conn);
                match inserted.map_err(ApiError::from) {
                    Ok(_) => {
                        return Ok(NewInvitation {
                            id,
                            code,
                            created_at: time(now),
                            expires_at: time(expires_at),
                        });
                    }
                    // Two random 50-bit codes colliding is all but
                    // impossible, but a fresh one costs nothing.
                    Err(ApiError::Conflict(_)) if attempt < CODE_ATTEMPTS => {}
                    Err(other) => return Err(other),
                }
            }
        })
        .await?;
    Ok(HttpResponse::Created().json(created))
}

/// The signed-in therapist's invitations, newest first, with their status
/// (never their codes).
#[utoipa::path(get, path = "/api/v1/care/invitations", tag = "care",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The invitations, newest first", body = Vec<Invitation>),
        crate::error::documented::NotSignedIn,
        (status = 403, description = "Only therapists have invitations", body = crate::error::Problem,
            content_type = "application/problem+json")))]
pub async fn list_invitations(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let therapist = user.require_therapist()?;
    let rows = state
        .db
        .run(move |conn| -> Result<Vec<InvitationRow>, ApiError> {
            Ok(care_invitations::table
                .filter(care_invitations::therapist_id.eq(therapist.id.to_string()))
                .order((
                    care_invitations::created_at.desc(),
                    care_invitations::id.desc(),
                ))
                .select(InvitationRow::as_select())
                .load(conn)?)
        })
        .await?;
    let now = now_micros();
    let invitations = rows
        .iter()
        .map(|row| {
            Ok(Invitation {
                id: parse_id(&row.id)?,
                created_at: time(row.created_at),
                expires_at: time(row.expires_at),
                status: row.status(now),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(HttpResponse::Ok().json(invitations))
}

/// Revokes one of the signed-in therapist's invitations, so its code no
/// longer works. Revoking twice, or an invitation already used, changes
/// nothing and answers the same.
#[utoipa::path(delete, path = "/api/v1/care/invitations/{id}", tag = "care",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The invitation's id")),
    responses(
        (status = 204, description = "Revoked"),
        crate::error::documented::NotSignedIn,
        (status = 403, description = "Only therapists revoke invitations", body = crate::error::Problem,
            content_type = "application/problem+json"),
        (status = 404, description = "No such invitation of yours", body = crate::error::Problem,
            content_type = "application/problem+json")))]
pub async fn revoke_invitation(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let therapist = user.require_therapist()?;
    let id = path.into_inner().to_string();
    let found = state
        .db
        .run(move |conn| -> Result<bool, ApiError> {
            let mine = care_invitations::table
                .find(&id)
                .filter(care_invitations::therapist_id.eq(therapist.id.to_string()));
            let exists: Option<String> = mine
                .clone()
                .select(care_invitations::id)
                .first(conn)
                .optional()?;
            if exists.is_none() {
                return Ok(false);
            }
            diesel::update(
                mine.filter(care_invitations::revoked_at.is_null())
                    .filter(care_invitations::used_at.is_null()),
            )
            .set(care_invitations::revoked_at.eq(now_micros()))
            .execute(conn)?;
            Ok(true)
        })
        .await?;
    if found {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound("no such invitation".to_owned()))
    }
}

/// Accepts an invitation: links the signed-in patient with the therapist
/// who made the code. Each code links once.
#[utoipa::path(post, path = "/api/v1/care/links", tag = "care",
    security(("bearer" = [])),
    request_body = AcceptInvitation,
    responses(
        (status = 201, description = "Linked", body = CareLink),
        (status = 400, description = "The body could not be read", body = crate::error::Problem,
            content_type = "application/problem+json"),
        crate::error::documented::NotSignedIn,
        (status = 403, description = "Only patients accept invitations", body = crate::error::Problem,
            content_type = "application/problem+json"),
        (status = 404, description = "No such code", body = crate::error::Problem,
            content_type = "application/problem+json"),
        (status = 409, description = "Already linked with this therapist", body = crate::error::Problem,
            content_type = "application/problem+json"),
        (status = 410, description = "The code was used, revoked or has expired", body = crate::error::Problem,
            content_type = "application/problem+json"),
        crate::error::documented::BodyTooLarge,
        crate::error::documented::BodyNotJson,
        (status = 429, description = "Too many attempts from this address", body = crate::error::Problem,
            content_type = "application/problem+json")))]
pub async fn accept_invitation(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    body: web::Json<AcceptInvitation>,
) -> Result<HttpResponse, ApiError> {
    guard_attempt(&state, &req)?;
    let patient = user.require_patient()?;
    let unknown = || ApiError::NotFound("no invitation has this code".to_owned());
    let code = normalize_code(&body.into_inner().code).ok_or_else(unknown)?;
    let hash = secret_hash(&code);
    let link = state
        .db
        .run(move |conn| {
            conn.write_transaction(|conn| -> Result<CareLink, ApiError> {
                let now = now_micros();
                let me = patient.id.to_string();
                // The claim comes first and is conditional: of two patients
                // entering one code at once, exactly one changes the row. (On
                // SQLite, writing first also takes the write lock before any
                // read, so the loser waits instead of failing.)
                let claimed = diesel::update(
                    care_invitations::table
                        .filter(care_invitations::code_hash.eq(&hash))
                        .filter(care_invitations::used_at.is_null())
                        .filter(care_invitations::revoked_at.is_null())
                        .filter(care_invitations::expires_at.gt(now)),
                )
                .set((
                    care_invitations::used_at.eq(now),
                    care_invitations::used_by.eq(&me),
                ))
                .execute(conn)?;
                let invitation: Option<(String, Option<i64>, Option<i64>, i64)> =
                    care_invitations::table
                        .filter(care_invitations::code_hash.eq(&hash))
                        .select((
                            care_invitations::therapist_id,
                            care_invitations::used_at,
                            care_invitations::revoked_at,
                            care_invitations::expires_at,
                        ))
                        .first(conn)
                        .optional()?;
                let (therapist_id, used_at, revoked_at, expires_at) =
                    invitation.ok_or_else(unknown)?;
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
                    return Err(ApiError::Gone(why.to_owned()));
                }
                let already =
                    || ApiError::Conflict("you are already linked with this therapist".to_owned());
                // Returning an error rolls the claim back: the code stays
                // usable.
                let linked: i64 = care_links::table
                    .filter(care_links::patient_id.eq(&me))
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
                        care_links::patient_id.eq(&me),
                        care_links::therapist_id.eq(&therapist_id),
                        care_links::created_at.eq(now),
                    ))
                    .execute(conn)
                    // The partial unique index catches a link made by
                    // another code in the same instant.
                    .map_err(|e| match ApiError::from(e) {
                        ApiError::Conflict(_) => already(),
                        other => other,
                    })?;
                // Re-linking a therapist who already holds a share of a risk
                // answer raises the alert now, not at the patient's next write.
                crate::review::raise_alerts(conn, &me)?;
                let row = LinkRow {
                    id: id.to_string(),
                    patient_id: me,
                    therapist_id,
                    created_at: now,
                };
                let parties = load_parties(conn, std::slice::from_ref(&row))?;
                link_view(&row, &parties)
            })
        })
        .await?;
    Ok(HttpResponse::Created().json(link))
}

/// The signed-in user's active care links, newest first: a patient's
/// therapists or a therapist's patients.
#[utoipa::path(get, path = "/api/v1/care/links", tag = "care",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The active links, newest first", body = Vec<CareLink>),
        crate::error::documented::NotSignedIn))]
pub async fn list_links(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let links = state
        .db
        .run(move |conn| -> Result<Vec<CareLink>, ApiError> {
            let me = user.id.to_string();
            let rows: Vec<LinkRow> = care_links::table
                .filter(care_links::ended_at.is_null())
                .filter(
                    care_links::patient_id
                        .eq(&me)
                        .or(care_links::therapist_id.eq(&me)),
                )
                .order((care_links::created_at.desc(), care_links::id.desc()))
                .select(LinkRow::as_select())
                .load(conn)?;
            let parties = load_parties(conn, &rows)?;
            rows.iter().map(|row| link_view(row, &parties)).collect()
        })
        .await?;
    Ok(HttpResponse::Ok().json(links))
}

/// Ends a care link; either party may. The therapist loses access at once.
#[utoipa::path(delete, path = "/api/v1/care/links/{id}", tag = "care",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The link's id")),
    responses(
        (status = 204, description = "Ended"),
        crate::error::documented::NotSignedIn,
        (status = 404, description = "No such active link of yours", body = crate::error::Problem,
            content_type = "application/problem+json")))]
pub async fn end_link(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().to_string();
    let ended = state
        .db
        .run(move |conn| -> Result<usize, ApiError> {
            let me = user.id.to_string();
            Ok(diesel::update(
                care_links::table
                    .find(&id)
                    .filter(care_links::ended_at.is_null())
                    .filter(
                        care_links::patient_id
                            .eq(&me)
                            .or(care_links::therapist_id.eq(&me)),
                    ),
            )
            .set((
                care_links::ended_at.eq(now_micros()),
                care_links::ended_by.eq(&me),
            ))
            .execute(conn)?)
        })
        .await?;
    if ended == 0 {
        return Err(ApiError::NotFound("no such care link".to_owned()));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Both parties of every link, by id.
fn load_parties(
    conn: &mut DbConnection,
    links: &[LinkRow],
) -> Result<HashMap<String, PartyRow>, ApiError> {
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

fn link_view(row: &LinkRow, parties: &HashMap<String, PartyRow>) -> Result<CareLink, ApiError> {
    let party = |id: &str| -> Result<Party, ApiError> {
        let user = parties.get(id).ok_or_else(|| {
            ApiError::Internal(format!("care link {} names unknown user {id}", row.id))
        })?;
        Ok(Party {
            id: parse_id(&user.id)?,
            display_name: user.display_name.clone(),
            email: user.email.clone(),
        })
    };
    Ok(CareLink {
        id: parse_id(&row.id)?,
        created_at: time(row.created_at),
        patient: party(&row.patient_id)?,
        therapist: party(&row.therapist_id)?,
    })
}

/// The care-link part of the OpenAPI document, merged into
/// [`crate::openapi::document`].
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        create_invitation,
        list_invitations,
        revoke_invitation,
        accept_invitation,
        list_links,
        end_link
    ),
    components(schemas(
        NewInvitation,
        Invitation,
        InvitationStatus,
        AcceptInvitation,
        CareLink,
        Party
    ))
)]
pub struct CareApi;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_two_groups_of_five_crockford_symbols() {
        for _ in 0..200 {
            let code = new_invitation_code();
            assert_eq!(code.len(), CODE_LENGTH + 1);
            assert_eq!(code.chars().nth(5), Some('-'));
            assert!(
                code.chars()
                    .filter(|&c| c != '-')
                    .all(|c| CODE_ALPHABET.contains(&(c as u8))),
                "{code}"
            );
            assert_eq!(normalize_code(&code).map(|c| c.len()), Some(CODE_LENGTH));
        }
        assert_ne!(new_invitation_code(), new_invitation_code());
    }

    #[test]
    fn entered_codes_are_normalised() {
        let canonical = Some("7QK2M9XHDA".to_owned());
        assert_eq!(normalize_code("7QK2M-9XHDA"), canonical);
        assert_eq!(normalize_code("7qk2m9xhda"), canonical);
        assert_eq!(normalize_code(" 7qk2m - 9xhda\t"), canonical);
        assert_eq!(normalize_code("1O1L1-I0000"), Some("1011110000".to_owned()));
    }

    #[test]
    fn what_cannot_be_a_code_is_refused() {
        for bad in [
            "",
            "7QK2M",
            "7QK2M-9XHDA0",
            "7QK2M-9XHDU",
            "7QK2M-9XHD!",
            "7QK2M-9XHDÄ",
        ] {
            assert_eq!(normalize_code(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_document_part_lists_every_route_with_bearer_security() {
        use utoipa::OpenApi;
        let doc = serde_json::to_value(CareApi::openapi()).unwrap();
        let mut operations = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                assert_eq!(operation["security"], serde_json::json!([{"bearer": []}]));
                assert_eq!(operation["tags"], serde_json::json!(["care"]));
                assert!(
                    operation["responses"]["401"]["content"]["application/problem+json"]
                        .is_object(),
                    "{method} {path}"
                );
                operations.push(format!("{method} {path}"));
            }
        }
        operations.sort();
        assert_eq!(
            operations,
            [
                "delete /api/v1/care/invitations/{id}",
                "delete /api/v1/care/links/{id}",
                "get /api/v1/care/invitations",
                "get /api/v1/care/links",
                "post /api/v1/care/invitations",
                "post /api/v1/care/links",
            ]
        );
        for schema in [
            "NewInvitation",
            "Invitation",
            "InvitationStatus",
            "AcceptInvitation",
            "CareLink",
            "Party",
        ] {
            assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
        }
    }
}

//! Care links between patients and therapists.
//!
//! A therapist creates an invitation and hands its short code to a patient
//! (on paper, by phone); the patient enters it and the two are linked. Codes
//! are stored only hashed, are single use, expire after
//! `AppState::invitation_lifetime`, and can be revoked. Either party can
//! end a link at any time; what a therapist may read is decided from the
//! active links on every request, so ending one takes effect at once.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::guard_attempt;
use super::problem::ApiError;
use crate::auth::AuthUser;
use crate::state::AppState;
use crate::store::care::{self, InvitationState};

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

impl From<InvitationState> for InvitationStatus {
    fn from(state: InvitationState) -> Self {
        match state {
            InvitationState::Pending => InvitationStatus::Pending,
            InvitationState::Used => InvitationStatus::Used,
            InvitationState::Expired => InvitationStatus::Expired,
            InvitationState::Revoked => InvitationStatus::Revoked,
        }
    }
}

impl From<care::Party> for Party {
    fn from(party: care::Party) -> Self {
        Party {
            id: party.id,
            display_name: party.display_name,
            email: party.email,
        }
    }
}

impl From<care::CareLink> for CareLink {
    fn from(link: care::CareLink) -> Self {
        CareLink {
            id: link.id,
            created_at: link.created_at,
            patient: link.patient.into(),
            therapist: link.therapist.into(),
        }
    }
}

/// Creates an invitation code for the signed-in therapist.
#[utoipa::path(post, path = "/api/v1/care/invitations", tag = "care",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The invitation and its code, shown only now", body = NewInvitation),
        crate::http::problem::documented::NotSignedIn,
        (status = 403, description = "Only therapists invite", body = crate::http::problem::Problem,
            content_type = "application/problem+json")))]
pub async fn create_invitation(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let therapist = user.require_therapist()?;
    let lifetime = i64::try_from(state.invitation_lifetime.as_micros()).unwrap_or(i64::MAX);
    let created = state
        .db
        .run(move |conn| care::invite(conn, &therapist.id.to_string(), lifetime))
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Created().json(NewInvitation {
        id: created.id,
        code: created.code,
        created_at: created.created_at,
        expires_at: created.expires_at,
    }))
}

/// The signed-in therapist's invitations, newest first, with their status
/// (never their codes).
#[utoipa::path(get, path = "/api/v1/care/invitations", tag = "care",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The invitations, newest first", body = Vec<Invitation>),
        crate::http::problem::documented::NotSignedIn,
        (status = 403, description = "Only therapists have invitations", body = crate::http::problem::Problem,
            content_type = "application/problem+json")))]
pub async fn list_invitations(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let therapist = user.require_therapist()?;
    let invitations: Vec<Invitation> = state
        .db
        .run(move |conn| care::invitations(conn, &therapist.id.to_string()))
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .map(|invitation| Invitation {
            id: invitation.id,
            created_at: invitation.created_at,
            expires_at: invitation.expires_at,
            status: invitation.status.into(),
        })
        .collect();
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
        crate::http::problem::documented::NotSignedIn,
        (status = 403, description = "Only therapists revoke invitations", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
        (status = 404, description = "No such invitation of yours", body = crate::http::problem::Problem,
            content_type = "application/problem+json")))]
pub async fn revoke_invitation(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let therapist = user.require_therapist()?;
    let id = path.into_inner();
    state
        .db
        .run(move |conn| care::revoke_invitation(conn, &therapist.id.to_string(), id))
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::NoContent().finish())
}

/// Accepts an invitation: links the signed-in patient with the therapist
/// who made the code. Each code links once.
#[utoipa::path(post, path = "/api/v1/care/links", tag = "care",
    security(("bearer" = [])),
    request_body = AcceptInvitation,
    responses(
        (status = 201, description = "Linked", body = CareLink),
        (status = 400, description = "The body could not be read", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
        crate::http::problem::documented::NotSignedIn,
        (status = 403, description = "Only patients accept invitations", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
        (status = 404, description = "No such code", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
        (status = 409, description = "Already linked with this therapist", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
        (status = 410, description = "The code was used, revoked or has expired", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
        crate::http::problem::documented::BodyTooLarge,
        crate::http::problem::documented::BodyNotJson,
        (status = 429, description = "Too many attempts from this address", body = crate::http::problem::Problem,
            content_type = "application/problem+json")))]
pub async fn accept_invitation(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    body: web::Json<AcceptInvitation>,
) -> Result<HttpResponse, ApiError> {
    guard_attempt(&state, &req).await?;
    let patient = user.require_patient()?;
    let code = body.into_inner().code;
    let link = state
        .db
        .run(move |conn| care::accept(conn, &patient.id.to_string(), &code))
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Created().json(CareLink::from(link)))
}

/// The signed-in user's active care links, newest first: a patient's
/// therapists or a therapist's patients.
#[utoipa::path(get, path = "/api/v1/care/links", tag = "care",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The active links, newest first", body = Vec<CareLink>),
        crate::http::problem::documented::NotSignedIn))]
pub async fn list_links(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let links: Vec<CareLink> = state
        .db
        .run(move |conn| care::links(conn, &user.id.to_string()))
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .map(CareLink::from)
        .collect();
    Ok(HttpResponse::Ok().json(links))
}

/// Ends a care link; either party may. The therapist loses access at once.
#[utoipa::path(delete, path = "/api/v1/care/links/{id}", tag = "care",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The link's id")),
    responses(
        (status = 204, description = "Ended"),
        crate::http::problem::documented::NotSignedIn,
        (status = 404, description = "No such active link of yours", body = crate::http::problem::Problem,
            content_type = "application/problem+json")))]
pub async fn end_link(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    state
        .db
        .run(move |conn| care::end_link(conn, &user.id.to_string(), id))
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::NoContent().finish())
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

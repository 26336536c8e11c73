//! The owner's records API: a patient creates, reads, lists, edits and
//! deletes their own records (every kind of journal-core's
//! [`RecordBody`]).
//!
//! - Content is checked with journal-core's rules, the very ones the phone
//!   applies, so the two never disagree on what is valid.
//! - Another patient's record is answered exactly like one that does not
//!   exist (the store names the owner in every statement).
//! - Deletes leave a tombstone that keeps no content, for sync to pass on.
//! - Edits and deletes go through journal-core's conflict rules like a
//!   device's change ([`crate::store::records`]), stamped by this server's
//!   clock ([`AppState::stamp_after`]).
//! - Lists are newest first and paged by journal-core's [`ListCursor`], the
//!   same keyset pagination the phone's store uses.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use journal_core::hlc::Hlc;
use journal_core::ids::RecordId;
use journal_core::phase::Phase;
use journal_core::query::{ListCursor, ListQuery, RecordPage};
use journal_core::records::{Record, RecordBody, RecordKind};
use serde::Deserialize;
use utoipa::openapi::{OneOf, Ref, RefOr, Schema};
use utoipa::{IntoParams, ToSchema};

use super::extract::Patient;
use super::problem::ApiError;
use crate::state::AppState;
use crate::store::records::{self, NOT_FOUND};

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Resources (not bare routes) so a known path with the wrong method
    // answers 405, not 404.
    cfg.service(
        web::resource("/records")
            .route(web::get().to(list_records))
            .route(web::post().to(create_record)),
    )
    .service(
        web::resource("/records/{id}")
            .route(web::get().to(get_record))
            .route(web::put().to(update_record))
            .route(web::delete().to(delete_record)),
    );
}

/// The filters and page of `GET /records`. Unknown parameters are refused.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListParams {
    /// Only these kinds, comma-separated (e.g. `journalEntry,moodCheckIn`);
    /// every kind when absent or empty.
    pub kinds: Option<String>,
    /// Only journal entries of this phase.
    #[param(value_type = Option<Phase>)]
    pub phase: Option<Phase>,
    /// Only records about this moment or later (RFC 3339, e.g.
    /// `2026-03-01T00:00:00Z`; percent-encode the `+` of an offset as
    /// `%2B`).
    pub from: Option<DateTime<Utc>>,
    /// Only records about a moment before this one (RFC 3339); must be
    /// later than `from`.
    pub to: Option<DateTime<Utc>>,
    /// Only this dosing session and the intentions and entries linked to
    /// it.
    #[param(value_type = Option<RecordId>)]
    pub dosing_session_id: Option<RecordId>,
    /// Page size, 1–200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    #[param(value_type = Option<ListCursor>)]
    pub cursor: Option<ListCursor>,
}

impl ListParams {
    /// The query these parameters ask for, checked: unknown kinds answer
    /// 400, a limit out of range or a reversed date range 422.
    pub fn into_query(self) -> Result<ListQuery, ApiError> {
        let kinds = match self.kinds.as_deref().map(str::trim) {
            None | Some("") => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|k| {
                    k.trim().parse::<RecordKind>().map_err(|e| {
                        ApiError::BadRequest(format!("invalid query parameters: kinds: {e}"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        let query = ListQuery {
            kinds,
            phase: self.phase,
            from: self.from,
            to: self.to,
            dosing_session_id: self.dosing_session_id,
            limit: self.limit,
            cursor: self.cursor,
        };
        query.validate()?;
        Ok(query)
    }
}

/// A record to create: its kind and content, and optionally the id the
/// client chose for it.
///
/// The id: a UUID (a UUIDv7 sorts best). Sending the same create again — a
/// retry after a lost answer — answers the first result and writes
/// nothing; the same id with other content answers 422 (`id`, `taken`).
/// The server makes one when it is absent.
#[derive(Debug)]
pub struct NewRecord {
    /// The id the client chose, if any.
    pub id: Option<RecordId>,
    /// The kind and content.
    pub content: RecordBody,
}

/// Described as each kind of [`RecordBody`] with an optional `id` beside
/// `kind` and `body`: one object per kind, which generators of clients and
/// of test data read whole (an `allOf` over the kinds' `oneOf` they do
/// not).
impl utoipa::PartialSchema for NewRecord {
    fn schema() -> RefOr<Schema> {
        let mut id = Ref::from_schema_name("RecordId");
        id.description =
            "The id the client chose for the record; the server makes one when absent.".to_owned();
        let id: RefOr<Schema> = id.into();
        let mut kinds = OneOf::new();
        if let RefOr::T(Schema::OneOf(one_of)) = <RecordBody as utoipa::PartialSchema>::schema() {
            for item in one_of.items {
                let item = match item {
                    RefOr::T(Schema::Object(mut object)) => {
                        object.properties.insert("id".to_owned(), id.clone());
                        RefOr::T(Schema::Object(object))
                    }
                    other => other,
                };
                kinds.items.push(item);
            }
        }
        kinds.description = Some(
            "A record to create: its kind and content, and optionally the id the client chose \
             for it. Sending the same create again with that id answers the first result and \
             writes nothing; the same id with other content answers 422 (`id`, `taken`)."
                .to_owned(),
        );
        RefOr::T(Schema::OneOf(kinds))
    }
}

impl ToSchema for NewRecord {}

impl<'de> Deserialize<'de> for NewRecord {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        // `id` beside the record's own fields, which stay strict (unknown
        // fields refused).
        let mut fields = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        let id = fields
            .remove("id")
            .filter(|id| !id.is_null())
            .map(serde_json::from_value::<RecordId>)
            .transpose()
            .map_err(|e| D::Error::custom(format!("id: {e}")))?;
        let content =
            RecordBody::deserialize(serde_json::Value::Object(fields)).map_err(D::Error::custom)?;
        Ok(Self { id, content })
    }
}

/// Creates a record of the signed-in patient.
///
/// The server makes the timestamps and the clock stamp, and the id (a
/// UUIDv7) unless the client chose one; the body holds the kind, the
/// content and that optional `id` only. A create sent again with the same
/// `id` and content (a retry after a lost answer) answers the first result
/// and writes nothing. Any other field, at the
/// top or inside the content, is refused with 400 and nothing is written.
/// An entry's or intention's `dosingSessionId` must name one of the
/// patient's dosing sessions (422, rule `unknown_session`).
#[utoipa::path(post, path = "/api/v1/records", tag = "records",
    request_body(content = NewRecord, description = "The kind and content of the new record, and optionally its id"),
    responses(
        (status = 201, description = "Created (or, for a create sent again with the same id, the record it made)", body = Record,
            headers(("Location" = String, description = "The new record's address"))),
        (status = 400, description = "Not a record: malformed JSON, wrong types or unknown fields",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::NotAPatient,
        crate::http::problem::documented::BodyTooLarge,
        crate::http::problem::documented::BodyNotJson,
        (status = 422, description = "The content breaks a rule (every field is listed), or the id was used for another record",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_record(
    state: web::Data<AppState>,
    patient: Patient,
    body: web::Json<NewRecord>,
) -> Result<HttpResponse, ApiError> {
    let NewRecord { id, content } = body.into_inner();
    content.validate()?;
    content.check_plausible(Utc::now())?;
    let owner = patient.owner();
    let hlc = state.stamp_after(Hlc::ZERO);
    let record = state
        .db
        .run(move |conn| records::create(conn, &owner, id, content, hlc))
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/records/{}", record.id)))
        .json(record))
}

/// Lists the signed-in patient's records, newest first (by the moment each
/// is about: a check-in's time, a session's start, an entry's creation;
/// ties broken by id), one page at a time. Deleted records are never
/// listed.
///
/// Pass the page's `nextCursor` as `cursor` for the next page; it is `null`
/// on the last page. Filters combine with AND.
#[utoipa::path(get, path = "/api/v1/records", tag = "records",
    params(ListParams),
    responses(
        (status = 200, description = "One page of records", body = RecordPage),
        (status = 400, description = "Unreadable parameters: an unknown kind or phase, a bad date, id or cursor, an unknown parameter",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::NotAPatient,
        (status = 422, description = "A limit outside 1–200, or `to` not after `from`",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_records(
    state: web::Data<AppState>,
    patient: Patient,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let query = params.into_inner().into_query()?;
    let owner = patient.owner();
    let page = state
        .db
        .run(move |conn| records::list(conn, &owner, &query))
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(page))
}

/// Reads one of the signed-in patient's records.
#[utoipa::path(get, path = "/api/v1/records/{id}", tag = "records",
    params(("id" = RecordId, Path, description = "The record's id")),
    responses(
        (status = 200, description = "The record", body = Record),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::NotAPatient,
        (status = 404, description = "No such record of yours (or it was deleted)",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_record(
    state: web::Data<AppState>,
    patient: Patient,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_record_id(&id)?;
    let owner = patient.owner();
    let record = state
        .db
        .run(move |conn| records::live(conn, &owner, id))
        .await
        .map_err(ApiError::from)?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(record))
}

/// Replaces the content of one of the signed-in patient's records.
///
/// The kind cannot change (422, field `kind`, rule `immutable`). Sending
/// the content the record already holds changes nothing: the record comes
/// back as it was, with its stamp and timestamps.
#[utoipa::path(put, path = "/api/v1/records/{id}", tag = "records",
    params(("id" = RecordId, Path, description = "The record's id")),
    request_body(content = RecordBody, description = "The record's new content, of its kind"),
    responses(
        (status = 200, description = "The record as it now is", body = Record),
        (status = 400, description = "Not a record: malformed JSON, wrong types or unknown fields",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::NotAPatient,
        (status = 404, description = "No such record of yours (or it was deleted)",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
        crate::http::problem::documented::BodyTooLarge,
        crate::http::problem::documented::BodyNotJson,
        (status = 422, description = "The content breaks a rule, or names another kind",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn update_record(
    state: web::Data<AppState>,
    patient: Patient,
    id: web::Path<String>,
    body: web::Json<RecordBody>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_record_id(&id)?;
    let body = body.into_inner();
    body.validate()?;
    body.check_plausible(Utc::now())?;
    let owner = patient.owner();
    let clock = state.clone();
    let record = state
        .db
        .run(move |conn| records::update(conn, &owner, id, body, |after| clock.stamp_after(after)))
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(record))
}

/// Deletes one of the signed-in patient's records: it disappears from
/// reads and lists, and its content is erased; a tombstone remains for
/// sync.
///
/// A dosing session that live intentions or entries still link to is not
/// deleted (409): delete or relink them first.
#[utoipa::path(delete, path = "/api/v1/records/{id}", tag = "records",
    params(("id" = RecordId, Path, description = "The record's id")),
    responses(
        (status = 204, description = "Deleted"),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::NotAPatient,
        (status = 404, description = "No such record of yours (or it was deleted)",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A dosing session that intentions or entries still link to",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn delete_record(
    state: web::Data<AppState>,
    patient: Patient,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_record_id(&id)?;
    let owner = patient.owner();
    let clock = state.clone();
    state
        .db
        .run(move |conn| records::delete(conn, &owner, id, |after| clock.stamp_after(after)))
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::NoContent().finish())
}

/// An id from the path; one that is not a UUID names no record.
fn parse_record_id(text: &str) -> Result<RecordId, ApiError> {
    text.parse().map_err(|_| not_found())
}

fn not_found() -> ApiError {
    ApiError::NotFound(NOT_FOUND.to_owned())
}

/// The records API's part of the OpenAPI document: its paths and every
/// schema they use, journal-core's record types included.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        create_record,
        list_records,
        get_record,
        update_record,
        delete_record
    ),
    components(schemas(
        NewRecord,
        journal_core::records::RecordBody,
        journal_core::records::Record,
        journal_core::records::RecordKind,
        journal_core::records::JournalEntry,
        journal_core::records::Intention,
        journal_core::records::IntentionStatus,
        journal_core::records::Reflection,
        journal_core::records::MoodCheckIn,
        journal_core::records::Assessment,
        journal_core::records::Instrument,
        journal_core::records::ExercisePractice,
        journal_core::records::Commitment,
        journal_core::records::CommitmentStatus,
        journal_core::plan::CarePlan,
        journal_core::plan::MeasurePlan,
        journal_core::plan::FollowUpPlan,
        journal_core::plan::CheckInCadence,
        journal_core::records::DosingSession,
        journal_core::records::Route,
        journal_core::records::SessionStatus,
        journal_core::phase::Phase,
        journal_core::ids::RecordId,
        journal_core::hlc::Hlc,
        journal_core::query::RecordPage,
        journal_core::query::ListCursor,
        journal_core::validation::FieldViolation,
        crate::http::problem::Problem
    )),
    tags((name = "records", description = "A patient's own records: create, read, list, edit, delete"))
)]
pub struct RecordsApi;

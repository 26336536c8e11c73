//! The owner's records API: a patient creates, reads, lists, edits and
//! deletes their own records (every kind of journal-core's
//! [`RecordBody`]).
//!
//! - Content is checked with journal-core's rules, the very ones the phone
//!   applies, so the two never disagree on what is valid.
//! - Every statement names the owner next to the id (`WHERE id = ? AND
//!   owner_id = ?`): another patient's record is answered exactly like one
//!   that does not exist.
//! - Every write transaction first bumps the owner's version counter and
//!   stamps the written row with it (the cursor of sync). Starting with a
//!   write also takes the owner's lock (PostgreSQL's row lock, SQLite's one
//!   writer) before anything is read, so link checks cannot race.
//! - Deletes leave a tombstone that keeps no content, for sync to pass on.
//! - Edits and deletes go through journal-core's conflict rules like a
//!   device's change (made on the current version, stamped after it, by the
//!   nil device), so the field stamps sync merges by stay right; the rows
//!   are written by [`super::sync`]'s helpers.
//! - Lists are newest first and paged by journal-core's [`ListCursor`], the
//!   same keyset pagination the phone's store uses.

use std::future::{Ready, ready};

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, dev::Payload, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use journal_core::hlc::Hlc;
use journal_core::ids::RecordId;
use journal_core::phase::Phase;
use journal_core::query::{ListCursor, ListQuery, RecordPage};
use journal_core::records::{Record, RecordBody, RecordKind};
use journal_core::sync::{Incoming, IncomingOp, Resolution, Stamp, resolve};
use journal_core::validation::InvalidInput;
use serde::Deserialize;
use utoipa::IntoParams;

use super::now_micros;
use super::sync::NewRow;
use super::sync::{StoredRow, Versions, WriteTarget, load_stored, rest_device, write_resolution};
use crate::auth::AuthUser;
use crate::db::DbConnection;
use crate::db::schema::{owner_versions, records};
use crate::error::ApiError;
use crate::review::{Db, RecordRow};
use crate::state::AppState;

/// The one answer for an id that names no live record of the caller's, be
/// it unknown, deleted, malformed or someone else's: the same words, so the
/// answer tells nothing about other patients' records.
pub(crate) const NOT_FOUND: &str = "no such record";

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

/// The signed-in patient of a request: 401 without valid credentials, 403
/// for a therapist. Taken before the body, so a therapist is refused as
/// such whatever they send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patient(pub AuthUser);

impl Patient {
    /// The owner id as the tables store it.
    pub(crate) fn owner(&self) -> String {
        self.0.id.to_string()
    }
}

impl FromRequest for Patient {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = AuthUser::from_request(req, payload).into_inner();
        ready(user.and_then(AuthUser::require_patient).map(Patient))
    }
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

/// Why a write transaction ended without committing.
enum WriteError {
    /// It failed.
    Api(ApiError),
    /// There was nothing to write: the record already holds this content.
    /// Rolling back undoes the version bump.
    Unchanged(Box<Record>),
}

impl From<ApiError> for WriteError {
    fn from(error: ApiError) -> Self {
        WriteError::Api(error)
    }
}

impl From<InvalidInput> for WriteError {
    fn from(invalid: InvalidInput) -> Self {
        WriteError::Api(invalid.into())
    }
}

impl From<DieselError> for WriteError {
    fn from(error: DieselError) -> Self {
        WriteError::Api(error.into())
    }
}

/// Creates a record of the signed-in patient.
///
/// The server makes the id (a UUIDv7), the timestamps and the clock stamp;
/// the body holds the kind and the content only. Any other field, at the
/// top or inside the content, is refused with 400 and nothing is written.
/// An entry's or intention's `dosingSessionId` must name one of the
/// patient's dosing sessions (422, rule `unknown_session`).
#[utoipa::path(post, path = "/api/v1/records", tag = "records",
    request_body(content = RecordBody, description = "The kind and content of the new record"),
    responses(
        (status = 201, description = "Created", body = Record,
            headers(("Location" = String, description = "The new record's address"))),
        (status = 400, description = "Not a record: malformed JSON, wrong types or unknown fields",
            body = crate::error::Problem, content_type = "application/problem+json"),
        crate::error::documented::NotSignedIn,
        crate::error::documented::NotAPatient,
        crate::error::documented::BodyTooLarge,
        crate::error::documented::BodyNotJson,
        (status = 422, description = "The content breaks a rule; every field is listed",
            body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_record(
    state: web::Data<AppState>,
    patient: Patient,
    body: web::Json<RecordBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    body.validate()?;
    let owner = patient.owner();
    let hlc = state.stamp_after(Hlc::ZERO);
    let record = state
        .db
        .run(move |conn| {
            conn.write_transaction(|conn| -> Result<Record, ApiError> {
                let version = bump_version(conn, &owner)?;
                check_links(conn, &owner, &body)?;
                let now = now_time()?;
                let record = Record {
                    id: RecordId::new(),
                    created_at: now,
                    updated_at: now,
                    hlc,
                    body,
                };
                diesel::insert_into(records::table)
                    .values(new_row(&record, &owner, version)?)
                    .execute(conn)?;
                crate::review::raise_alerts(conn, &owner)?;
                Ok(record)
            })
        })
        .await?;
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
            body = crate::error::Problem, content_type = "application/problem+json"),
        crate::error::documented::NotSignedIn,
        crate::error::documented::NotAPatient,
        (status = 422, description = "A limit outside 1–200, or `to` not after `from`",
            body = crate::error::Problem, content_type = "application/problem+json"),
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
        .run(move |conn| list_page(conn, &owner, &query))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Reads one of the signed-in patient's records.
#[utoipa::path(get, path = "/api/v1/records/{id}", tag = "records",
    params(("id" = RecordId, Path, description = "The record's id")),
    responses(
        (status = 200, description = "The record", body = Record),
        crate::error::documented::NotSignedIn,
        crate::error::documented::NotAPatient,
        (status = 404, description = "No such record of yours (or it was deleted)",
            body = crate::error::Problem, content_type = "application/problem+json"),
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
        .run(move |conn| live_record(conn, &owner, id))
        .await?
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
            body = crate::error::Problem, content_type = "application/problem+json"),
        crate::error::documented::NotSignedIn,
        crate::error::documented::NotAPatient,
        (status = 404, description = "No such record of yours (or it was deleted)",
            body = crate::error::Problem, content_type = "application/problem+json"),
        crate::error::documented::BodyTooLarge,
        crate::error::documented::BodyNotJson,
        (status = 422, description = "The content breaks a rule, or names another kind",
            body = crate::error::Problem, content_type = "application/problem+json"),
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
    let owner = patient.owner();
    let clock = state.clone();
    let record = state
        .db
        .run(move |conn| {
            let outcome = conn.write_transaction(|conn| -> Result<Record, WriteError> {
                let version = bump_version(conn, &owner)?;
                let row = load_stored(conn, &owner, id)?
                    .filter(|r| !r.deleted)
                    .ok_or_else(not_found)?;
                let current = stored_record(&row)?;
                if current.kind() != body.kind() {
                    return Err(InvalidInput::single(
                        "kind",
                        "immutable",
                        format!(
                            "this record is a {}; a record's kind cannot change",
                            current.kind()
                        ),
                    )
                    .into());
                }
                if current.body == body {
                    return Err(WriteError::Unchanged(Box::new(current)));
                }
                check_links(conn, &owner, &body)?;
                // Through the conflict rules like a device's edit, made on
                // the current version: a fast-forward that keeps the field
                // stamps right.
                let stored = row.to_stored()?;
                let incoming = Incoming {
                    stamp: Stamp {
                        hlc: clock.stamp_after(stored.stamp.hlc),
                        device: rest_device(),
                    },
                    base: Some(stored.stamp.hlc),
                    op: IncomingOp::Upsert {
                        body,
                        changed: None,
                    },
                };
                let resolution = resolve(Some(&stored), incoming);
                let updated_at = now_time()?;
                let target = WriteTarget {
                    owner: &owner,
                    id,
                    kind: current.kind(),
                    existing: Some(&row),
                    created_at: row.created_at,
                    updated_at: updated_at.timestamp_micros(),
                };
                write_resolution(conn, &target, &resolution, &mut Versions::block(version, 1))?;
                crate::review::raise_alerts(conn, &owner)?;
                match resolution {
                    Resolution::Write {
                        body: Some(body),
                        stamp,
                        ..
                    } => Ok(Record {
                        updated_at,
                        hlc: stamp.hlc,
                        body,
                        ..current
                    }),
                    _ => Err(ApiError::Internal(format!(
                        "an edit of the current version of record {id} was not written"
                    ))
                    .into()),
                }
            });
            match outcome {
                Ok(record) => Ok(record),
                Err(WriteError::Unchanged(record)) => Ok(*record),
                Err(WriteError::Api(error)) => Err(error),
            }
        })
        .await?;
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
        crate::error::documented::NotSignedIn,
        crate::error::documented::NotAPatient,
        (status = 404, description = "No such record of yours (or it was deleted)",
            body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A dosing session that intentions or entries still link to",
            body = crate::error::Problem, content_type = "application/problem+json"),
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
        .run(move |conn| {
            conn.write_transaction(|conn| -> Result<(), ApiError> {
                let version = bump_version(conn, &owner)?;
                let row = load_stored(conn, &owner, id)?
                    .filter(|r| !r.deleted)
                    .ok_or_else(not_found)?;
                if row.kind == RecordKind::DosingSession.as_str() {
                    let linked: i64 = records::table
                        .filter(records::owner_id.eq(&owner))
                        .filter(records::dosing_session_id.eq(id.to_string()))
                        .filter(records::id.ne(id.to_string()))
                        .filter(records::deleted.eq(false))
                        .count()
                        .get_result(conn)?;
                    if linked > 0 {
                        return Err(ApiError::Conflict(format!(
                            "this dosing session still has {linked} intention(s) or entries \
                             linked to it; delete or relink them first"
                        )));
                    }
                }
                let stored = row.to_stored()?;
                let incoming = Incoming {
                    stamp: Stamp {
                        hlc: clock.stamp_after(stored.stamp.hlc),
                        device: rest_device(),
                    },
                    base: Some(stored.stamp.hlc),
                    op: IncomingOp::Delete,
                };
                let resolution = resolve(Some(&stored), incoming);
                let target = WriteTarget {
                    owner: &owner,
                    id,
                    kind: row.record_kind()?,
                    existing: Some(&row),
                    created_at: row.created_at,
                    updated_at: now_micros(),
                };
                write_resolution(conn, &target, &resolution, &mut Versions::block(version, 1))?;
                Ok(())
            })
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Bumps the owner's write counter and returns its new value: the version
/// the transaction's writes are stamped with. The first write of an owner
/// starts the counter at 1.
///
/// Call it first in every write transaction: the update locks the owner's
/// counter row (PostgreSQL) or takes the write lock (SQLite) until the
/// transaction ends, so an owner's writes happen one after the other.
pub(crate) fn bump_version(conn: &mut DbConnection, owner: &str) -> Result<i64, DieselError> {
    bump_version_by(conn, owner, 1)
}

/// Bumps the owner's write counter by a block of `count` versions and
/// returns its new value: the transaction owns the versions `value - count
/// + 1 ..= value`. Like [`bump_version`], call it first.
pub(crate) fn bump_version_by(
    conn: &mut DbConnection,
    owner: &str,
    count: i64,
) -> Result<i64, DieselError> {
    if let Some(version) = increment_version(conn, owner, count)? {
        return Ok(version);
    }
    // In a savepoint: if a concurrent first write inserted the row first,
    // only the insert is undone and the counter is bumped after all.
    let inserted = conn.transaction(|conn| {
        diesel::insert_into(owner_versions::table)
            .values((
                owner_versions::owner_id.eq(owner),
                owner_versions::version.eq(count),
            ))
            .execute(conn)
    });
    match inserted {
        Ok(_) => Ok(count),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            increment_version(conn, owner, count)?.ok_or(DieselError::NotFound)
        }
        Err(other) => Err(other),
    }
}

fn increment_version(
    conn: &mut DbConnection,
    owner: &str,
    count: i64,
) -> Result<Option<i64>, DieselError> {
    diesel::update(owner_versions::table.filter(owner_versions::owner_id.eq(owner)))
        .set(owner_versions::version.eq(owner_versions::version + count))
        .returning(owner_versions::version)
        .get_result(conn)
        .optional()
}

/// Checks that the dosing session an entry or intention links to is one of
/// the owner's live sessions.
fn check_links(conn: &mut DbConnection, owner: &str, body: &RecordBody) -> Result<(), ApiError> {
    let linked = match body {
        RecordBody::JournalEntry(entry) => entry.dosing_session_id,
        RecordBody::Intention(intention) => Some(intention.dosing_session_id),
        _ => None,
    };
    let Some(session) = linked else {
        return Ok(());
    };
    let found: i64 = records::table
        .filter(records::id.eq(session.to_string()))
        .filter(records::owner_id.eq(owner))
        .filter(records::kind.eq(RecordKind::DosingSession.as_str()))
        .filter(records::deleted.eq(false))
        .count()
        .get_result(conn)?;
    if found == 0 {
        return Err(InvalidInput::single(
            "dosingSessionId",
            "unknown_session",
            "must name one of your dosing sessions",
        )
        .into());
    }
    Ok(())
}

/// One live record of the owner's, if there is one.
fn live_record(
    conn: &mut DbConnection,
    owner: &str,
    id: RecordId,
) -> Result<Option<Record>, ApiError> {
    records::table
        .filter(records::id.eq(id.to_string()))
        .filter(records::owner_id.eq(owner))
        .filter(records::deleted.eq(false))
        .select(RecordRow::as_select())
        .first(conn)
        .optional()?
        .map(RecordRow::into_record)
        .transpose()
}

/// One page of the owner's live records: the same filters, order and
/// keyset pagination as the phone's store.
fn list_page(
    conn: &mut DbConnection,
    owner: &str,
    query: &ListQuery,
) -> Result<RecordPage, ApiError> {
    let live = records::table
        .filter(records::owner_id.eq(owner.to_owned()))
        .filter(records::deleted.eq(false))
        .into_boxed();
    let rows: Vec<RecordRow> = narrowed(live, query)
        .select(RecordRow::as_select())
        .load(conn)?;
    let (records, next_cursor) = cut_page(rows, query)?;
    Ok(RecordPage {
        records,
        next_cursor,
    })
}

/// Narrows a query of records to what a list asks for — kinds, phase,
/// dates, dosing session, the rows after the cursor — newest first, one
/// page plus one row (which tells whether more follow). The owner's list
/// and the therapist's feed both page through it, so they page alike.
pub(crate) fn narrowed<'a>(
    mut sql: records::BoxedQuery<'a, Db>,
    query: &ListQuery,
) -> records::BoxedQuery<'a, Db> {
    if !query.kinds.is_empty() {
        let kinds: Vec<&'static str> = query.kinds.iter().map(|k| k.as_str()).collect();
        sql = sql.filter(records::kind.eq_any(kinds));
    }
    if let Some(phase) = query.phase {
        sql = sql.filter(records::phase.eq(phase.as_str()));
    }
    if let Some(from) = query.from {
        sql = sql.filter(records::occurred_at.ge(from.timestamp_micros()));
    }
    if let Some(to) = query.to {
        sql = sql.filter(records::occurred_at.lt(to.timestamp_micros()));
    }
    if let Some(session) = query.dosing_session_id {
        sql = sql.filter(records::dosing_session_id.eq(session.to_string()));
    }
    if let Some(cursor) = query.cursor {
        let at = cursor.occurred_at_micros();
        sql = sql.filter(
            records::occurred_at.lt(at).or(records::occurred_at
                .eq(at)
                .and(records::id.lt(cursor.id().to_string()))),
        );
    }
    sql.order((records::occurred_at.desc(), records::id.desc()))
        .limit(i64::from(query.page_size()) + 1)
}

/// Cuts the rows [`narrowed`] read into a page: its records and, when more
/// follow, the cursor after the last one.
pub(crate) fn cut_page(
    mut rows: Vec<RecordRow>,
    query: &ListQuery,
) -> Result<(Vec<Record>, Option<ListCursor>), ApiError> {
    let limit = query.page_size() as usize;
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    let records = rows
        .into_iter()
        .map(RecordRow::into_record)
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if has_more {
        records.last().map(ListCursor::after)
    } else {
        None
    };
    Ok((records, next_cursor))
}

fn new_row<'a>(record: &Record, owner: &'a str, version: i64) -> Result<NewRow<'a>, ApiError> {
    Ok(NewRow {
        id: record.id.to_string(),
        owner_id: owner,
        kind: record.kind().as_str(),
        phase: record.body.phase().map(Phase::as_str),
        dosing_session_id: record
            .body
            .dosing_session_id(record.id)
            .map(|s| s.to_string()),
        occurred_at: record.occurred_at().timestamp_micros(),
        created_at: record.created_at.timestamp_micros(),
        updated_at: record.updated_at.timestamp_micros(),
        hlc: record.hlc.to_i64(),
        deleted: false,
        body: body_json(&record.body)?,
        version,
        origin_device: rest_device().to_string(),
        created_hlc: Some(record.hlc.to_i64()),
        created_device: Some(rest_device().to_string()),
        field_stamps: "{}".to_owned(),
    })
}

/// A live record from its stored row.
fn stored_record(row: &StoredRow) -> Result<Record, ApiError> {
    let body = row
        .content()?
        .ok_or_else(|| ApiError::Internal(format!("record {} is deleted", row.id)))?;
    Ok(Record {
        id: row
            .id
            .parse()
            .map_err(|e| ApiError::Internal(format!("record {}: bad id: {e}", row.id)))?,
        created_at: micros_to_time(row.created_at)?,
        updated_at: micros_to_time(row.updated_at)?,
        hlc: row.stamp()?.hlc,
        body,
    })
}

fn body_json(body: &RecordBody) -> Result<String, ApiError> {
    body.to_json()
        .map_err(|e| ApiError::Internal(format!("content cannot be written as JSON: {e}")))
}

/// An id from the path; one that is not a UUID names no record.
fn parse_record_id(text: &str) -> Result<RecordId, ApiError> {
    text.parse().map_err(|_| not_found())
}

fn not_found() -> ApiError {
    ApiError::NotFound(NOT_FOUND.to_owned())
}

/// Now, at the microsecond precision timestamps are stored with, so what a
/// write answers is what a later read returns.
fn now_time() -> Result<DateTime<Utc>, ApiError> {
    micros_to_time(now_micros())
}

fn micros_to_time(micros: i64) -> Result<DateTime<Utc>, ApiError> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| ApiError::Internal(format!("timestamp {micros} is out of range")))
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
        journal_core::records::DosingSession,
        journal_core::records::Route,
        journal_core::records::SessionStatus,
        journal_core::phase::Phase,
        journal_core::ids::RecordId,
        journal_core::hlc::Hlc,
        journal_core::query::RecordPage,
        journal_core::query::ListCursor,
        journal_core::validation::FieldViolation,
        crate::error::Problem
    )),
    tags((name = "records", description = "A patient's own records: create, read, list, edit, delete"))
)]
pub struct RecordsApi;

//! Therapist review: what a therapist reads of their patients — the list
//! of linked patients, a patient's shared feed, one shared item, the trends
//! timeline. The patient's own log of those reads is [`super::access_log`].
//!
//! - Every read asks the store's access check (`crate::store::access`) on
//!   the request, never a token: a revoked share or an ended link hides the
//!   data on the next request. Only records a share allows are served;
//!   shares themselves never are.
//! - A patient who is not (or no longer) linked to the therapist answers
//!   404 exactly like an unknown id; so does an item that is unshared,
//!   revoked, deleted, another patient's or unknown.
//! - Every record served is written to the audit log (one row per record,
//!   with the share that allowed it) in the transaction of the read, before
//!   the answer: a read that is answered is a read that is logged. The
//!   patient reads that log at `GET /me/access-log`.
//! - The list of patients returns counts, not records, and is not logged.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use journal_core::ids::RecordId;
use journal_core::mbc::{MbcSummary, ScorePoint, mbc_summary};
use journal_core::query::ListCursor;
use journal_core::records::{
    Instrument, Record, RecordBody, RecordKind, Route, SessionStatus, Severity,
};
use journal_core::validation::InvalidInput;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::Therapist;
use super::problem::ApiError;
use super::records::ListParams;
use crate::state::AppState;
use crate::store::records::NOT_FOUND;
use crate::store::review::{self, NO_SUCH_PATIENT, Via};

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Resources (not bare routes) so a known path with the wrong method
    // answers 405, not 404.
    cfg.service(web::resource("/therapist/patients").route(web::get().to(list_patients)))
        .service(web::resource("/therapist/patients/{patientId}/feed").route(web::get().to(feed)))
        .service(
            web::resource("/therapist/patients/{patientId}/records/{recordId}")
                .route(web::get().to(shared_item)),
        )
        .service(
            web::resource("/therapist/patients/{patientId}/timeline")
                .route(web::get().to(timeline)),
        );
}

fn no_such_patient() -> ApiError {
    ApiError::NotFound(NO_SUCH_PATIENT.to_owned())
}

fn no_such_record() -> ApiError {
    ApiError::NotFound(NOT_FOUND.to_owned())
}

/// A patient id from the path, as the tables store it; one that is not a
/// UUID names nobody.
fn parse_patient(text: &str) -> Option<String> {
    Uuid::parse_str(text).ok().map(|id| id.to_string())
}

// ---------------------------------------------------------------------------
// Linked patients
// ---------------------------------------------------------------------------

/// One of the therapist's actively linked patients, with what they share.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkedPatient {
    /// The patient's account id.
    pub id: Uuid,
    /// The name they chose, if any.
    pub display_name: Option<String>,
    /// Their email address.
    pub email: String,
    /// When the patient accepted the therapist's invitation.
    pub linked_at: DateTime<Utc>,
    /// The kinds the patient shares as a whole with this therapist.
    pub shared_kinds: Vec<RecordKind>,
    /// The questionnaires the patient shares by instrument (every PHQ-9,
    /// say, but not the GAD-7s), beside the kinds shared as a whole.
    pub shared_instruments: Vec<journal_core::records::Instrument>,
    /// How many of the patient's records are shared one by one (live
    /// records named by an item share).
    pub shared_items: i64,
    /// How many of this therapist's alerts about the patient are open.
    pub open_alerts: i64,
}

/// Lists the signed-in therapist's actively linked patients, newest link
/// first, with the kinds each shares as a whole, how many items they share
/// one by one, and the open alerts about them.
#[utoipa::path(get, path = "/api/v1/therapist/patients", tag = "therapist",
    responses(
        (status = 200, description = "The linked patients, newest link first", body = Vec<LinkedPatient>),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::NotATherapist,
    ),
    security(("bearer" = [])))]
pub async fn list_patients(
    state: web::Data<AppState>,
    therapist: Therapist,
) -> Result<HttpResponse, ApiError> {
    let me = therapist.id();
    let patients: Vec<LinkedPatient> = state
        .db
        .run(move |conn| review::linked_patients(conn, &me))
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .map(LinkedPatient::from)
        .collect();
    Ok(HttpResponse::Ok().json(patients))
}

// ---------------------------------------------------------------------------
// Feed and items
// ---------------------------------------------------------------------------

/// A record a patient shared, with the share that allows reading it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SharedRecord {
    /// The record, exactly as the patient's own API returns it.
    pub record: Record,
    /// The id of the share that allows this therapist to read it.
    pub shared_by: RecordId,
}

/// One page of what a patient shared.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SharedFeedPage {
    /// The shared records, newest first.
    pub items: Vec<SharedRecord>,
    /// Pass this as `cursor` for the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<ListCursor>,
}

/// What a patient shared with the signed-in therapist, newest first (by
/// the moment each record is about, ties broken by id), one page at a time,
/// with the same filters and cursors as the patient's own list. Each record
/// served is written to the patient's access log (action `feed`).
///
/// A patient who is not linked to this therapist answers 404 exactly like
/// an unknown id; a linked patient who shares nothing gives an empty page.
#[utoipa::path(get, path = "/api/v1/therapist/patients/{patientId}/feed", tag = "therapist",
    params(("patientId" = Uuid, Path, description = "The patient's account id"), ListParams),
    responses(
        (status = 200, description = "One page of shared records", body = SharedFeedPage),
        (status = 400, description = "Unreadable parameters: an unknown kind or phase, a bad date, id or cursor, an unknown parameter",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::NotATherapist,
        (status = 404, description = "No such patient linked to you", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
        (status = 422, description = "A limit outside 1–200, or `to` not after `from`",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn feed(
    state: web::Data<AppState>,
    therapist: Therapist,
    path: web::Path<String>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let patient = parse_patient(&path).ok_or_else(no_such_patient)?;
    let query = params.into_inner().into_query()?;
    let me = therapist.id();
    let page = state
        .db
        .run(move |conn| review::feed(conn, &me, &patient, &query, Via::Api))
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(SharedFeedPage {
        items: page.items.into_iter().map(SharedRecord::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One record a patient shared with the signed-in therapist. Written to the
/// patient's access log (action `item`).
///
/// Anything not shared with this therapist right now — never shared, a
/// revoked share, an ended link, a deleted or unknown record, another
/// patient's — answers the same 404.
#[utoipa::path(get, path = "/api/v1/therapist/patients/{patientId}/records/{recordId}",
    tag = "therapist",
    params(
        ("patientId" = Uuid, Path, description = "The patient's account id"),
        ("recordId" = RecordId, Path, description = "The record's id"),
    ),
    responses(
        (status = 200, description = "The shared record", body = SharedRecord),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::NotATherapist,
        (status = 404, description = "No such record shared with you", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn shared_item(
    state: web::Data<AppState>,
    therapist: Therapist,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (patient, record) = path.into_inner();
    let patient = parse_patient(&patient).ok_or_else(no_such_record)?;
    let record: RecordId = record.parse().map_err(|_| no_such_record())?;
    let me = therapist.id();
    let item = state
        .db
        .run(move |conn| review::shared_item(conn, &me, &patient, record, Via::Api))
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(SharedRecord::from(item)))
}

// ---------------------------------------------------------------------------
// Timeline
// ---------------------------------------------------------------------------

/// The window of `GET /therapist/patients/{patientId}/timeline`. Unknown
/// parameters are refused.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimelineParams {
    /// Only what happened at this moment or later (RFC 3339; percent-encode
    /// the `+` of an offset as `%2B`).
    pub from: Option<DateTime<Utc>>,
    /// Only what happened before this moment (RFC 3339); must be later than
    /// `from`.
    pub to: Option<DateTime<Utc>>,
}

/// A mood check-in on the timeline.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MoodPoint {
    /// The check-in's record.
    pub record_id: RecordId,
    /// When the patient checked in.
    pub recorded_at: DateTime<Utc>,
    /// Mood, 0–10.
    pub mood: u8,
    /// Anxiety, 0–10.
    pub anxiety: u8,
    /// Energy, 0–10.
    pub energy: u8,
    /// Hours slept, when given.
    pub sleep_hours: Option<f64>,
}

/// A questionnaire on the timeline, scored by journal-core.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssessmentPoint {
    /// The questionnaire's record.
    pub record_id: RecordId,
    /// When it was answered.
    pub taken_at: DateTime<Utc>,
    /// PHQ-9 or GAD-7.
    pub instrument: Instrument,
    /// The total.
    pub total: u8,
    /// The severity band of the total.
    pub severity: Severity,
    /// Whether an answer signals risk (PHQ-9 item 9 answered 1 or more).
    pub risk_flag: bool,
}

/// A dosing session marked on the timeline.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionMark {
    /// The session's record.
    pub record_id: RecordId,
    /// When it starts (or started).
    pub scheduled_at: DateTime<Utc>,
    /// How the medicine is given.
    pub route: Route,
    /// Where it stands.
    pub status: SessionStatus,
}

/// The measurement-based-care summary per questionnaire; `null` for one
/// without any shared score in the window.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MbcSummaries {
    /// PHQ-9 (depression).
    #[schema(required = true)]
    pub phq9: Option<MbcSummary>,
    /// GAD-7 (anxiety).
    #[schema(required = true)]
    pub gad7: Option<MbcSummary>,
}

/// A patient's trends: what they shared of check-ins, questionnaires and
/// dosing sessions, oldest first, and the measurement-based-care summary.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    /// Shared mood check-ins, oldest first.
    pub mood_check_ins: Vec<MoodPoint>,
    /// Shared PHQ-9 and GAD-7 totals, oldest first.
    pub assessments: Vec<AssessmentPoint>,
    /// Shared dosing sessions, oldest first.
    pub dosing_sessions: Vec<SessionMark>,
    /// Baseline, latest, change, response and remission per questionnaire,
    /// over the shared scores in the window.
    pub summary: MbcSummaries,
}

/// A patient's trends for the signed-in therapist: the mood check-ins,
/// PHQ-9 and GAD-7 totals (scored by journal-core) and dosing sessions the
/// patient shares, oldest first, in the window `[from, to)` (everything
/// when absent), and per questionnaire the measurement-based-care summary
/// over the window's shared scores: baseline (earliest), latest, change,
/// percent change, response (latest at most half a baseline above 0) and
/// remission (latest below 5). Each record used is written to the patient's
/// access log (action `timeline`).
///
/// A patient who is not linked to this therapist answers 404 exactly like
/// an unknown id.
#[utoipa::path(get, path = "/api/v1/therapist/patients/{patientId}/timeline", tag = "therapist",
    params(("patientId" = Uuid, Path, description = "The patient's account id"), TimelineParams),
    responses(
        (status = 200, description = "The patient's shared trends", body = Timeline),
        (status = 400, description = "Unreadable parameters: a bad date, an unknown parameter",
            body = crate::http::problem::Problem, content_type = "application/problem+json"),
        crate::http::problem::documented::NotSignedIn,
        crate::http::problem::documented::NotATherapist,
        (status = 404, description = "No such patient linked to you", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
        (status = 422, description = "`to` not after `from`", body = crate::http::problem::Problem,
            content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn timeline(
    state: web::Data<AppState>,
    therapist: Therapist,
    path: web::Path<String>,
    params: web::Query<TimelineParams>,
) -> Result<HttpResponse, ApiError> {
    let patient = parse_patient(&path).ok_or_else(no_such_patient)?;
    let window = params.into_inner();
    if let (Some(from), Some(to)) = (window.from, window.to)
        && to <= from
    {
        return Err(InvalidInput::single("to", "after_from", "must be later than from").into());
    }
    let me = therapist.id();
    let shared = state
        .db
        .run(move |conn| {
            review::timeline_records(conn, &me, &patient, window.from, window.to, Via::Api)
        })
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(build_timeline(shared)))
}

/// The timeline of the shared records, scored by journal-core, with the
/// measurement-based-care summary per questionnaire.
fn build_timeline(shared: Vec<review::SharedRecord>) -> Timeline {
    let mut timeline = Timeline {
        mood_check_ins: Vec::new(),
        assessments: Vec::new(),
        dosing_sessions: Vec::new(),
        summary: MbcSummaries {
            phq9: None,
            gad7: None,
        },
    };
    let mut scores: HashMap<Instrument, Vec<ScorePoint>> = HashMap::new();
    for review::SharedRecord { record, .. } in shared {
        let record_id = record.id;
        match record.body {
            RecordBody::MoodCheckIn(check_in) => timeline.mood_check_ins.push(MoodPoint {
                record_id,
                recorded_at: check_in.recorded_at,
                mood: check_in.mood,
                anxiety: check_in.anxiety,
                energy: check_in.energy,
                sleep_hours: check_in.sleep_hours,
            }),
            RecordBody::Assessment(assessment) => match assessment.score() {
                Ok(score) => {
                    scores
                        .entry(assessment.instrument)
                        .or_default()
                        .push(ScorePoint {
                            record_id,
                            taken_at: assessment.taken_at,
                            total: score.total,
                        });
                    timeline.assessments.push(AssessmentPoint {
                        record_id,
                        taken_at: assessment.taken_at,
                        instrument: assessment.instrument,
                        total: score.total,
                        severity: score.severity,
                        risk_flag: score.risk_flag,
                    });
                }
                Err(error) => {
                    tracing::warn!(record = %record_id, %error, "a stored questionnaire cannot be scored");
                }
            },
            RecordBody::DosingSession(session) => timeline.dosing_sessions.push(SessionMark {
                record_id,
                scheduled_at: session.scheduled_at,
                route: session.route,
                status: session.status,
            }),
            _ => {}
        }
    }
    let summary = |instrument| {
        scores
            .get(&instrument)
            .and_then(|points| mbc_summary(instrument, points))
    };
    timeline.summary = MbcSummaries {
        phq9: summary(Instrument::Phq9),
        gad7: summary(Instrument::Gad7),
    };
    timeline
}

impl From<review::LinkedPatient> for LinkedPatient {
    fn from(patient: review::LinkedPatient) -> Self {
        LinkedPatient {
            id: patient.id,
            display_name: patient.display_name,
            email: patient.email,
            linked_at: patient.linked_at,
            shared_kinds: patient.shared_kinds,
            shared_instruments: patient.shared_instruments,
            shared_items: patient.shared_items,
            open_alerts: patient.open_alerts,
        }
    }
}

impl From<review::SharedRecord> for SharedRecord {
    fn from(shared: review::SharedRecord) -> Self {
        SharedRecord {
            record: shared.record,
            shared_by: shared.shared_by,
        }
    }
}

/// Therapist review's part of the OpenAPI document: the therapist's reads
/// (and the tags the patient's access log shares, see
/// [`super::access_log`]).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list_patients, feed, shared_item, timeline),
    components(schemas(
        LinkedPatient,
        SharedRecord,
        SharedFeedPage,
        MoodPoint,
        AssessmentPoint,
        SessionMark,
        MbcSummaries,
        MbcSummary,
        ScorePoint,
        Timeline,
        journal_core::records::Record,
        journal_core::records::RecordKind,
        journal_core::records::Instrument,
        journal_core::records::Severity,
        journal_core::records::Route,
        journal_core::records::SessionStatus,
        journal_core::query::ListCursor,
        journal_core::ids::RecordId,
        crate::http::problem::Problem
    )),
    tags(
        (name = "therapist", description = "What therapists read of their patients' shared records, and their alerts"),
        (name = "privacy", description = "What the patient sees of who read their records, and what the service tells them before they share")
    )
)]
pub struct ReviewApi;

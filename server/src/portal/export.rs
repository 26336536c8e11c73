//! A patient's measures for the clinic's records: a printable summary (the
//! print stylesheet drops the portal's chrome, so the browser's "Save as
//! PDF" gives a clean page) and a CSV of scores and dates. Both read the
//! shared timeline through the same store call as the page, logged as
//! `portal-timeline`.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use chrono::Utc;
use journal_core::mbc::mbc_summary;
use journal_core::records::{Instrument, RecordBody};
use maud::html;

use super::page::{self, Nav, Page};
use super::patient::{Window, linked, measures, range, scores_chart, summary_card};
use super::session::Signed;
use super::{PortalError, chart, patient_id, view};
use crate::state::AppState;
use crate::store::review::{self, LinkedPatient, SharedRecord, Via};

/// The linked patient named by the path and their shared timeline in the
/// window the query asks for (logged), or the page saying why not.
async fn read(
    state: &AppState,
    signed: &Signed,
    path: &str,
    query: Result<web::Query<Window>, actix_web::Error>,
) -> Result<
    (
        uuid::Uuid,
        super::patient::Range,
        LinkedPatient,
        Vec<SharedRecord>,
    ),
    PortalError,
> {
    let id = patient_id(path)?;
    let window = range(query)?;
    let me = signed.therapist();
    let (patient, timeline) = state
        .db
        .run(move |conn| {
            let patient = linked(conn, &me, id)?;
            let timeline = review::timeline_records(
                conn,
                &me,
                &id.to_string(),
                window.from,
                window.to,
                Via::Portal,
            )?;
            Ok::<_, crate::store::StoreError>((patient, timeline))
        })
        .await?;
    Ok((id, window, patient, timeline))
}

/// The printable summary.
pub async fn summary(
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
    query: Result<web::Query<Window>, actix_web::Error>,
) -> Result<HttpResponse, PortalError> {
    let (id, window, patient, timeline) = read(&state, &signed, &path, query).await?;
    let m = measures(&timeline);
    let name = patient
        .display_name
        .clone()
        .unwrap_or_else(|| patient.email.clone());
    let mut scores: Vec<(chrono::DateTime<Utc>, Instrument, u8)> = m
        .phq9
        .iter()
        .map(|p| (p.taken_at, Instrument::Phq9, p.total))
        .chain(
            m.gad7
                .iter()
                .map(|p| (p.taken_at, Instrument::Gad7, p.total)),
        )
        .collect();
    scores.sort_by_key(|s| s.0);
    let body = html! {
        div.actions {
            a.button.secondary href=(format!("/portal/patients/{id}")) { "← Back to the patient" }
        }
        h1 { "Measures summary: " (name) }
        p.small { "Prepared " (view::when(Utc::now())) " from what the patient shares. " (m.sessions.len()) " dosing session" @if m.sessions.len() != 1 { "s" } " shared." }
        div.callouts {
            (summary_card(Instrument::Phq9, mbc_summary(Instrument::Phq9, &m.phq9).as_ref()))
            (summary_card(Instrument::Gad7, mbc_summary(Instrument::Gad7, &m.gad7).as_ref()))
        }
        (chart::render(&scores_chart(&m, &window)))
        h2 { "Scores" }
        @if scores.is_empty() {
            p.small { "No questionnaires shared." }
        } @else {
            table {
                thead { tr { th scope="col" { "Date" } th scope="col" { "Questionnaire" } th.num scope="col" { "Total" } th scope="col" { "Band" } } }
                tbody {
                    @for (at, instrument, total) in &scores {
                        tr { td { (view::when(*at)) } td { (view::instrument(*instrument)) } td.num { (total) } td { (view::band(*instrument, *total)) } }
                    }
                }
            }
        }
        h2 { "Dosing sessions" }
        @if m.sessions.is_empty() {
            p.small { "None shared." }
        } @else {
            ol {
                @for (at, status) in &m.sessions { li { (view::when(*at)) " — " (view::session_status(*status)) } }
            }
        }
    };
    Ok(page::render(
        StatusCode::OK,
        &Page {
            title: "Measures summary",
            user: Some(signed.user()),
            active: Some(Nav::Caseload),
        },
        body,
    ))
}

/// Quotes a CSV field when it needs it; a field a spreadsheet would run
/// as a formula is written as text.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// The CSV of scores and dates: one row per shared questionnaire, oldest
/// first, with its item answers.
pub async fn csv(
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
    query: Result<web::Query<Window>, actix_web::Error>,
) -> Result<HttpResponse, PortalError> {
    let (id, _, _, timeline) = read(&state, &signed, &path, query).await?;
    let mut out = String::from("taken_at,questionnaire,total,band,answers\r\n");
    for shared in &timeline {
        if let RecordBody::Assessment(a) = &shared.record.body
            && let Ok(score) = a.score()
        {
            let answers: Vec<String> = a.answers.iter().map(ToString::to_string).collect();
            out.push_str(&format!(
                "{},{},{},{},{}\r\n",
                a.taken_at.to_rfc3339(),
                view::instrument(a.instrument),
                score.total,
                csv_field(view::band(a.instrument, score.total)),
                csv_field(&answers.join(" ")),
            ));
        }
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"scores-{id}.csv\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(out))
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("mild"), "mild");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
    }
}

//! The alerts inbox: every alert across the caseload, open ones first and
//! newest first, with when the answer was given and what it was (while the
//! patient still shares it); acknowledge, and resolve with a note. Resolved
//! alerts stay listed below. The same store functions as the API's
//! (`store::alerts`), so the same rules hold: names only while the link
//! lasts, each step once, another therapist's alert unknown.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use journal_core::records::RecordBody;
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::page::{self, Nav, Page};
use super::session::{Signed, TokenForm};
use super::{PortalError, see_other, view};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::alerts::{self, AlertState, StoredAlert, Transition};
use crate::store::review::{self, SharedRecord, Via};

/// Alerts listed at most (a caseload with more open alerts than this has a
/// bigger problem than paging).
const MOST: u32 = 200;

/// The PHQ-9's ninth question, as the patient answered it.
const ITEM9: &str = "Thoughts that you would be better off dead, or of hurting yourself";
const ANSWERS: [&str; 4] = [
    "Not at all",
    "Several days",
    "More than half the days",
    "Nearly every day",
];

struct Listed {
    alert: StoredAlert,
    answer: Option<SharedRecord>,
}

/// The inbox.
pub async fn inbox(
    state: web::Data<AppState>,
    signed: Signed,
) -> Result<HttpResponse, PortalError> {
    let me = signed.therapist();
    let listed = state
        .db
        .run(move |conn| {
            let (alerts, _) = alerts::list(conn, &me, None, None, MOST)?;
            alerts
                .into_iter()
                .map(|alert| {
                    // The answer itself, while the patient shares it (and is
                    // linked): a read like any other, logged.
                    let answer = match review::shared_item(
                        conn,
                        &me,
                        &alert.patient_id.to_string(),
                        alert.record_id,
                        Via::Portal,
                    ) {
                        Ok(shared) => Some(shared),
                        Err(StoreError::NotFound(_)) => None,
                        Err(other) => return Err(other),
                    };
                    Ok(Listed { alert, answer })
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })
        .await?;
    Ok(inbox_page(&signed, &listed))
}

fn state_name(state: AlertState) -> &'static str {
    match state {
        AlertState::Open => "open",
        AlertState::Acknowledged => "acknowledged",
        AlertState::Resolved => "resolved",
    }
}

fn answer_view(answer: Option<&SharedRecord>) -> Markup {
    let Some(shared) = answer else {
        return html! { p.small { "The answer is no longer shared with you." } };
    };
    match &shared.record.body {
        RecordBody::Assessment(assessment) => {
            let item9 = assessment.answers.get(8).copied().unwrap_or(0);
            let total = assessment.score().map(|s| s.total).ok();
            html! {
                p { "Questionnaire taken " (view::when(assessment.taken_at)) "." }
                p { "“" (ITEM9) "”: " strong { (ANSWERS.get(usize::from(item9)).copied().unwrap_or("?")) } " (" (item9) ")" }
                @if let Some(total) = total {
                    p.small { (view::instrument(assessment.instrument)) " total " (total) " (" (view::band(assessment.instrument, total)) ")" }
                }
            }
        }
        _ => html! { p.small { "Raised by a shared record." } },
    }
}

fn inbox_page(signed: &Signed, listed: &[Listed]) -> HttpResponse {
    let (resolved, active): (Vec<&Listed>, Vec<&Listed>) = listed
        .iter()
        .partition(|l| l.alert.status == AlertState::Resolved);
    let body = html! {
        h1 { "Alerts" }
        p.lead { "A risk answer (PHQ-9 question 9) a patient shared with you. The patient saw crisis resources on their phone at once." }
        @if active.is_empty() {
            p.empty { "No open alerts." }
        }
        div.alert-list {
            @for listed in &active { (alert_view(signed, listed)) }
        }
        @if !resolved.is_empty() {
            h2 { "Resolved" }
            div.alert-list {
                @for listed in &resolved { (alert_view(signed, listed)) }
            }
        }
    };
    page::render(
        StatusCode::OK,
        &Page {
            title: "Alerts",
            user: Some(signed.user()),
            active: Some(Nav::Alerts),
        },
        body,
    )
}

fn alert_view(signed: &Signed, listed: &Listed) -> Markup {
    let alert = &listed.alert;
    let open = alert.status == AlertState::Open;
    html! {
        article.item.open[open] id=(format!("alert-{}", alert.id)) {
            header {
                h3 {
                    @if let Some(name) = &alert.patient_name {
                        a href=(format!("/portal/patients/{}", alert.patient_id)) { (name) }
                    } @else {
                        a href=(format!("/portal/patients/{}", alert.patient_id)) { "A patient" }
                    }
                }
                span.badge.alert[open] { (state_name(alert.status)) }
                span.meta { "raised " (view::when(alert.created_at)) }
            }
            (answer_view(listed.answer.as_ref()))
            @if let Some(at) = alert.acknowledged_at { p.meta { "Acknowledged " (view::when(at)) } }
            @if let Some(at) = alert.resolved_at {
                p.meta { "Resolved " (view::when(at)) }
                @if let Some(note) = &alert.note { p { strong { "Note: " } (note) } }
            }
            @if alert.status != AlertState::Resolved {
                div.actions {
                    @if open {
                        form method="post" action=(format!("/portal/alerts/{}/acknowledge", alert.id)) {
                            input type="hidden" name="csrf" value=(signed.session.csrf_token);
                            button type="submit" { "Acknowledge" }
                        }
                    }
                    form method="post" action=(format!("/portal/alerts/{}/resolve", alert.id)) {
                        input type="hidden" name="csrf" value=(signed.session.csrf_token);
                        label for=(format!("note-{}", alert.id)) { "Note on resolving (optional)" }
                        textarea id=(format!("note-{}", alert.id)) name="note" maxlength="2000" {}
                        button.secondary type="submit" { "Resolve" }
                    }
                }
            }
        }
    }
}

fn alert_id(text: &str) -> Result<Uuid, PortalError> {
    Uuid::parse_str(text).map_err(|_| PortalError::NotFound("no such alert".to_owned()))
}

/// Acknowledges an open alert.
pub async fn acknowledge(
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, PortalError> {
    signed.check_form(&form.csrf)?;
    let id = alert_id(&path)?;
    let me = signed.therapist();
    state
        .db
        .run(move |conn| alerts::advance(conn, &me, id, Transition::Acknowledge))
        .await?;
    Ok(see_other(&format!("/portal/alerts#alert-{id}")))
}

/// The resolve form's fields.
#[derive(Debug, Deserialize)]
pub struct ResolveForm {
    csrf: String,
    #[serde(default)]
    note: String,
}

/// Resolves an alert, with a note when one is written.
pub async fn resolve(
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
    form: web::Form<ResolveForm>,
) -> Result<HttpResponse, PortalError> {
    signed.check_form(&form.csrf)?;
    let id = alert_id(&path)?;
    let note = crate::http::alerts::check_note(form.into_inner().note)
        .map_err(|invalid| PortalError::Invalid(format!("The note cannot be saved: {invalid}")))?;
    let me = signed.therapist();
    state
        .db
        .run(move |conn| alerts::advance(conn, &me, id, Transition::Resolve(note)))
        .await?;
    Ok(see_other(&format!("/portal/alerts#alert-{id}")))
}

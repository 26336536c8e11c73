//! The landing page: every linked patient with what needs attention first
//! — open alerts, the latest PHQ-9 and GAD-7 with their band and change
//! since baseline, the last dosing session, what is new since the
//! therapist last looked — sortable by each; and the way to invite a
//! patient.

use std::cmp::Reverse;
use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use journal_core::mbc::{MbcSummary, ScorePoint, mbc_summary};
use journal_core::records::{Instrument, RecordBody};
use maud::{Markup, html};
use serde::Deserialize;

use super::page::{self, Nav, Page};
use super::session::{Signed, TokenForm};
use super::{PortalError, view};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::care::{self, Invitation, InvitationState, NewInvitation};
use crate::store::caseload::{self as store_caseload, CaseloadEntry};

/// One row of the caseload, as the page shows it.
struct Row {
    entry: CaseloadEntry,
    phq9: Option<MbcSummary>,
    gad7: Option<MbcSummary>,
    last_session: Option<DateTime<Utc>>,
}

impl Row {
    fn name(&self) -> &str {
        self.entry
            .patient
            .display_name
            .as_deref()
            .unwrap_or(&self.entry.patient.email)
    }
}

fn row(entry: CaseloadEntry) -> Row {
    let mut scores: HashMap<Instrument, Vec<ScorePoint>> = HashMap::new();
    let mut last_session: Option<DateTime<Utc>> = None;
    for shared in &entry.measures {
        match &shared.record.body {
            RecordBody::Assessment(assessment) => {
                if let Ok(score) = assessment.score() {
                    scores
                        .entry(assessment.instrument)
                        .or_default()
                        .push(ScorePoint {
                            record_id: shared.record.id,
                            taken_at: assessment.taken_at,
                            total: score.total,
                        });
                }
            }
            RecordBody::DosingSession(session)
                if session.status == journal_core::records::SessionStatus::Completed =>
            {
                last_session = Some(
                    last_session.map_or(session.scheduled_at, |l| l.max(session.scheduled_at)),
                );
            }
            _ => {}
        }
    }
    let summary = |instrument| {
        scores
            .get(&instrument)
            .and_then(|points| mbc_summary(instrument, points))
    };
    Row {
        phq9: summary(Instrument::Phq9),
        gad7: summary(Instrument::Gad7),
        last_session,
        entry,
    }
}

/// How the caseload is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Sort {
    /// Open alerts first, then what is new, then by name.
    #[default]
    Attention,
    /// By name.
    Name,
    /// Highest latest PHQ-9 first.
    Phq9,
    /// Highest latest GAD-7 first.
    Gad7,
    /// Most recent dosing session first.
    Session,
    /// Most new items first.
    New,
}

/// `?sort=` on the caseload; anything else is refused with a page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseloadQuery {
    #[serde(default)]
    sort: Sort,
}

fn sort_rows(rows: &mut [Row], sort: Sort) {
    let by_name = |a: &Row, b: &Row| a.name().to_lowercase().cmp(&b.name().to_lowercase());
    let latest = |s: &Option<MbcSummary>| s.as_ref().map(|s| s.latest.total);
    match sort {
        Sort::Attention => rows.sort_by(|a, b| {
            Reverse(a.entry.patient.open_alerts)
                .cmp(&Reverse(b.entry.patient.open_alerts))
                .then(Reverse(a.entry.new_since_visit).cmp(&Reverse(b.entry.new_since_visit)))
                .then_with(|| by_name(a, b))
        }),
        Sort::Name => rows.sort_by(by_name),
        Sort::Phq9 => rows.sort_by(|a, b| {
            Reverse(latest(&a.phq9))
                .cmp(&Reverse(latest(&b.phq9)))
                .then_with(|| by_name(a, b))
        }),
        Sort::Gad7 => rows.sort_by(|a, b| {
            Reverse(latest(&a.gad7))
                .cmp(&Reverse(latest(&b.gad7)))
                .then_with(|| by_name(a, b))
        }),
        Sort::Session => rows.sort_by(|a, b| {
            Reverse(a.last_session)
                .cmp(&Reverse(b.last_session))
                .then_with(|| by_name(a, b))
        }),
        Sort::New => rows.sort_by(|a, b| {
            Reverse(a.entry.new_since_visit)
                .cmp(&Reverse(b.entry.new_since_visit))
                .then_with(|| by_name(a, b))
        }),
    }
}

/// The caseload.
pub async fn show(
    state: web::Data<AppState>,
    signed: Signed,
    query: Result<web::Query<CaseloadQuery>, actix_web::Error>,
) -> Result<HttpResponse, PortalError> {
    let sort = query
        .map_err(|_| {
            PortalError::Invalid(
                "The caseload sorts by attention, name, phq9, gad7, session or new.".to_owned(),
            )
        })?
        .sort;
    let me = signed.therapist();
    let (entries, invitations) = state
        .db
        .run(move |conn| {
            let entries = store_caseload::caseload(conn, &me)?;
            let invitations = care::invitations(conn, &me)?;
            Ok::<_, StoreError>((entries, invitations))
        })
        .await?;
    let mut rows: Vec<Row> = entries.into_iter().map(row).collect();
    sort_rows(&mut rows, sort);
    Ok(caseload_page(&signed, &rows, sort, &invitations, None))
}

fn sort_header(label: &str, key: Sort, slug: &str, current: Sort, numeric: bool) -> Markup {
    let sorted = key == current;
    html! {
        th scope="col" class=[numeric.then_some("num")] aria-sort=[sorted.then_some("descending")] {
            @if sorted {
                (label) span.visually-hidden { " (sorted)" }
            } @else {
                a href=(format!("/portal?sort={slug}")) { (label) span.visually-hidden { ": sort by this" } }
            }
        }
    }
}

fn score_cell(summary: Option<&MbcSummary>, instrument: Instrument) -> Markup {
    html! {
        td {
            @if let Some(s) = summary {
                strong { (s.latest.total) }
                " " span.band { (view::band(instrument, s.latest.total)) }
                br;
                span.small { "since baseline: " (view::change(s)) }
                @if let Some(outcome) = view::outcome(s) { " " span.badge.ok { (outcome) } }
            } @else {
                span.small { "none shared" }
            }
        }
    }
}

fn caseload_page(
    signed: &Signed,
    rows: &[Row],
    sort: Sort,
    invitations: &[Invitation],
    created: Option<&NewInvitation>,
) -> HttpResponse {
    let pending: Vec<&Invitation> = invitations
        .iter()
        .filter(|i| i.status == InvitationState::Pending)
        .collect();
    let body = html! {
        h1 { "Caseload" }
        @if let Some(created) = created {
            section.card role="status" {
                h2 { "A new invitation code" }
                p { "Give this code to your patient. They enter it in the app under “Link with my therapist”." }
                p { span.code { (created.code) } }
                p.small { "It works once, until " (view::when(created.expires_at)) "." }
            }
        }
        @if rows.is_empty() {
            section.empty {
                h2 { "No patients yet" }
                p { "Patients appear here once they link with you. To invite one, make an invitation code and give it to them: they enter it in the journal app, and choose what to share with you." }
                (invite_form(signed))
            }
        } @else {
            p.lead { (rows.len()) " linked patient" @if rows.len() != 1 { "s" } ". Only what each one shares with you is counted." }
            table.caseload {
                caption.visually-hidden { "Your linked patients" }
                thead {
                    tr {
                        (sort_header("Patient", Sort::Name, "name", sort, false))
                        (sort_header("Open alerts", Sort::Attention, "attention", sort, true))
                        (sort_header("PHQ-9", Sort::Phq9, "phq9", sort, false))
                        (sort_header("GAD-7", Sort::Gad7, "gad7", sort, false))
                        (sort_header("Last dosing session", Sort::Session, "session", sort, false))
                        (sort_header("New since you last looked", Sort::New, "new", sort, true))
                        th scope="col" { "Care plan, last 30 days" }
                    }
                }
                tbody {
                    @for row in rows {
                        tr class=[(row.entry.patient.open_alerts > 0).then_some("attention")] {
                            th scope="row" {
                                a href=(format!("/portal/patients/{}", row.entry.patient.id)) { (row.name()) }
                                @if row.entry.patient.display_name.is_some() {
                                    br; span.small { (row.entry.patient.email) }
                                }
                            }
                            td.num {
                                @if row.entry.patient.open_alerts > 0 {
                                    span.badge.alert { (row.entry.patient.open_alerts) " open" }
                                } @else { "0" }
                            }
                            (score_cell(row.phq9.as_ref(), Instrument::Phq9))
                            (score_cell(row.gad7.as_ref(), Instrument::Gad7))
                            td {
                                @if let Some(at) = row.last_session { (view::day(at)) }
                                @else { span.small { "none shared" } }
                            }
                            td.num {
                                @if row.entry.new_since_visit > 0 {
                                    span.badge.new { (row.entry.new_since_visit) " new" }
                                } @else { "0" }
                            }
                            td {
                                @if let Some(found) = &row.entry.adherence {
                                    ul.tallies {
                                        @for (label, text) in super::plan::adherence_lines(found) {
                                            li { (label) ": " (text) }
                                        }
                                    }
                                } @else { span.small { "no plan" } }
                            }
                        }
                    }
                }
            }
            section {
                h2 { "Invite a patient" }
                (invite_form(signed))
            }
        }
        @if !pending.is_empty() {
            section {
                h2 { "Invitations waiting" }
                p.small { "Codes are shown once, when made; these are still unused." }
                ul {
                    @for invitation in &pending {
                        li { "Made " (view::when(invitation.created_at)) ", works until " (view::when(invitation.expires_at)) }
                    }
                }
            }
        }
    };
    page::render(
        if created.is_some() {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        &Page {
            title: "Caseload",
            user: Some(signed.user()),
            active: Some(Nav::Caseload),
        },
        body,
    )
}

fn invite_form(signed: &Signed) -> Markup {
    html! {
        form method="post" action="/portal/invitations" {
            input type="hidden" name="csrf" value=(signed.session.csrf_token);
            button type="submit" { "Make an invitation code" }
        }
    }
}

/// Makes an invitation code and shows it (once) on the caseload.
pub async fn invite(
    state: web::Data<AppState>,
    signed: Signed,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, PortalError> {
    signed.check_form(&form.csrf)?;
    let me = signed.therapist();
    let lifetime = i64::try_from(state.invitation_lifetime.as_micros()).unwrap_or(i64::MAX);
    let (created, entries, invitations) = state
        .db
        .run(move |conn| {
            let created = care::invite(conn, &me, lifetime)?;
            let entries = store_caseload::caseload(conn, &me)?;
            let invitations = care::invitations(conn, &me)?;
            Ok::<_, StoreError>((created, entries, invitations))
        })
        .await?;
    let mut rows: Vec<Row> = entries.into_iter().map(row).collect();
    sort_rows(&mut rows, Sort::Attention);
    Ok(caseload_page(
        &signed,
        &rows,
        Sort::Attention,
        &invitations,
        Some(&created),
    ))
}

//! One patient's page: PHQ-9 and GAD-7 over the course of dosing sessions
//! (severity bands shaded, each session a labelled line, response and
//! remission called out), check-ins on the same time axis, and what the
//! patient shared — entries with the prompt they answer, intentions with
//! their reflections, grounding practices with distress before and after —
//! newest first, with "new since you last looked" marked and the
//! therapist's own comments, which can be added, edited and deleted here,
//! with the patient's replies to them.
//! Only what the patient shares, exactly as the API decides (`review`).

use std::collections::{HashMap, HashSet};

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use journal_core::comments::Comment;
use journal_core::ids::RecordId;
use journal_core::mbc::{MbcSummary, ScorePoint, mbc_summary};
use journal_core::query::{ListCursor, ListQuery};
use journal_core::records::{Instrument, Record, RecordBody, RecordKind, SessionStatus};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::chart::{self, Band, Chart, Event, Series, Shape};
use super::page::{self, Nav, Page};
use super::session::Signed;
use super::{PortalError, patient_id, view};
use crate::state::AppState;
use crate::store::review::{self, LinkedPatient, SharedRecord, Via};
use crate::store::{access, comments, portal};

/// Shared items listed per page.
const ITEMS_PER_PAGE: u32 = 30;

/// The kinds listed as items (the others are drawn in the charts).
const LISTED: [RecordKind; 4] = [
    RecordKind::JournalEntry,
    RecordKind::Intention,
    RecordKind::Commitment,
    RecordKind::ExercisePractice,
];

/// `?from=&to=&before=` on a patient's page.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    from: Option<String>,
    to: Option<String>,
    before: Option<String>,
}

/// The window read: `[from, to)` as moments, and where the item list
/// continues.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Range {
    pub(crate) from: Option<DateTime<Utc>>,
    pub(crate) to: Option<DateTime<Utc>>,
    pub(crate) before: Option<ListCursor>,
}

fn date(field: &str, text: Option<&str>) -> Result<Option<NaiveDate>, PortalError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| {
                PortalError::Invalid(format!(
                    "“{field}” must be a date like 2026-01-31, not “{}”.",
                    text.chars().take(40).collect::<String>()
                ))
            }),
    }
}

/// Reads the window: dates as whole days (`to` included), a cursor as the
/// list wrote it. Refused with a page that says what is wrong.
pub(crate) fn range(
    query: Result<web::Query<Window>, actix_web::Error>,
) -> Result<Range, PortalError> {
    let window = query
        .map_err(|_| {
            PortalError::Invalid(
                "This page takes “from” and “to” (dates like 2026-01-31) and nothing else."
                    .to_owned(),
            )
        })?
        .into_inner();
    let from = date("from", window.from.as_deref())?;
    let to = date("to", window.to.as_deref())?;
    if let (Some(from), Some(to)) = (from, to)
        && to < from
    {
        return Err(PortalError::Invalid(
            "“to” must be the same day as “from” or later.".to_owned(),
        ));
    }
    let before = match window.before.as_deref() {
        None | Some("") => None,
        Some(text) => Some(text.parse::<ListCursor>().map_err(|_| {
            PortalError::Invalid(
                "That link to older items is broken; start again from the patient's page."
                    .to_owned(),
            )
        })?),
    };
    let start = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    Ok(Range {
        from: from.and_then(start),
        to: to.and_then(|d| start(d).map(|t| t + TimeDelta::days(1))),
        before,
    })
}

/// Everything a patient's page shows.
struct Seen {
    patient: LinkedPatient,
    timeline: Vec<SharedRecord>,
    items: Vec<SharedRecord>,
    next: Option<ListCursor>,
    new: HashSet<RecordId>,
    last_visit: Option<DateTime<Utc>>,
    comments: HashMap<RecordId, Vec<Comment>>,
    plan: Option<crate::store::care_plans::StoredPlan>,
    adherence: Option<crate::store::adherence::PlanAdherence>,
}

/// The linked patient `id` of the therapist's, or `NotFound`.
pub(crate) fn linked(
    conn: &mut crate::store::DbConnection,
    therapist: &str,
    id: Uuid,
) -> Result<LinkedPatient, crate::store::StoreError> {
    review::linked_patient(conn, therapist, id)
}

/// A patient's page.
pub async fn show(
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
    query: Result<web::Query<Window>, actix_web::Error>,
) -> Result<HttpResponse, PortalError> {
    let id = patient_id(&path)?;
    let range = range(query)?;
    let therapist = signed.session.therapist;
    let me = signed.therapist();
    let seen = state
        .db
        .run(move |conn| {
            let patient = linked(conn, &me, id)?;
            let pid = id.to_string();
            let timeline =
                review::timeline_records(conn, &me, &pid, range.from, range.to, Via::Portal)?;
            let list = ListQuery {
                kinds: LISTED.to_vec(),
                from: range.from,
                to: range.to,
                limit: Some(ITEMS_PER_PAGE),
                cursor: range.before,
                ..ListQuery::all()
            };
            let page = review::feed(conn, &me, &pid, &list, Via::Portal)?;
            let grants = access::grants(conn, &me, &pid)?.unwrap_or_default();
            let visit = portal::last_visit(conn, therapist, id)?;
            let new = review::changed_since(conn, &pid, &grants, visit.map(|v| v.seen_version))?;
            let ids: Vec<RecordId> = page.items.iter().map(|i| i.record.id).collect();
            let mut by_record: HashMap<RecordId, Vec<Comment>> = HashMap::new();
            for comment in comments::own_on_records(conn, &me, &pid, &ids)? {
                by_record
                    .entry(comment.record_id)
                    .or_default()
                    .push(comment);
            }
            let plan = crate::store::care_plans::own(conn, &me, &pid)
                .map(Some)
                .or_else(|e| match e {
                    crate::store::StoreError::NotFound(_) => Ok(None),
                    other => Err(other),
                })?;
            let adherence = crate::store::adherence::of_patients(
                conn,
                &me,
                &[(pid.clone(), &grants)],
                Utc::now(),
            )?
            .remove(&pid);
            portal::visit(conn, therapist, id)?;
            Ok::<_, crate::store::StoreError>(Seen {
                patient,
                timeline,
                items: page.items,
                next: page.next_cursor,
                new: new.into_iter().collect(),
                last_visit: visit.map(|v| v.at),
                comments: by_record,
                plan,
                adherence,
            })
        })
        .await?;
    Ok(patient_page(&signed, &seen, &range))
}

/// The scores, check-ins and sessions of a timeline, ready to draw.
pub(crate) struct Measures {
    pub(crate) phq9: Vec<ScorePoint>,
    pub(crate) gad7: Vec<ScorePoint>,
    pub(crate) mood: Vec<(DateTime<Utc>, [f64; 3], Option<f64>)>,
    pub(crate) sessions: Vec<(DateTime<Utc>, SessionStatus)>,
}

pub(crate) fn measures(timeline: &[SharedRecord]) -> Measures {
    let mut m = Measures {
        phq9: Vec::new(),
        gad7: Vec::new(),
        mood: Vec::new(),
        sessions: Vec::new(),
    };
    for shared in timeline {
        match &shared.record.body {
            RecordBody::Assessment(a) => {
                if let Ok(score) = a.score() {
                    let point = ScorePoint {
                        record_id: shared.record.id,
                        taken_at: a.taken_at,
                        total: score.total,
                    };
                    match a.instrument {
                        Instrument::Phq9 => m.phq9.push(point),
                        Instrument::Gad7 => m.gad7.push(point),
                    }
                }
            }
            RecordBody::MoodCheckIn(c) => m.mood.push((
                c.recorded_at,
                [f64::from(c.mood), f64::from(c.anxiety), f64::from(c.energy)],
                c.sleep_hours,
            )),
            RecordBody::DosingSession(s) if s.status != SessionStatus::Cancelled => {
                m.sessions.push((s.scheduled_at, s.status));
            }
            _ => {}
        }
    }
    m.phq9.sort_by_key(|p| p.taken_at);
    m.gad7.sort_by_key(|p| p.taken_at);
    m.mood.sort_by_key(|p| p.0);
    m.sessions.sort_by_key(|s| s.0);
    m
}

fn session_events(m: &Measures) -> Vec<Event> {
    m.sessions
        .iter()
        .enumerate()
        .map(|(i, (at, status))| Event {
            at: *at,
            label: format!("D{}", i + 1),
            title: format!(
                "Dosing session {} ({}), {}",
                i + 1,
                view::session_status(*status),
                view::day(*at)
            ),
        })
        .collect()
}

/// The common time axis of both charts.
fn window(m: &Measures, range: &Range) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let times: Vec<DateTime<Utc>> = m
        .phq9
        .iter()
        .chain(&m.gad7)
        .map(|p| p.taken_at)
        .chain(m.mood.iter().map(|p| p.0))
        .chain(m.sessions.iter().map(|s| s.0))
        .collect();
    let from = range.from.or_else(|| times.iter().min().copied())?;
    let to = range.to.or_else(|| times.iter().max().copied())?;
    Some((from, to.max(from)))
}

const PHQ9_BANDS: [(f64, f64, &str, &str); 5] = [
    (0.0, 4.0, "minimal", "#f4f6f4"),
    (5.0, 9.0, "mild", "#eef0e6"),
    (10.0, 14.0, "moderate", "#f6eedd"),
    (15.0, 19.0, "mod. severe", "#f6e3d6"),
    (20.0, 27.0, "severe", "#f3d8d3"),
];

pub(crate) fn scores_chart(m: &Measures, range: &Range) -> Chart {
    let points = |scores: &[ScorePoint]| {
        scores
            .iter()
            .map(|p| (p.taken_at, f64::from(p.total)))
            .collect::<Vec<_>>()
    };
    Chart {
        id: "scores-chart",
        title: "PHQ-9 and GAD-7 totals over time".to_owned(),
        y_label: "Total score",
        y_max: 27.0,
        y_ticks: vec![0.0, 5.0, 10.0, 15.0, 20.0, 25.0],
        bands: PHQ9_BANDS
            .iter()
            .map(|(from, to, label, shade)| Band {
                from: *from,
                to: *to,
                label,
                shade,
            })
            .collect(),
        series: vec![
            Series {
                label: "PHQ-9".to_owned(),
                shape: Shape::Circle,
                dash: None,
                colour: "#1f4e79",
                points: points(&m.phq9),
            },
            Series {
                label: "GAD-7".to_owned(),
                shape: Shape::Square,
                dash: Some("7 4"),
                colour: "#9a4a00",
                points: points(&m.gad7),
            },
        ],
        events: session_events(m),
        window: window(m, range),
    }
}

fn check_ins_chart(m: &Measures, range: &Range) -> Chart {
    let series = |index: usize, label: &str, shape, dash, colour| Series {
        label: label.to_owned(),
        shape,
        dash,
        colour,
        points: m.mood.iter().map(|p| (p.0, p.1[index])).collect(),
    };
    Chart {
        id: "check-ins-chart",
        title: "Check-ins: mood, anxiety and energy (0–10), sleep (hours)".to_owned(),
        y_label: "0–10 · hours",
        y_max: 12.0,
        y_ticks: vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0],
        bands: Vec::new(),
        series: vec![
            series(0, "Mood", Shape::Circle, None, "#1f4e79"),
            series(1, "Anxiety", Shape::Square, Some("7 4"), "#9a4a00"),
            series(2, "Energy", Shape::Triangle, Some("2 3"), "#2d6a3e"),
            Series {
                label: "Sleep (hours)".to_owned(),
                shape: Shape::Diamond,
                dash: Some("10 3 2 3"),
                colour: "#5b3a8c",
                points: m
                    .mood
                    .iter()
                    .filter_map(|p| p.2.map(|h| (p.0, h)))
                    .collect(),
            },
        ],
        events: session_events(m),
        window: window(m, range),
    }
}

pub(crate) fn summary_card(instrument: Instrument, summary: Option<&MbcSummary>) -> Markup {
    html! {
        div.card {
            h3 { (view::instrument(instrument)) }
            @if let Some(s) = summary {
                p {
                    "Latest " strong { (s.latest.total) } " (" (view::band(instrument, s.latest.total)) ") on " (view::day(s.latest.taken_at))
                }
                p { "Since baseline (" (view::day(s.baseline.taken_at)) "): " (view::change(s)) }
                @match view::outcome(s) {
                    Some("remission") => p { span.badge.ok { "Remission" } " latest below 5" },
                    Some(_) => p { span.badge.ok { "Response" } " at least 50 % lower than baseline" },
                    None => p.small { "Neither response (≥ 50 % lower) nor remission (below 5) yet." },
                }
                p.small { (s.count) " shared" }
            } @else {
                p.small { "None shared in this period." }
            }
        }
    }
}

fn patient_name(patient: &LinkedPatient) -> &str {
    patient.display_name.as_deref().unwrap_or(&patient.email)
}

fn patient_page(signed: &Signed, seen: &Seen, range: &Range) -> HttpResponse {
    let m = measures(&seen.timeline);
    let phq9 = mbc_summary(Instrument::Phq9, &m.phq9);
    let gad7 = mbc_summary(Instrument::Gad7, &m.gad7);
    let base = format!("/portal/patients/{}", seen.patient.id);
    let day_value = |t: Option<DateTime<Utc>>, end: bool| {
        t.map(|t| {
            let t = if end { t - TimeDelta::days(1) } else { t };
            t.format("%Y-%m-%d").to_string()
        })
        .unwrap_or_default()
    };
    let filter_query = {
        let mut parts = Vec::new();
        if let Some(from) = range.from {
            parts.push(format!("from={}", from.format("%Y-%m-%d")));
        }
        if let Some(to) = range.to {
            parts.push(format!(
                "to={}",
                (to - TimeDelta::days(1)).format("%Y-%m-%d")
            ));
        }
        parts.join("&")
    };
    let body = html! {
        p.small { a href="/portal" { "← Caseload" } }
        h1 { (patient_name(&seen.patient)) }
        dl.facts {
            dt { "Email" } dd { (seen.patient.email) }
            dt { "Linked since" } dd { (view::day(seen.patient.linked_at)) }
            dt { "Your last look" } dd {
                @if let Some(at) = seen.last_visit { (view::when(at)) } @else { "this is your first" }
            }
            dt { "Open alerts" } dd {
                @if seen.patient.open_alerts > 0 {
                    span.badge.alert { (seen.patient.open_alerts) " open" } " " a href="/portal/alerts" { "See the alerts" }
                } @else { "none" }
            }
        }
        div.actions {
            a.button.secondary href=(format!("{base}/summary")) { "Printable summary" }
            a.button.secondary href=(format!("{base}/scores.csv")) { "Scores as CSV" }
        }
        (super::plan::section(signed, seen.patient.id, seen.plan.as_ref(), seen.adherence.as_ref()))
        form.inline method="get" action=(base) aria-label="Date range" {
            div { label for="from" { "From" } input #from type="date" name="from" value=(day_value(range.from, false)); }
            div { label for="to" { "To" } input #to type="date" name="to" value=(day_value(range.to, true)); }
            div { button type="submit" { "Show this period" } }
            @if range.from.is_some() || range.to.is_some() { div { a href=(base) { "All time" } } }
        }
        h2 { "Questionnaires" }
        div.callouts {
            (summary_card(Instrument::Phq9, phq9.as_ref()))
            (summary_card(Instrument::Gad7, gad7.as_ref()))
        }
        (chart::render(&scores_chart(&m, range)))
        h2 { "Check-ins" }
        @if m.mood.is_empty() {
            p.small { "No check-ins shared in this period." }
        } @else {
            (chart::render(&check_ins_chart(&m, range)))
        }
        h2 { "What " (patient_name(&seen.patient)) " shared" }
        @if seen.items.is_empty() {
            p.small { "No journal entries, intentions, commitments or grounding practices shared in this period." }
        }
        @for item in &seen.items {
            (item_view(signed, seen, item))
        }
        @if let Some(next) = seen.next {
            p {
                a href=(format!("{base}?{}{}before={next}", filter_query, if filter_query.is_empty() { "" } else { "&" })) { "Older items →" }
            }
        }
    };
    page::render(
        StatusCode::OK,
        &Page {
            title: patient_name(&seen.patient),
            user: Some(signed.user()),
            active: Some(Nav::Caseload),
        },
        body,
    )
}

/// The text of a shared intention listed on this page, if it is.
fn intention_text(seen: &Seen, id: journal_core::RecordId) -> Option<&str> {
    seen.items.iter().find_map(|item| match &item.record.body {
        RecordBody::Intention(intention) if item.record.id == id => Some(intention.text.as_str()),
        _ => None,
    })
}

fn item_view(signed: &Signed, seen: &Seen, item: &SharedRecord) -> Markup {
    let record: &Record = &item.record;
    let is_new = seen.new.contains(&record.id);
    let base = format!("/portal/patients/{}", seen.patient.id);
    html! {
        article.item id=(format!("item-{}", record.id)) {
            header {
                h3 { (view::kind(record.kind())) }
                span.meta { (view::when(record.occurred_at())) }
                @if is_new { span.badge.new { "New since your last look" } }
            }
            @match &record.body {
                RecordBody::JournalEntry(entry) => {
                    p.meta { "Phase: " (entry.phase.as_str()) }
                    @if let Some(prompt) = entry.prompt_id.as_deref().and_then(journal_core::prompts::find) {
                        p.prompt { "Answering: “" (prompt.text) "”" }
                    }
                    @if let Some(title) = &entry.title { p { strong { (title) } } }
                    p.text { (entry.body) }
                    @if !entry.tags.is_empty() { p.meta { "Tags: " (entry.tags.join(", ")) } }
                }
                RecordBody::Intention(intention) => {
                    p.text { (intention.text) }
                    p.meta { "Status: " (view::intention_status(intention.status)) }
                    @if let Some(reflection) = &intention.reflection {
                        p { strong { "How it went: " } (reflection.how_it_went) }
                        p { strong { "To carry forward: " } (reflection.carry_forward) }
                    }
                }
                RecordBody::Commitment(commitment) => {
                    p.text { (commitment.text) }
                    p.meta {
                        "Follow up on " (commitment.follow_up_on.format("%-d %b %Y").to_string())
                        " · " (view::commitment_status(commitment.status))
                    }
                    @if let Some(note) = &commitment.note { p { strong { "Note: " } (note) } }
                    @if let Some(intention_id) = commitment.intention_id {
                        @match intention_text(seen, intention_id) {
                            Some(text) => p.prompt {
                                "From the intention: "
                                a href=(format!("#item-{intention_id}")) { "“" (text) "”" }
                            },
                            None => p.meta { "Carries on an intention not shown on this page." },
                        }
                    }
                }
                RecordBody::ExercisePractice(practice) => {
                    @let name = journal_core::grounding::find(&practice.exercise_id).map_or(practice.exercise_id.as_str(), |e| e.name);
                    p { (name) }
                    p { "Distress before " strong { (practice.distress_before) } ", after " strong { (practice.distress_after) } " (0–10)" }
                    p.meta { (practice.steps_completed) " steps completed" }
                }
                _ => { p.meta { "Shown in the charts above." } }
            }
            section.comments aria-label="Your comments and the patient's replies" {
                @for comment in seen.comments.get(&record.id).map(Vec::as_slice).unwrap_or(&[]) {
                    @if comment.from_patient {
                        div.comment.reply {
                            p.text { (comment.text) }
                            p.meta { (comment.author) " replied, " (view::when(comment.created_at)) @if comment.updated_at != comment.created_at { " (edited)" } }
                        }
                    } @else {
                        div.comment {
                            p.text { (comment.text) }
                            p.meta { "You, " (view::when(comment.created_at)) @if comment.updated_at != comment.created_at { " (edited)" } }
                            details {
                                summary { "Edit or delete" }
                                form method="post" action=(format!("{base}/comments/{}", comment.id)) {
                                    input type="hidden" name="csrf" value=(signed.session.csrf_token);
                                    label for=(format!("edit-{}", comment.id)) { "Your comment" }
                                    textarea id=(format!("edit-{}", comment.id)) name="text" maxlength="2000" required { (comment.text) }
                                    button type="submit" { "Save" }
                                }
                                form method="post" action=(format!("{base}/comments/{}/delete", comment.id)) {
                                    input type="hidden" name="csrf" value=(signed.session.csrf_token);
                                    button.danger type="submit" { "Delete this comment" }
                                }
                            }
                        }
                    }
                }
                form method="post" action=(format!("{base}/records/{}/comments", record.id)) {
                    input type="hidden" name="csrf" value=(signed.session.csrf_token);
                    label for=(format!("comment-{}", record.id)) { "Add a comment (the patient sees it in the app)" }
                    textarea id=(format!("comment-{}", record.id)) name="text" maxlength="2000" required {}
                    button type="submit" { "Add comment" }
                }
            }
        }
    }
}

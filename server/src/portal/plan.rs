//! The care plan on a patient's page: what the therapist asks of the
//! patient between sessions (questionnaires and how often, integration
//! follow-ups after each dosing session, check-ins), set, changed and
//! removed by a plain form, and how closely the patient kept to it over
//! the last 30 days. The plan is checked by journal-core's rules, the ones
//! the API and the phone apply, and written by the store function the API
//! uses, so it reaches the patient's phones at their next sync.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use journal_core::adherence::Tally;
use journal_core::phase::Phase;
use journal_core::plan::{
    CarePlan, CheckInCadence, DEFAULT_FOLLOW_UP_DAYS, FollowUpPlan, MeasurePlan,
};
use journal_core::prompts;
use journal_core::records::Instrument;
use journal_core::validation::InvalidInput;
use maud::{Markup, html};

use super::session::Signed;
use super::{PortalError, patient_id, see_other, view};
use crate::state::AppState;
use crate::store::adherence::PlanAdherence;
use crate::store::care_plans::{self, StoredPlan};

/// The questionnaires a plan may ask for, in the form's order.
const INSTRUMENTS: [Instrument; 2] = [Instrument::Phq9, Instrument::Gad7];

fn key(instrument: Instrument) -> &'static str {
    match instrument {
        Instrument::Phq9 => "phq9",
        Instrument::Gad7 => "gad7",
    }
}

fn days_text(days: &[u32]) -> String {
    days.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// "3 of 4 done" and what is left, or why nothing is said.
fn tally_text(tally: Option<Tally>, unshared: &str) -> String {
    match tally {
        None => format!("not shared with you ({unshared})"),
        Some(t) if t.due == 0 => "nothing due yet".to_owned(),
        Some(t) => {
            let mut text = format!("{} of {} done", t.done, t.due);
            if t.open > 0 {
                text.push_str(&format!(", {} still open", t.open));
            }
            if t.missed() > 0 {
                text.push_str(&format!(", {} missed", t.missed()));
            }
            text
        }
    }
}

/// One line per kind of task, for the caseload and the patient's page.
pub(crate) fn adherence_lines(found: &PlanAdherence) -> [(&'static str, String); 3] {
    [
        (
            "Questionnaires",
            tally_text(found.questionnaires, "questionnaires"),
        ),
        (
            "Follow-ups",
            tally_text(found.follow_ups, "journal entries and dosing sessions"),
        ),
        ("Check-ins", tally_text(found.check_ins, "check-ins")),
    ]
}

/// The care plan section of a patient's page: the plan in force with
/// adherence, and the form that sets it.
pub(crate) fn section(
    signed: &Signed,
    patient: uuid::Uuid,
    plan: Option<&StoredPlan>,
    adherence: Option<&PlanAdherence>,
) -> Markup {
    let base = format!("/portal/patients/{patient}/care-plan");
    let current = plan.map(|p| &p.plan);
    let measure = |i: Instrument| current.and_then(|p| p.measure(i));
    let follow_ups = current.and_then(|p| p.follow_ups.as_ref());
    let chosen: Vec<&str> = follow_ups
        .map(|f| f.prompt_ids.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let check_ins = current.and_then(|p| p.check_ins);
    html! {
        section #care-plan aria-labelledby="care-plan-heading" {
            h2 #care-plan-heading { "Care plan" }
            @match plan {
                Some(stored) => {
                    p.small { "Set " (view::when(stored.created_at)) @if stored.updated_at != stored.created_at { ", last changed " (view::when(stored.updated_at)) } ". The patient's app follows it from their next sync." }
                    @if let Some(found) = adherence {
                        h3 { "Kept to over the last 30 days" }
                        p.small { "From " (view::day(found.from)) " to " (view::day(found.to)) ", counted from what the patient shares with you, as their app counts it." }
                        dl.facts {
                            @for (label, text) in adherence_lines(found) {
                                dt { (label) } dd { (text) }
                            }
                        }
                    }
                }
                None => p.small { "No care plan yet: the patient's app asks only what they chose for themselves." },
            }
            details open[plan.is_none()] {
                summary { @if plan.is_some() { "Change the care plan" } @else { "Set a care plan" } }
                form method="post" action=(base) {
                    input type="hidden" name="csrf" value=(signed.session.csrf_token);
                    @for instrument in INSTRUMENTS {
                        @let k = key(instrument);
                        @let m = measure(instrument);
                        fieldset {
                            legend { (view::instrument(instrument)) }
                            label for=(format!("{k}-every")) { "Every how many days (leave empty for none)" }
                            input id=(format!("{k}-every")) type="number" min="1" max="365" name=(format!("{k}.every"))
                                value=(m.and_then(|m| m.every_days).map(|d| d.to_string()).unwrap_or_default());
                            div.check {
                                input id=(format!("{k}-before")) type="checkbox" name=(format!("{k}.before")) checked[m.is_some_and(|m| m.before_each_session)];
                                label for=(format!("{k}-before")) { "In the three days before each dosing session" }
                            }
                            label for=(format!("{k}-after")) { "On days after each dosing session (for example 1, 7)" }
                            input id=(format!("{k}-after")) type="text" inputmode="numeric" name=(format!("{k}.after"))
                                value=(m.map(|m| days_text(&m.days_after_session)).unwrap_or_default());
                        }
                    }
                    fieldset {
                        legend { "Integration follow-ups" }
                        div.check {
                            input #follow-ups type="checkbox" name="followUps" checked[follow_ups.is_some()];
                            label for="follow-ups" { "Ask for a journal entry on days after each dosing session" }
                        }
                        label for="follow-up-days" { "Which days (for example 1, 3, 7, 14; empty for those)" }
                        input #follow-up-days type="text" inputmode="numeric" name="followUps.days"
                            value=(follow_ups.map(|f| days_text(&f.days)).unwrap_or_else(|| days_text(&DEFAULT_FOLLOW_UP_DAYS)));
                        p.small { "Prompts to offer, in turn (none ticked: the integration prompts of the library):" }
                        @for prompt in prompts::for_phase(Phase::Integration) {
                            div.check {
                                input id=(format!("prompt-{}", prompt.id)) type="checkbox" name=(format!("prompt.{}", prompt.id)) checked[chosen.contains(&prompt.id)];
                                label for=(format!("prompt-{}", prompt.id)) { (prompt.title) }
                            }
                        }
                    }
                    fieldset {
                        legend { "Check-ins" }
                        label for="check-ins" { "How often to check in" }
                        select #check-ins name="checkIns" {
                            option value="" selected[check_ins.is_none()] { "Not asked" }
                            option value="daily" selected[check_ins == Some(CheckInCadence::Daily)] { "Every day" }
                            option value="weekly" selected[check_ins == Some(CheckInCadence::Weekly)] { "Every week" }
                        }
                    }
                    button type="submit" { "Save the care plan" }
                }
                @if plan.is_some() {
                    form method="post" action=(format!("{base}/remove")) {
                        input type="hidden" name="csrf" value=(signed.session.csrf_token);
                        button.danger type="submit" { "Remove the care plan" }
                    }
                }
            }
        }
    }
}

/// A whole number of days, or a page saying what is wrong.
fn number(label: &str, text: &str) -> Result<Option<u32>, PortalError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<u32>().map(Some).map_err(|_| {
        PortalError::Invalid(format!(
            "“{label}” must be a whole number of days, not “{}”.",
            text.chars().take(20).collect::<String>()
        ))
    })
}

/// Days listed with commas or spaces.
fn day_list(label: &str, text: &str) -> Result<Vec<u32>, PortalError> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<u32>().map_err(|_| {
                PortalError::Invalid(format!(
                    "“{label}” lists days after the session as whole numbers from 1, like 1, 3, 7; “{}” is not one.",
                    part.chars().take(20).collect::<String>()
                ))
            })
        })
        .collect()
}

/// The plan the form describes; every field is read, none may be unknown.
fn plan_of(form: &HashMap<String, String>) -> Result<(CarePlan, Vec<Instrument>), PortalError> {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    let ticked = |name: &str| form.contains_key(name);
    let mut known: Vec<String> = vec![
        "csrf".into(),
        "followUps".into(),
        "followUps.days".into(),
        "checkIns".into(),
    ];
    let mut measures = Vec::new();
    let mut order = Vec::new();
    for instrument in INSTRUMENTS {
        let k = key(instrument);
        let name = view::instrument(instrument);
        known.extend([
            format!("{k}.every"),
            format!("{k}.before"),
            format!("{k}.after"),
        ]);
        let every_days = number(
            &format!("{name}: every how many days"),
            field(&format!("{k}.every")),
        )?;
        let before_each_session = ticked(&format!("{k}.before"));
        let days_after_session = day_list(
            &format!("{name}: days after each session"),
            field(&format!("{k}.after")),
        )?;
        if every_days.is_some() || before_each_session || !days_after_session.is_empty() {
            measures.push(MeasurePlan {
                instrument,
                every_days,
                before_each_session,
                days_after_session,
            });
            order.push(instrument);
        }
    }
    let prompt_ids: Vec<String> = prompts::for_phase(Phase::Integration)
        .filter(|p| ticked(&format!("prompt.{}", p.id)))
        .map(|p| p.id.to_owned())
        .collect();
    known.extend(prompts::for_phase(Phase::Integration).map(|p| format!("prompt.{}", p.id)));
    if let Some(unknown) = form.keys().find(|k| !known.contains(k)) {
        return Err(PortalError::Invalid(format!(
            "The form has a field the portal does not know (“{}”); reload the page and try again.",
            unknown.chars().take(40).collect::<String>()
        )));
    }
    let follow_ups = if ticked("followUps") {
        Some(FollowUpPlan {
            days: day_list("Follow-up days", field("followUps.days"))?,
            prompt_ids,
        })
    } else {
        None
    };
    let check_ins = match field("checkIns") {
        "" => None,
        "daily" => Some(CheckInCadence::Daily),
        "weekly" => Some(CheckInCadence::Weekly),
        _ => {
            return Err(PortalError::Invalid(
                "Check-ins are asked every day, every week, or not at all.".to_owned(),
            ));
        }
    };
    Ok((
        CarePlan {
            measures,
            follow_ups,
            check_ins,
        },
        order,
    ))
}

/// The broken rules in the form's words.
fn explain(invalid: &InvalidInput, order: &[Instrument]) -> String {
    let lines: Vec<String> = invalid
        .violations
        .iter()
        .map(|v| {
            let field = v.field.as_str();
            let label = if let Some(rest) = field.strip_prefix("measures[") {
                let index: Option<usize> = rest.split(']').next().and_then(|i| i.parse().ok());
                let name = index
                    .and_then(|i| order.get(i))
                    .map_or("A questionnaire", |i| view::instrument(*i));
                if field.contains("daysAfterSession") {
                    format!("{name}, days after each session")
                } else if field.contains("everyDays") {
                    format!("{name}, every how many days")
                } else {
                    name.to_owned()
                }
            } else if field.starts_with("followUps.days") {
                "Follow-up days".to_owned()
            } else if field.starts_with("followUps.promptIds") {
                "Follow-up prompts".to_owned()
            } else {
                field.to_owned()
            };
            format!("{label}: {}", v.message)
        })
        .collect();
    format!(
        "The care plan cannot be saved, and nothing was changed. {}.",
        lines.join("; ")
    )
}

/// Sets (or replaces) the care plan from the form.
pub async fn set(
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, PortalError> {
    let form = form.into_inner();
    signed.check_form(form.get("csrf").map(String::as_str).unwrap_or(""))?;
    let patient = patient_id(&path)?;
    let (plan, order) = plan_of(&form)?;
    plan.validate()
        .map_err(|invalid| PortalError::Invalid(explain(&invalid, &order)))?;
    let me = signed.therapist();
    state
        .db
        .run(move |conn| care_plans::set(conn, &me, &patient.to_string(), &plan))
        .await?;
    Ok(see_other(&format!("/portal/patients/{patient}#care-plan")))
}

/// Removes the care plan; the patient's phones drop it at their next sync.
pub async fn remove(
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
    form: web::Form<super::session::TokenForm>,
) -> Result<HttpResponse, PortalError> {
    signed.check_form(&form.csrf)?;
    let patient = patient_id(&path)?;
    let me = signed.therapist();
    state
        .db
        .run(move |conn| care_plans::remove(conn, &me, &patient.to_string()))
        .await?;
    Ok(see_other(&format!("/portal/patients/{patient}#care-plan")))
}

//! The therapist portal in a real headless Chromium, on both backends: a
//! therapist signs in, reads the caseload and a patient's page, comments,
//! handles an alert, is logged off when idle, cannot be made to post a
//! forged form, and signs out — while patients write, share and revoke on
//! their phones through the mobile library. Every page is checked with
//! axe-core (no serious or critical violations) and pressed through with
//! Tab (every control reachable by keyboard).
//!
//! Screenshots of the caseload, a patient page, its care plan and the
//! alerts inbox go to
//! `PORTAL_SCREENSHOTS` (default `target/portal-screenshots`);
//! `PORTAL_SCREENSHOTS=docs/portal cargo test -p journal-e2e --test
//! portal_browser sqlite` refreshes the ones `docs/portal.md` shows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, DurationRound, TimeDelta, Utc};
use journal_e2e::browser::{Browser, axe_script, required};
use journal_e2e::{LiveServer, on_both_backends};
use journal_mobile::{JournalError, SecretStore};
use serde_json::{Value, json};

const PASSWORD: &str = "a long passphrase for tests";

/// The phone's Keychain, played by a map.
#[derive(Default)]
struct Secrets(Mutex<std::collections::HashMap<String, String>>);

impl SecretStore for Secrets {
    fn get(&self, key: String) -> Result<Option<String>, JournalError> {
        Ok(self.0.lock().unwrap().get(&key).cloned())
    }
    fn set(&self, key: String, value: String) -> Result<(), JournalError> {
        self.0.lock().unwrap().insert(key, value);
        Ok(())
    }
    fn remove(&self, key: String) -> Result<(), JournalError> {
        self.0.lock().unwrap().remove(&key);
        Ok(())
    }
}

/// A patient of the seeded caseload.
struct Patient {
    id: String,
    token: String,
}

fn register(server: &LiveServer, email: &str, name: &str) -> Patient {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let body = json!({"email": email, "password": PASSWORD, "displayName": name});
    let text = agent
        .post(&format!("{}/api/v1/auth/register", server.url()))
        .header("content-type", "application/json")
        .send(serde_json::to_vec(&body).unwrap())
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    let answer: Value = serde_json::from_str(&text).unwrap();
    Patient {
        id: answer["account"]["id"].as_str().unwrap().to_owned(),
        token: answer["accessToken"].as_str().unwrap().to_owned(),
    }
}

fn create(server: &LiveServer, patient: &Patient, body: Value) -> String {
    let (status, made) = server.call("POST", "/api/v1/records", &patient.token, Some(body));
    assert_eq!(status, 201, "{made}");
    made["id"].as_str().unwrap().to_owned()
}

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339()
}

fn share_kinds(server: &LiveServer, patient: &Patient, therapist: &str, kinds: &[&str]) {
    create(
        server,
        patient,
        json!({"kind": "share", "body": {"therapistId": therapist,
            "scope": {"type": "kinds", "kinds": kinds}}}),
    );
}

fn share_item(server: &LiveServer, patient: &Patient, therapist: &str, record: &str) {
    create(
        server,
        patient,
        json!({"kind": "share", "body": {"therapistId": therapist,
            "scope": {"type": "item", "recordId": record}}}),
    );
}

/// PHQ-9 answers summing to `total` (item 9 left at 0).
fn phq9(total: u32) -> Vec<u32> {
    let mut answers = vec![0; 9];
    let mut left = total;
    for answer in answers.iter_mut().take(8) {
        *answer = left.min(3);
        left -= *answer;
    }
    answers
}

/// GAD-7 answers summing to `total`.
fn gad7(total: u32) -> Vec<u32> {
    let mut answers = vec![0; 7];
    let mut left = total;
    for answer in answers.iter_mut() {
        *answer = left.min(3);
        left -= *answer;
    }
    answers
}

/// What the seeding made, for the checks.
struct Seeded {
    maya: Patient,
    sam: Patient,
    /// PHQ-9 totals of Maya, oldest first, with when each was taken.
    phq9: Vec<(DateTime<Utc>, u32)>,
    /// Maya's dosing sessions (all shared).
    sessions: Vec<DateTime<Utc>>,
}

/// A therapist's caseload over ten weeks of a course of four dosing
/// sessions: Maya shares her questionnaires, check-ins, practices and
/// sessions; Sam answered PHQ-9 question 9 this morning (an open alert);
/// Jo linked but shares nothing yet.
fn seed(server: &LiveServer, therapist: &str, therapist_token: &str) -> Seeded {
    let now = Utc::now().duration_trunc(TimeDelta::hours(1)).unwrap();
    let start = now - Duration::days(70);
    let maya = register(server, "maya@example.org", "Maya Okafor");
    let sam = register(server, "sam@example.org", "Sam Reyes");
    let jo = register(server, "jo@example.org", "Jo Lindqvist");
    for patient in [&maya, &sam, &jo] {
        server.link(therapist_token, &patient.token);
    }
    share_kinds(
        server,
        &maya,
        therapist,
        &["assessment", "moodCheckIn", "exercisePractice"],
    );
    let sessions: Vec<DateTime<Utc>> = [7, 21, 35, 49]
        .iter()
        .map(|d| start + Duration::days(*d) + Duration::hours(2))
        .collect();
    for (n, when) in sessions.iter().enumerate() {
        let id = create(
            server,
            &maya,
            json!({"kind": "dosingSession", "body": {"scheduledAt": at(*when),
                "route": "intramuscular", "status": "completed",
                "notes": format!("session {} notes, private", n + 1)}}),
        );
        share_item(server, &maya, therapist, &id);
        if n == 1 {
            let intention = create(
                server,
                &maya,
                json!({"kind": "intention", "body": {"text": "Meet the grief without running from it",
                    "dosingSessionId": id, "status": "fulfilled",
                    "reflection": {"howItWent": "I stayed with it longer than I thought I could",
                        "carryForward": "Ten minutes of quiet each morning"}}}),
            );
            share_item(server, &maya, therapist, &intention);
        }
    }
    let phq_totals = [19, 17, 14, 12, 9, 7];
    let gad_totals = [15, 14, 11, 9, 8, 6];
    let mut phq = Vec::new();
    for (week, (p, g)) in phq_totals.iter().zip(gad_totals).enumerate() {
        let taken = start + Duration::days(week as i64 * 13) + Duration::hours(1);
        create(
            server,
            &maya,
            json!({"kind": "assessment", "body": {"instrument": "phq9", "takenAt": at(taken),
                "answers": phq9(*p)}}),
        );
        create(
            server,
            &maya,
            json!({"kind": "assessment", "body": {"instrument": "gad7", "takenAt": at(taken),
                "answers": gad7(g)}}),
        );
        phq.push((taken, *p));
    }
    // Daily check-ins up to the day before yesterday, 08:00 after `start`:
    // the last is at least 40 hours old whatever the hour the test runs,
    // so today's check-in is still to do (the phone's agenda says so
    // below). Up to day 69 it fell on today after 16:00 UTC.
    for day in 0..69 {
        let recorded = start + Duration::days(day) + Duration::hours(8);
        let trend = (day / 10) as u32;
        create(
            server,
            &maya,
            json!({"kind": "moodCheckIn", "body": {"recordedAt": at(recorded),
                "mood": (3 + trend + (day as u32 % 3)).min(10),
                "anxiety": 8u32.saturating_sub(trend + (day as u32 % 2)),
                "energy": (4 + trend / 2 + (day as u32 % 2)).min(10),
                "sleepHours": 5.5 + f64::from(trend) * 0.3}}),
        );
    }
    create(
        server,
        &maya,
        json!({"kind": "exercisePractice", "body": {"exerciseId": "five-senses",
            "practicedAt": at(now - Duration::days(3)), "stepsCompleted": 5,
            "distressBefore": 7, "distressAfter": 3}}),
    );
    create(
        server,
        &maya,
        json!({"kind": "journalEntry", "body": {"body": "A page only for me: never shared.",
            "phase": "integration"}}),
    );
    // Sam: shares questionnaires; this morning's PHQ-9 answers question 9.
    share_kinds(server, &sam, therapist, &["assessment"]);
    create(
        server,
        &sam,
        json!({"kind": "assessment", "body": {"instrument": "phq9",
            "takenAt": at(now - Duration::days(28)), "answers": [2, 2, 1, 2, 1, 1, 1, 1, 0]}}),
    );
    create(
        server,
        &sam,
        json!({"kind": "assessment", "body": {"instrument": "phq9",
            "takenAt": at(now - Duration::hours(3)), "answers": [2, 2, 2, 2, 1, 1, 1, 1, 1]}}),
    );
    Seeded {
        maya,
        sam,
        phq9: phq,
        sessions,
    }
}

/// A phone signed in as the patient through the mobile library, synced.
fn phone(server: &LiveServer, email: &str) -> (Arc<journal_mobile::Journal>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db").display().to_string();
    let journal = journal_mobile::Journal::open(path, Arc::new(Secrets::default())).unwrap();
    journal
        .sign_in(server.url(), email.to_owned(), PASSWORD.to_owned())
        .unwrap();
    journal.sync().unwrap();
    (journal, dir)
}

/// Where screenshots go: `PORTAL_SCREENSHOTS` (relative to the
/// repository), or `target/portal-screenshots`.
fn screenshots() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    match std::env::var("PORTAL_SCREENSHOTS") {
        Ok(dir) => root.join(dir),
        Err(_) => std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root.join("target"))
            .join("portal-screenshots"),
    }
}

/// Checks the page open now with axe-core and by keyboard.
fn accessible(browser: &Browser, axe: &str, page: &str) {
    let violations = browser.serious_accessibility_violations(axe);
    assert!(
        violations.is_empty(),
        "{page}: serious or critical accessibility violations:\n{}",
        violations.join("\n")
    );
    let missed = browser.controls_tab_never_reaches();
    assert!(
        missed.is_empty(),
        "{page}: controls Tab never reaches: {missed:?}"
    );
}

fn sign_in(browser: &Browser, base: &str, email: &str) {
    browser.goto(&format!("{base}/portal"));
    assert!(
        browser.url().ends_with("/portal/sign-in"),
        "{}",
        browser.url()
    );
    browser.fill(&browser.find("#email"), email);
    browser.fill(&browser.find("#password"), PASSWORD);
    browser.click_to_load(&browser.find("form[action='/portal/sign-in'] button[type=submit]"));
    assert!(
        browser.url().ends_with("/portal"),
        "after signing in: {} {}",
        browser.url(),
        browser.source()
    );
}

/// The text of every patient link in the caseload table, top to bottom.
fn caseload_names(browser: &Browser) -> Vec<String> {
    browser
        .find_all("table.caseload tbody th a")
        .iter()
        .map(|a| browser.text(a))
        .collect()
}

on_both_backends! {
    fn a_therapist_works_through_the_portal_in_a_browser(server: LiveServer) {
        let Some(browser) = Browser::start(1280, 900) else { return };
        let Some(axe) = axe_script() else {
            assert!(!required(), "axe-core is not installed and CI=true: scripts/test.sh installs it");
            eprintln!("browser tests skipped: axe-core is not installed (scripts/test.sh installs it)");
            return;
        };
        let base = server.url();
        let email = "dr.rivera@clinic.example";
        let therapist = server.create_therapist(email, PASSWORD, "Dr. Ana Rivera");
        let therapist_token = server.token(email, PASSWORD);
        let seeded = seed(&server, &therapist, &therapist_token);
        // Maya's phone: an entry written and shared on the phone, synced.
        let (maya_phone, _maya_dir) = phone(&server, "maya@example.org");
        let entry = maya_phone
            .create(journal_mobile::RecordContent::JournalEntry {
                entry: journal_mobile::JournalEntry {
                    body: "The sea in the session stayed with me all week.".to_owned(),
                    phase: journal_mobile::Phase::Integration,
                    title: None,
                    prompt_id: None,
                    dosing_session_id: None,
                    tags: vec![],
                },
            })
            .unwrap()
            .record;
        let share = maya_phone.share_record(therapist.clone(), entry.id.clone()).unwrap();
        maya_phone.sync().unwrap();

        // `/` leads to sign-in; the sign-in page is accessible.
        browser.goto(&base);
        assert!(browser.url().ends_with("/portal/sign-in"), "{}", browser.url());
        accessible(&browser, &axe, "sign-in");
        sign_in(&browser, &base, email);
        assert_eq!(browser.title(), "Caseload · KAP journal portal");

        // The caseload: Sam's open alert first, then what is new, then
        // by name; a column header sorts by that column.
        assert_eq!(caseload_names(&browser), ["Sam Reyes", "Maya Okafor", "Jo Lindqvist"]);
        let first_row = browser.find("table.caseload tbody tr");
        assert_eq!(browser.attribute(&first_row, "class").as_deref(), Some("attention"));
        let maya_row = browser.text(&browser.find_all("table.caseload tbody tr")[1]);
        assert!(maya_row.contains("7 mild"), "Maya's latest PHQ-9: {maya_row}");
        accessible(&browser, &axe, "caseload");
        let shots = screenshots();
        std::fs::create_dir_all(&shots).unwrap();
        let shot = |name: &str| {
            if server.backend == journal_e2e::Backend::Sqlite {
                // As a therapist first sees it: no focus ring, at the top.
                browser.execute(
                    "if (document.activeElement) { document.activeElement.blur(); } window.scrollTo(0, 0);",
                    json!([]),
                );
                std::fs::write(shots.join(name), browser.screenshot()).unwrap();
            }
        };
        shot("caseload.png");

        // Maya's page: the chart has every PHQ-9 where the data says, and
        // a marker per dosing session; the unshared entry is absent.
        browser.click_to_load(&browser.find(&format!("a[href='/portal/patients/{}']", seeded.maya.id)));
        assert!(browser.url().ends_with(&format!("/portal/patients/{}", seeded.maya.id)));
        let points: Vec<(String, String)> = browser
            .find_all("g.point[data-series='PHQ-9']")
            .iter()
            .map(|p| (browser.attribute(p, "data-at").unwrap(), browser.attribute(p, "data-value").unwrap()))
            .collect();
        let expected: Vec<(String, String)> = seeded
            .phq9
            .iter()
            .map(|(t, v)| (t.to_rfc3339(), v.to_string()))
            .collect();
        assert_eq!(points, expected);
        let markers: Vec<String> = browser
            .find_all("svg g.event")
            .iter()
            .filter_map(|e| browser.attribute(e, "data-at"))
            .collect();
        for session in &seeded.sessions {
            assert!(markers.contains(&session.to_rfc3339()), "no marker for {session}: {markers:?}");
        }
        let source = browser.source();
        assert!(source.contains("The sea in the session stayed with me all week."));
        assert!(source.contains("Meet the grief without running from it"));
        assert!(!source.contains("A page only for me"), "an unshared entry shows");
        assert!(!source.contains("notes, private"), "a session's private notes show");
        accessible(&browser, &axe, "patient page");
        browser.resize(1280, 2400);
        shot("patient.png");
        browser.resize(1280, 900);

        // A comment written on the page reaches the phone through sync.
        let item = browser.find(&format!("#item-{}", entry.id));
        let field = browser.find_in(&item, "textarea[name=text]").expect("a comment field");
        browser.fill(&field, "Thank you for writing this. Let's start there on Thursday.");
        browser.click_to_load(&browser.find_in(&item, "form button[type=submit]").unwrap());
        assert!(browser.source().contains("Let's start there on Thursday."));
        maya_phone.sync().unwrap();
        let comments = maya_phone.comments(entry.id.clone()).unwrap();
        assert_eq!(comments.len(), 1);
        assert_eq!(comments[0].text, "Thank you for writing this. Let's start there on Thursday.");

        // A care plan set on the page reaches the phone, whose agenda
        // then asks for the daily check-in.
        browser.fill(&browser.find("#phq9-every"), "14");
        browser.execute("document.getElementById('check-ins').value = 'daily';", json!([]));
        browser.click_to_load(&browser.find("form[action$='/care-plan'] button[type=submit]"));
        let source = browser.source();
        assert!(source.contains("Kept to over the last 30 days"), "no adherence shown");
        assert!(source.contains(r#"name="phq9.every" value="14""#));
        accessible(&browser, &axe, "patient page with a care plan");
        if server.backend == journal_e2e::Backend::Sqlite {
            browser.execute(
                "const plan = document.getElementById('care-plan');\
                 plan.querySelector('details').open = true;\
                 if (document.activeElement) { document.activeElement.blur(); }\
                 plan.scrollIntoView();",
                json!([]),
            );
            std::fs::write(shots.join("care-plan.png"), browser.screenshot()).unwrap();
        }
        maya_phone.sync().unwrap();
        let in_force = maya_phone.care_plan().unwrap().expect("the therapist's plan on the phone");
        assert!(in_force.author.is_some());
        assert_eq!(in_force.plan.check_ins, Some(journal_mobile::CheckInCadence::Daily));
        let agenda = maya_phone.agenda(std::time::SystemTime::now()).unwrap();
        assert!(
            agenda.iter().any(|item| matches!(item.task, journal_mobile::AgendaTask::CheckIn)),
            "{agenda:?}"
        );

        // Revoked on the phone: gone at the next page load.
        maya_phone.revoke_share(share.id.clone()).unwrap();
        maya_phone.sync().unwrap();
        browser.goto(&format!("{base}/portal/patients/{}", seeded.maya.id));
        assert!(!browser.source().contains("The sea in the session"), "a revoked entry still shows");

        // The alerts inbox: acknowledge, then resolve with a note.
        browser.goto(&format!("{base}/portal/alerts"));
        let alert = browser.find("article.item.open");
        assert!(browser.text(&alert).contains("Sam Reyes"));
        assert!(browser.text(&alert).contains("Several days"), "the answer given: {}", browser.text(&alert));
        accessible(&browser, &axe, "alerts");
        shot("alerts.png");
        browser.click_to_load(&browser.find("form[action$='/acknowledge'] button"));
        assert!(browser.source().contains("Acknowledged"));
        browser.fill(&browser.find("textarea[name=note]"), "Called Sam; safety plan reviewed together.");
        browser.click_to_load(&browser.find("form[action$='/resolve'] button"));
        assert!(browser.source().contains("No open alerts."));
        assert!(browser.source().contains("Called Sam; safety plan reviewed together."));
        // Resolved, Sam's row no longer asks for attention.
        browser.goto(&format!("{base}/portal"));
        let sam_row = browser.find("table.caseload tbody tr");
        assert!(browser.text(&sam_row).contains("Sam Reyes"));
        assert_ne!(browser.attribute(&sam_row, "class").as_deref(), Some("attention"));
        browser.click_to_load(&browser.find("a[href='/portal?sort=name']"));
        assert_eq!(caseload_names(&browser), ["Jo Lindqvist", "Maya Okafor", "Sam Reyes"]);

        // The printable summary and the invitation form are accessible too.
        browser.goto(&format!("{base}/portal/patients/{}/summary", seeded.maya.id));
        assert!(browser.source().contains("PHQ-9"));
        accessible(&browser, &axe, "summary");

        // A forged form (wrong CSRF token) is refused and changes nothing.
        browser.goto(&format!("{base}/portal/patients/{}", seeded.sam.id));
        let form_count = browser.find_all("section.comments form").len();
        browser.goto(&format!("{base}/portal"));
        browser.execute(
            "document.querySelector(\"form[action='/portal/invitations'] input[name=csrf]\").value = 'forged';",
            json!([]),
        );
        browser.click_to_load(&browser.find("form[action='/portal/invitations'] button"));
        let refused = browser.source();
        assert!(refused.contains("did not come from this portal"), "{refused}");
        assert!(!refused.contains("class=\"code\""), "a forged form made an invitation");
        browser.goto(&format!("{base}/portal/patients/{}", seeded.sam.id));
        assert_eq!(browser.find_all("section.comments form").len(), form_count);

        // Idle for 16 minutes: the next page is the sign-in page, saying why.
        let cookie = browser
            .cookies()
            .into_iter()
            .find(|(name, _)| name.ends_with("kap-portal"))
            .expect("a session cookie")
            .1;
        let db = journal_server::store::Database::open(&server.database_url(), 1).unwrap();
        let hash = journal_server::auth::tokens::secret_hash(&cookie);
        journal_server::store::portal::age(&mut db.get().unwrap(), &hash, 16).unwrap();
        browser.goto(&format!("{base}/portal/alerts"));
        assert!(browser.url().contains("/portal/sign-in"), "{}", browser.url());
        assert!(browser.source().contains("15 minutes"), "{}", browser.source());

        // Signed in again, then out: the portal asks to sign in once more.
        sign_in(&browser, &base, email);
        browser.click_to_load(&browser.find("form[action='/portal/sign-out'] button"));
        assert!(browser.url().contains("/portal/sign-in"), "{}", browser.url());
        browser.goto(&format!("{base}/portal"));
        assert!(browser.url().ends_with("/portal/sign-in"));
    }
}

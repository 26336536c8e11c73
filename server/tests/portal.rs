//! The therapist portal as a browser uses it — forms, cookies, redirects,
//! pages — on SQLite and on PostgreSQL: sign-in and its refusals, the
//! session cookie, idle and absolute logoff, sign-out, CSRF, the caseload,
//! a patient's page (only what is shared, gone once revoked, chart points
//! where the data says, dosing sessions marked), comments reaching the
//! phone's pull, the alerts inbox, the audit rows the patient sees, the
//! summary and CSV, and bad input answered with a page, never a 500.

// A test crate: unwrapping is how it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::test::TestRequest;
use common::*;
use journal_server::store::portal as sessions;
use serde_json::{Value, json};

const THERAPIST_PASSWORD: &str = "therapist password";

/// A page, read as text.
struct Html {
    status: u16,
    headers: actix_web::http::header::HeaderMap,
    body: String,
}

impl Html {
    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    }

    fn location(&self) -> String {
        self.header("location")
    }

    /// The first CSRF token a form on the page carries.
    fn csrf(&self) -> String {
        let start = self
            .body
            .find(r#"name="csrf" value=""#)
            .expect("a form with a CSRF token")
            + r#"name="csrf" value=""#.len();
        self.body[start..].split('"').next().unwrap().to_owned()
    }

    fn cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect()
    }
}

async fn fetch<S, B>(app: &S, request: TestRequest) -> Html
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let response = actix_web::test::call_service(app, request.to_request()).await;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = actix_web::test::read_body(response).await;
    Html {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// A browser's session: the cookie it sends.
#[derive(Clone)]
struct Browser {
    cookie: String,
}

impl Browser {
    fn get(&self, uri: &str) -> TestRequest {
        TestRequest::get()
            .uri(uri)
            .insert_header(("cookie", self.cookie.clone()))
    }

    fn post(&self, uri: &str, form: &[(&str, &str)]) -> TestRequest {
        TestRequest::post()
            .uri(uri)
            .insert_header(("cookie", self.cookie.clone()))
            .set_form(form.to_vec())
    }
}

/// `name=value` of a Set-Cookie line.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

/// Signs in through the form as a browser does: the page (and its
/// sign-in cookie), then the post. Returns the answer to the post and the
/// cookie a browser would send afterwards.
async fn sign_in<S, B>(app: &S, email: &str, password: &str) -> (Html, Browser)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let form = fetch(app, TestRequest::get().uri("/portal/sign-in")).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let pre = pair(&form.cookies()[0]);
    let answer = fetch(
        app,
        TestRequest::post()
            .uri("/portal/sign-in")
            .insert_header(("cookie", pre))
            .set_form(vec![
                ("email", email),
                ("password", password),
                ("csrf", form.csrf().as_str()),
            ]),
    )
    .await;
    let cookie = answer
        .cookies()
        .iter()
        .find(|c| c.starts_with("kap-portal=") || c.starts_with("__Host-kap-portal="))
        .map(|c| pair(c))
        .unwrap_or_default();
    (answer, Browser { cookie })
}

async fn signed_in<S, B>(app: &S, tag: &str) -> Browser
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let (answer, browser) = sign_in(app, &therapist_email(tag), THERAPIST_PASSWORD).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.location(), "/portal");
    browser
}

/// The therapist `side(…, tag)` makes.
fn therapist_email(tag: &str) -> String {
    format!("{tag}.therapist@clinic.example")
}

/// The patient `side(…, tag)` makes.
fn patient_email(tag: &str) -> String {
    format!("{tag}.patient@example.org")
}

/// Moves a session's clock back by `minutes`.
async fn age(server: &TestServer, browser: &Browser, minutes: i64) {
    let id = browser.cookie.split_once('=').unwrap().1.to_owned();
    let hash = journal_server::auth::tokens::secret_hash(&id);
    server
        .state
        .db
        .run(move |conn| sessions::age(conn, &hash, minutes))
        .await
        .unwrap();
}

async fn api<S, B>(app: &S, method: &str, uri: &str, token: &str, body: Option<Value>) -> Reply
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let request = request_of(&method.to_lowercase(), uri);
    let request = match body {
        Some(body) => request.set_json(body),
        None => request,
    };
    call(app, authed(request, token)).await
}

on_both_backends! {
    async fn the_root_leads_to_the_portal_and_the_portal_to_sign_in(server: TestServer) {
        let app = server.app().await;
        let root = fetch(&app, TestRequest::get().uri("/")).await;
        assert_eq!((root.status, root.location().as_str()), (303, "/portal"));
        for uri in ["/portal", "/portal/", "/portal/alerts", "/portal/patients/01a23828-e42f-7189-85d5-ff34cd8c73d5"] {
            let page = fetch(&app, TestRequest::get().uri(uri)).await;
            assert_eq!((page.status, page.location().as_str()), (303, "/portal/sign-in"), "{uri}");
        }
        let form = fetch(&app, TestRequest::get().uri("/portal/sign-in")).await;
        assert_eq!(form.status, 200);
        assert!(form.body.contains(r#"<form method="post" action="/portal/sign-in">"#));
        let csp = form.header("content-security-policy");
        for directive in ["default-src 'none'", "frame-ancestors 'none'", "form-action 'self'", "style-src 'self'"] {
            assert!(csp.contains(directive), "{csp}");
        }
        assert!(!csp.contains("script-src"), "no script is allowed at all: {csp}");
        assert_eq!(form.header("cache-control"), "no-store");
        assert_eq!(form.header("referrer-policy"), "no-referrer");
        let css = fetch(&app, TestRequest::get().uri("/portal/portal.css")).await;
        assert_eq!(css.status, 200);
        assert!(css.header("content-type").starts_with("text/css"));
        assert!(css.body.contains("@media print"));
        let nothing = fetch(&app, TestRequest::get().uri("/portal/no-such-page")).await;
        assert_eq!(nothing.status, 404);
        assert!(nothing.header("content-type").starts_with("text/html"), "a page, not JSON");
    }

    async fn sign_in_refuses_wrong_passwords_patients_and_forged_forms(server: TestServer) {
        let app = server.app().await;
        const TAG: &str = "refusals";
        let _side = side(&server, &app, TAG).await;
        let email = therapist_email(TAG);
        let (wrong, browser) = sign_in(&app, &email, "not the password").await;
        assert_eq!(wrong.status, 401, "{}", wrong.body);
        assert!(wrong.body.contains("do not match"), "{}", wrong.body);
        assert!(browser.cookie.is_empty(), "no session for a wrong password");
        // A patient with the right password is told where to go, and gets
        // no session.
        let (patient, browser) = sign_in(&app, &patient_email(TAG), PATIENT_PASSWORD).await;
        assert_eq!(patient.status, 403, "{}", patient.body);
        assert!(patient.body.contains("The portal is for therapists"), "{}", patient.body);
        assert!(browser.cookie.is_empty());
        // A sign-in form posted from elsewhere (no sign-in cookie, or a
        // token that is not its own) is refused before the password is
        // looked at.
        let forged = fetch(&app, TestRequest::post().uri("/portal/sign-in").set_form(vec![
            ("email", email.as_str()), ("password", THERAPIST_PASSWORD), ("csrf", "guess")])).await;
        assert_eq!(forged.status, 403, "{}", forged.body);
        assert!(forged.cookies().iter().all(|c| !c.starts_with("kap-portal=")));
        // Not a form at all.
        let json = fetch(&app, TestRequest::post().uri("/portal/sign-in")
            .set_json(json!({"email": email}))).await;
        assert_eq!(json.status, 422, "{}", json.body);
        assert!(json.header("content-type").starts_with("text/html"));
    }

    async fn the_session_cookie_is_http_only_strict_and_ends_when_idle_old_or_signed_out(server: TestServer) {
        let app = server.app().await;
        const TAG: &str = "session";
        let _side = side(&server, &app, TAG).await;
        let email = therapist_email(TAG);
        let (answer, browser) = sign_in(&app, &email, THERAPIST_PASSWORD).await;
        let set = answer.cookies().into_iter().find(|c| c.starts_with("kap-portal=")).unwrap();
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(set.contains(attribute), "{set}");
        }
        assert!(!set.contains("Secure"), "plain HTTP on the loopback address: {set}");
        assert_eq!(fetch(&app, browser.get("/portal")).await.status, 200);
        // The database keeps only the hash of the cookie's id.
        let id = browser.cookie.split_once('=').unwrap().1.to_owned();
        let snapshot = format!("{:?}", data_snapshot(&server).await.0);
        assert!(!snapshot.contains(&id), "the session id itself is stored");

        // Fourteen minutes idle: still signed in (and the use counts).
        age(&server, &browser, 14).await;
        assert_eq!(fetch(&app, browser.get("/portal")).await.status, 200);
        // Sixteen minutes idle: signed out, and told why.
        age(&server, &browser, 16).await;
        let idle = fetch(&app, browser.get("/portal")).await;
        assert_eq!((idle.status, idle.location().as_str()), (303, "/portal/sign-in?ended=idle"));
        let told = fetch(&app, TestRequest::get().uri("/portal/sign-in?ended=idle")).await;
        assert!(told.body.contains("15 minutes without activity"));
        assert_eq!(fetch(&app, browser.get("/portal")).await.location(), "/portal/sign-in", "ended for good");

        // Busy for twelve hours: signed out all the same.
        let (_, busy) = sign_in(&app, &email, THERAPIST_PASSWORD).await;
        for _ in 0..51 {
            age(&server, &busy, 14).await;
            assert_eq!(fetch(&app, busy.get("/portal")).await.status, 200);
        }
        age(&server, &busy, 14).await;
        let expired = fetch(&app, busy.get("/portal")).await;
        assert_eq!(expired.location(), "/portal/sign-in?ended=expired");

        // Sign-out: a forged form does nothing; the right one ends the
        // session at once.
        let (_, browser) = sign_in(&app, &email, THERAPIST_PASSWORD).await;
        let page = fetch(&app, browser.get("/portal")).await;
        let forged = fetch(&app, browser.post("/portal/sign-out", &[("csrf", "forged")])).await;
        assert_eq!(forged.status, 403);
        assert_eq!(fetch(&app, browser.get("/portal")).await.status, 200, "still signed in");
        let out = fetch(&app, browser.post("/portal/sign-out", &[("csrf", page.csrf().as_str())])).await;
        assert_eq!((out.status, out.location().as_str()), (303, "/portal/sign-in?ended=signed-out"));
        assert!(out.cookies().iter().any(|c| c.starts_with("kap-portal=;") && c.contains("Max-Age=0")));
        assert_eq!(fetch(&app, browser.get("/portal")).await.location(), "/portal/sign-in");
    }

    async fn the_caseload_shows_scores_alerts_and_what_is_new_first(server: TestServer) {
        let app = server.app().await;
        const TAG: &str = "caseload";
        let side = side(&server, &app, TAG).await;
        let browser = signed_in(&app, TAG).await;
        let page = fetch(&app, browser.get("/portal")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(page.header("cache-control"), "no-store");
        // The PHQ-9 of `side` totals 11 (moderate), with item 9 answered:
        // one open alert, shown first.
        assert!(page.body.contains(&format!("/portal/patients/{}", side.patient_id)));
        assert!(page.body.contains("<strong>11</strong> <span class=\"band\">moderate</span>"), "{}", page.body);
        assert!(page.body.contains("1 open"));
        assert!(page.body.contains("2 new"), "the entry and the questionnaire are new: {}", page.body);
        // After a look at the patient's page, nothing is new.
        assert_eq!(fetch(&app, browser.get(&format!("/portal/patients/{}", side.patient_id))).await.status, 200);
        let again = fetch(&app, browser.get("/portal?sort=new")).await;
        assert!(!again.body.contains(" new</span>"), "{}", again.body);
        assert!(again.body.contains(r#"aria-sort="descending""#));
        // A new shared record is new again.
        let p = token(&side.patient);
        let made = api(&app, "POST", "/api/v1/records", &p, Some(json!({"kind": "journalEntry",
            "body": {"body": "Written after the look", "phase": "integration"}}))).await;
        assert_eq!(made.status, 201);
        let third = fetch(&app, browser.get("/portal")).await;
        assert!(third.body.contains("1 new"), "{}", third.body);
        // An unknown sort is a page that says so.
        let bad = fetch(&app, browser.get("/portal?sort=drop%20table")).await;
        assert_eq!(bad.status, 422);
        assert!(bad.body.contains("sorts by"));
    }

    async fn a_new_therapist_is_told_how_to_invite_and_gets_a_code(server: TestServer) {
        let app = server.app().await;
        therapist(&server, &app, "new.therapist@clinic.example").await;
        let (_, browser) = sign_in(&app, "new.therapist@clinic.example", THERAPIST_PASSWORD).await;
        let page = fetch(&app, browser.get("/portal")).await;
        assert!(page.body.contains("No patients yet"), "{}", page.body);
        let forged = fetch(&app, browser.post("/portal/invitations", &[("csrf", "x")])).await;
        assert_eq!(forged.status, 403);
        let made = fetch(&app, browser.post("/portal/invitations", &[("csrf", page.csrf().as_str())])).await;
        assert_eq!(made.status, 201, "{}", made.body);
        let start = made.body.find(r#"<span class="code">"#).unwrap() + r#"<span class="code">"#.len();
        let code = made.body[start..].split('<').next().unwrap().to_owned();
        // The code works in the app.
        let patient = register(&app, "invited@example.org").await;
        let linked = api(&app, "POST", "/api/v1/care/links", &token(&patient), Some(json!({"code": code}))).await;
        assert_eq!(linked.status, 201, "{:?}", linked.body);
        let after = fetch(&app, browser.get("/portal")).await;
        assert!(after.body.contains("invited@example.org"));
    }

    async fn a_patient_page_shows_only_what_is_shared_until_revoked(server: TestServer) {
        let app = server.app().await;
        const TAG: &str = "page";
        let side = side(&server, &app, TAG).await;
        let p = token(&side.patient);
        let post = |body: Value| api(&app, "POST", "/api/v1/records", &p, Some(body));
        let hidden = post(json!({"kind": "moodCheckIn", "body": {"recordedAt": "2026-03-01T09:00:00Z",
            "mood": 2, "anxiety": 8, "energy": 3, "note": "a private check-in note"}})).await;
        assert_eq!(hidden.status, 201);
        let session = post(json!({"kind": "dosingSession", "body": {"scheduledAt": "2026-03-05T09:00:00Z",
            "route": "intramuscular", "status": "completed"}})).await;
        let session_id = session.body["id"].as_str().unwrap().to_owned();
        let later = post(json!({"kind": "assessment", "body": {"instrument": "phq9",
            "takenAt": "2026-03-20T09:00:00Z", "answers": [1, 1, 0, 1, 0, 0, 1, 0, 0]}})).await;
        assert_eq!(later.status, 201);
        // Dosing sessions are shared one by one: this one.
        let share = post(item_share(&side.therapist_id, &session_id)).await;
        let share_id = share.body["id"].as_str().unwrap().to_owned();
        let browser = signed_in(&app, TAG).await;
        let uri = format!("/portal/patients/{}", side.patient_id);
        let page = fetch(&app, browser.get(&uri)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("page&#39;s entry") || page.body.contains("page's entry"), "{}", page.body);
        assert!(!page.body.contains("a private check-in note"), "an unshared check-in shows");
        // The chart: both PHQ-9 totals where the data says, the session marked.
        assert!(page.body.contains(r#"data-series="PHQ-9" data-at="2026-03-02T09:00:00+00:00" data-value="11""#), "{}", page.body);
        assert!(page.body.contains(r#"data-series="PHQ-9" data-at="2026-03-20T09:00:00+00:00" data-value="4""#));
        assert!(page.body.contains(r#"class="event" data-at="2026-03-05T09:00:00+00:00""#));
        assert!(page.body.contains(">D1<"));
        // 11 → 4: a response and a remission, said in words.
        assert!(page.body.contains("Remission"), "{}", page.body);
        // The patient revokes the session's share: gone at the next load.
        let revoked = api(&app, "PUT", &format!("/api/v1/records/{share_id}"), &p, Some(json!({
            "kind": "share", "body": {"therapistId": side.therapist_id,
            "scope": {"type": "item", "recordId": session_id}, "revoked": true}}))).await;
        assert_eq!(revoked.status, 200, "{:?}", revoked.body);
        let after = fetch(&app, browser.get(&uri)).await;
        assert!(!after.body.contains(r#"class="event""#), "a revoked session still shows");
        // Ending the link hides the whole patient.
        let links = api(&app, "GET", "/api/v1/care/links", &p, None).await;
        let link = links.body[0]["id"].as_str().unwrap().to_owned();
        assert_eq!(api(&app, "DELETE", &format!("/api/v1/care/links/{link}"), &p, None).await.status, 204);
        let gone = fetch(&app, browser.get(&uri)).await;
        assert_eq!(gone.status, 404);
        assert!(!gone.body.contains("page's entry") && !gone.body.contains("page&#39;s entry"));
    }

    async fn every_portal_read_is_in_the_patients_access_log(server: TestServer) {
        let app = server.app().await;
        const TAG: &str = "audit";
        let side = side(&server, &app, TAG).await;
        let browser = signed_in(&app, TAG).await;
        let uri = format!("/portal/patients/{}", side.patient_id);
        assert_eq!(fetch(&app, browser.get("/portal")).await.status, 200);
        assert_eq!(fetch(&app, browser.get(&uri)).await.status, 200);
        assert_eq!(fetch(&app, browser.get("/portal/alerts")).await.status, 200);
        let log = api(&app, "GET", "/api/v1/me/access-log", &token(&side.patient), None).await;
        assert_eq!(log.status, 200, "{:?}", log.body);
        let actions: Vec<String> = log.body["entries"].as_array().unwrap().iter()
            .map(|e| e["action"].as_str().unwrap().to_owned()).collect();
        for action in ["portal-caseload", "portal-timeline", "portal-feed", "portal-item"] {
            assert!(actions.iter().any(|a| a == action), "{action} missing from {actions:?}");
        }
        let entry_read = log.body["entries"].as_array().unwrap().iter()
            .any(|e| e["action"] == "portal-feed" && e["recordId"] == side.record.as_str());
        assert!(entry_read, "the entry shown on the page is logged: {:?}", log.body);
    }

    async fn comments_written_on_the_portal_reach_the_phone(server: TestServer) {
        let app = server.app().await;
        const TAG: &str = "comments";
        let side = side(&server, &app, TAG).await;
        let browser = signed_in(&app, TAG).await;
        let uri = format!("/portal/patients/{}", side.patient_id);
        let page = fetch(&app, browser.get(&uri)).await;
        let csrf = page.csrf();
        let target = format!("{uri}/records/{}/comments", side.record);
        let forged = fetch(&app, browser.post(&target, &[("csrf", "forged"), ("text", "forged words")])).await;
        assert_eq!(forged.status, 403);
        let blank = fetch(&app, browser.post(&target, &[("csrf", csrf.as_str()), ("text", "   ")])).await;
        assert_eq!(blank.status, 422, "{}", blank.body);
        let added = fetch(&app, browser.post(&target, &[("csrf", csrf.as_str()), ("text", "Thank you — let's talk about the sea.")])).await;
        assert_eq!(added.status, 303, "{}", added.body);
        assert_eq!(added.location(), format!("{uri}#item-{}", side.record));
        let pull = api(&app, "GET", "/api/v1/sync/pull", &token(&side.patient), None).await;
        let texts: Vec<String> = pull.body["changes"].as_array().unwrap().iter()
            .filter(|c| c["type"] == "comment")
            .map(|c| c["comment"]["text"].as_str().unwrap_or("").to_owned()).collect();
        assert!(texts.iter().any(|t| t == "Thank you — let's talk about the sea."), "{texts:?}");
        assert!(!texts.iter().any(|t| t == "forged words"));
        // The patient replies from the app: the reply is on the page, under
        // their name, and it is not the therapist's to edit or delete.
        let reply = api(&app, "POST", &format!("/api/v1/records/{}/comments", side.record), &token(&side.patient),
            Some(json!({"replyTo": side.comment, "text": "It said: slow down."}))).await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        let reply_id = reply.body["id"].as_str().unwrap().to_owned();
        let page = fetch(&app, browser.get(&uri)).await;
        assert!(page.body.contains("It said: slow down."), "{}", page.body);
        assert!(page.body.contains(&format!("{TAG}.patient@example.org replied")), "{}", page.body);
        assert!(!page.body.contains(&format!("/comments/{reply_id}")), "no edit or delete form for a reply");
        let edit_theirs = fetch(&app, browser.post(&format!("{uri}/comments/{reply_id}"),
            &[("csrf", csrf.as_str()), ("text", "Put words in their mouth")])).await;
        assert_eq!(edit_theirs.status, 404, "{}", edit_theirs.body);
        let delete_theirs = fetch(&app, browser.post(&format!("{uri}/comments/{reply_id}/delete"), &[("csrf", csrf.as_str())])).await;
        assert_eq!(delete_theirs.status, 404, "{}", delete_theirs.body);
        // Edit, then delete, from the page.
        let page = fetch(&app, browser.get(&uri)).await;
        let marker = format!("{uri}/comments/");
        let start = page.body.find(&marker).unwrap() + marker.len();
        let comment = page.body[start..start + 36].to_owned();
        let edited = fetch(&app, browser.post(&format!("{uri}/comments/{comment}"),
            &[("csrf", csrf.as_str()), ("text", "Edited words")])).await;
        assert_eq!(edited.status, 303, "{}", edited.body);
        assert!(fetch(&app, browser.get(&uri)).await.body.contains("Edited words"));
        let deleted = fetch(&app, browser.post(&format!("{uri}/comments/{comment}/delete"), &[("csrf", csrf.as_str())])).await;
        assert_eq!(deleted.status, 303);
        let page = fetch(&app, browser.get(&uri)).await;
        assert!(!page.body.contains("Edited words"));
        assert!(page.body.contains("It said: slow down."), "the patient's reply stays theirs");
        // Another therapist's comment (made through the API by `side`'s
        // fixture) cannot be deleted by a stranger.
        // The stranger's accounts, made for this.
        side_stranger(&server, &app).await;
        let stranger = signed_in(&app, "stranger").await;
        let page = fetch(&app, stranger.get("/portal")).await;
        let theirs = fetch(&app, stranger.post(&format!("/portal/patients/{}/comments/{}/delete", side.patient_id, side.comment),
            &[("csrf", page.csrf().as_str())])).await;
        assert_eq!(theirs.status, 404, "{}", theirs.body);
    }

    async fn alerts_are_acknowledged_and_resolved_from_the_inbox(server: TestServer) {
        let app = server.app().await;
        const TAG: &str = "inbox";
        let side = side(&server, &app, TAG).await;
        let browser = signed_in(&app, TAG).await;
        let inbox = fetch(&app, browser.get("/portal/alerts")).await;
        assert_eq!(inbox.status, 200, "{}", inbox.body);
        assert!(inbox.body.contains("Several days"), "the answer itself: {}", inbox.body);
        let csrf = inbox.csrf();
        let acknowledge = format!("/portal/alerts/{}/acknowledge", side.alert);
        assert_eq!(fetch(&app, browser.post(&acknowledge, &[("csrf", "forged")])).await.status, 403);
        let done = fetch(&app, browser.post(&acknowledge, &[("csrf", csrf.as_str())])).await;
        assert_eq!(done.status, 303);
        let twice = fetch(&app, browser.post(&acknowledge, &[("csrf", csrf.as_str())])).await;
        assert_eq!(twice.status, 409, "{}", twice.body);
        let resolve = format!("/portal/alerts/{}/resolve", side.alert);
        let long = "x".repeat(2_001);
        assert_eq!(fetch(&app, browser.post(&resolve, &[("csrf", csrf.as_str()), ("note", long.as_str())])).await.status, 422);
        let resolved = fetch(&app, browser.post(&resolve, &[("csrf", csrf.as_str()), ("note", "Called; safety plan in place.")])).await;
        assert_eq!(resolved.status, 303);
        let after = fetch(&app, browser.get("/portal/alerts")).await;
        assert!(after.body.contains("<h2>Resolved</h2>"));
        assert!(after.body.contains("Called; safety plan in place."));
        let api_view = api(&app, "GET", "/api/v1/therapist/alerts", &token(&side.therapist), None).await;
        assert_eq!(api_view.body["alerts"][0]["status"], "resolved");
        for bad in ["/portal/alerts/not-an-id/acknowledge", "/portal/alerts/01a23828-e42f-7189-85d5-ff34cd8c73d5/acknowledge"] {
            let answer = fetch(&app, browser.post(bad, &[("csrf", csrf.as_str())])).await;
            assert_eq!(answer.status, 404, "{bad}");
        }
    }

    async fn another_therapists_patient_and_bad_input_get_a_page_never_a_500(server: TestServer) {
        let app = server.app().await;
        const TAG: &str = "mine";
        let side = side(&server, &app, TAG).await;
        let other = side_stranger(&server, &app).await;
        let browser = signed_in(&app, TAG).await;
        let cases = [
            (format!("/portal/patients/{}", other.patient_id), 404),
            ("/portal/patients/not-a-uuid".to_owned(), 404),
            (format!("/portal/patients/{}?from=yesterday", side.patient_id), 422),
            (format!("/portal/patients/{}?from=2026-03-10&to=2026-03-01", side.patient_id), 422),
            (format!("/portal/patients/{}?before=%00%ff", side.patient_id), 422),
            (format!("/portal/patients/{}?evil=1", side.patient_id), 422),
            (format!("/portal/patients/{}/summary", other.patient_id), 404),
            (format!("/portal/patients/{}/scores.csv", other.patient_id), 404),
        ];
        for (uri, status) in cases {
            let page = fetch(&app, browser.get(&uri)).await;
            assert_eq!(page.status, status, "{uri}: {}", page.body);
            assert!(page.header("content-type").starts_with("text/html"), "{uri}");
            assert!(!page.body.contains("mine's entry") || uri.contains(&side.patient_id), "{uri}");
            assert!(!page.body.contains("stranger's entry"), "{uri}: another's data");
        }
        // A forged session cookie is no session.
        let forged = Browser { cookie: "kap-portal=made-up".to_owned() };
        assert_eq!(fetch(&app, forged.get("/portal")).await.location(), "/portal/sign-in");
        // Writing to another therapist's patient's record.
        let page = fetch(&app, browser.get("/portal")).await;
        let theirs = fetch(&app, browser.post(&format!("/portal/patients/{}/records/{}/comments", other.patient_id, other.record),
            &[("csrf", page.csrf().as_str()), ("text", "hello")])).await;
        assert_eq!(theirs.status, 404, "{}", theirs.body);
    }

    async fn a_shared_commitment_shows_with_the_intention_it_came_from(server: TestServer) {
        let app = server.app().await;
        const TAG: &str = "commit";
        let side = side(&server, &app, TAG).await;
        let p = token(&side.patient);
        let post = |body: Value| api(&app, "POST", "/api/v1/records", &p, Some(body));
        let session = post(json!({"kind": "dosingSession", "body": {"scheduledAt": "2026-03-05T09:00:00Z",
            "route": "intramuscular", "status": "completed"}})).await;
        let session_id = session.body["id"].as_str().unwrap().to_owned();
        let intention = post(json!({"kind": "intention", "body": {"text": "Meet my grief with patience",
            "dosingSessionId": session_id}})).await;
        let intention_id = intention.body["id"].as_str().unwrap().to_owned();
        let commitment = post(json!({"kind": "commitment", "body": {"text": "Walk by the river every morning",
            "dosingSessionId": session_id, "intentionId": intention_id, "followUpOn": "2026-03-19",
            "status": "changed", "note": "Three mornings a week suits me better"}})).await;
        assert_eq!(commitment.status, 201, "{:?}", commitment.body);
        // Only commitments are shared at first: the intention is not quoted.
        assert_eq!(post(kinds_share(&side.therapist_id, &["commitment"])).await.status, 201);
        let browser = signed_in(&app, TAG).await;
        let uri = format!("/portal/patients/{}", side.patient_id);
        let page = fetch(&app, browser.get(&uri)).await;
        assert!(page.body.contains("Walk by the river every morning"), "{}", page.body);
        assert!(page.body.contains("Follow up on 19 Mar 2026 · kept, changed"), "{}", page.body);
        assert!(page.body.contains("Three mornings a week"));
        assert!(page.body.contains("Carries on an intention not shown on this page."));
        assert!(!page.body.contains("Meet my grief"), "an unshared intention is quoted");
        // With the intention shared too, the commitment quotes and links it.
        assert_eq!(post(item_share(&side.therapist_id, &intention_id)).await.status, 201);
        let page = fetch(&app, browser.get(&uri)).await;
        assert!(page.body.contains(&format!("From the intention: <a href=\"#item-{intention_id}\">“Meet my grief with patience”</a>")), "{}", page.body);
    }

    async fn a_care_plan_is_set_from_the_patient_page_and_its_adherence_shown(server: TestServer) {
        let app = server.app().await;
        const TAG: &str = "plan";
        let side = side(&server, &app, TAG).await;
        let other = side_stranger(&server, &app).await;
        let browser = signed_in(&app, TAG).await;
        let uri = format!("/portal/patients/{}", side.patient_id);
        let target = format!("{uri}/care-plan");
        let api_plan = format!("/api/v1/care-plans/{}", side.patient_id);
        let t = token(&side.therapist);
        let page = fetch(&app, browser.get(&uri)).await;
        assert!(page.body.contains("Set a care plan"), "{}", page.body);
        let csrf = page.csrf();
        let csrf = csrf.as_str();
        let prompt = journal_core::prompts::for_phase(journal_core::Phase::Integration).next().unwrap().id;
        let prompt_field = format!("prompt.{prompt}");
        // Refused, each with a page that says why, and nothing written.
        let forged = fetch(&app, browser.post(&target, &[("csrf", "forged"), ("checkIns", "daily")])).await;
        assert_eq!(forged.status, 403);
        for (form, says) in [
            (vec![("phq9.every", "0")], "PHQ-9, every how many days"),
            (vec![("gad7.after", "3, -1")], "days after the session as whole numbers"),
            (vec![("gad7.after", "400, 3, 3")], "is listed twice"),
            (vec![("phq9.every", "often")], "must be a whole number of days"),
            (vec![("checkIns", "hourly")], "every day, every week, or not at all"),
            (vec![("followUps", "on"), ("followUps.days", "0")], "Follow-up days"),
            (vec![("evil", "1")], "does not know"),
        ] {
            let mut fields = vec![("csrf", csrf)];
            fields.extend(form.iter().copied());
            let refused = fetch(&app, browser.post(&target, &fields)).await;
            assert_eq!(refused.status, 422, "{form:?}: {}", refused.body);
            assert!(refused.body.contains(says), "{form:?} should say {says:?}: {}", refused.body);
            assert_eq!(api(&app, "GET", &api_plan, &t, None).await.status, 404, "{form:?} wrote a plan");
        }
        // Set: the store has exactly what the form said.
        let set = fetch(&app, browser.post(&target, &[
            ("csrf", csrf), ("phq9.every", "14"), ("phq9.after", "1, 7"), ("gad7.before", "on"),
            ("followUps", "on"), ("followUps.days", "1 3"), (prompt_field.as_str(), "on"), ("checkIns", "daily"),
        ])).await;
        assert_eq!(set.status, 303, "{}", set.body);
        assert_eq!(set.location(), format!("{uri}#care-plan"));
        let stored = api(&app, "GET", &api_plan, &t, None).await;
        assert_eq!(stored.body["plan"], json!({
            "measures": [
                {"instrument": "phq9", "everyDays": 14, "beforeEachSession": false, "daysAfterSession": [1, 7]},
                {"instrument": "gad7", "beforeEachSession": true}
            ],
            "followUps": {"days": [1, 3], "promptIds": [prompt]},
            "checkIns": "daily"
        }));
        // It reaches the patient's phone by pull.
        let pull = api(&app, "GET", "/api/v1/sync/pull", &token(&side.patient), None).await;
        assert!(pull.body["changes"].as_array().unwrap().iter().any(|c| c["type"] == "carePlan"));
        // The page shows it in the form, with adherence.
        let page = fetch(&app, browser.get(&uri)).await;
        assert!(page.body.contains("Change the care plan"));
        assert!(page.body.contains("Kept to over the last 30 days"));
        assert!(page.body.contains(r#"name="phq9.every" value="14""#), "{}", page.body);
        assert!(page.body.contains("not shared with you (check-ins)"));
        let caseload = fetch(&app, browser.get("/portal")).await;
        assert!(caseload.body.contains("Care plan, last 30 days"));
        assert!(caseload.body.contains("Questionnaires: "), "{}", caseload.body);
        // Another therapist's patient: a page, nothing written.
        let theirs = fetch(&app, browser.post(&format!("/portal/patients/{}/care-plan", other.patient_id),
            &[("csrf", csrf), ("checkIns", "daily")])).await;
        assert_eq!(theirs.status, 404, "{}", theirs.body);
        assert_eq!(api(&app, "GET", &format!("/api/v1/care-plans/{}", other.patient_id), &token(&other.therapist), None).await.status, 404);
        // Removed.
        let removed = fetch(&app, browser.post(&format!("{target}/remove"), &[("csrf", csrf)])).await;
        assert_eq!(removed.status, 303, "{}", removed.body);
        assert_eq!(api(&app, "GET", &api_plan, &t, None).await.status, 404);
        assert!(fetch(&app, browser.get("/portal")).await.body.contains("no plan"));
        let again = fetch(&app, browser.post(&format!("{target}/remove"), &[("csrf", csrf)])).await;
        assert_eq!(again.status, 404, "{}", again.body);
    }

    async fn the_summary_and_csv_hold_the_scores(server: TestServer) {
        let app = server.app().await;
        const TAG: &str = "export";
        let side = side(&server, &app, TAG).await;
        let browser = signed_in(&app, TAG).await;
        let base = format!("/portal/patients/{}", side.patient_id);
        let summary = fetch(&app, browser.get(&format!("{base}/summary"))).await;
        assert_eq!(summary.status, 200);
        assert!(summary.body.contains("Measures summary"));
        assert!(summary.body.contains("<td class=\"num\">11</td>"), "{}", summary.body);
        let csv = fetch(&app, browser.get(&format!("{base}/scores.csv"))).await;
        assert_eq!(csv.status, 200);
        assert!(csv.header("content-type").starts_with("text/csv"));
        assert_eq!(csv.header("cache-control"), "no-store");
        assert_eq!(csv.body, "taken_at,questionnaire,total,band,answers\r\n\
            2026-03-02T09:00:00+00:00,PHQ-9,11,moderate,2 2 1 1 1 1 1 1 1\r\n");
        let none = fetch(&app, browser.get(&format!("{base}/scores.csv?from=2027-01-01"))).await;
        assert_eq!(none.body, "taken_at,questionnaire,total,band,answers\r\n");
    }
}

/// A second, unrelated therapist and patient.
async fn side_stranger<S, B>(server: &TestServer, app: &S) -> Side
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    side(server, app, "stranger").await
}

#[actix_web::test]
async fn over_tls_the_cookie_is_secure_and_host_prefixed() {
    let server = TestServer::start_with(
        journal_testing::Backend::Sqlite,
        &["--portal-cookie", "secure"],
    )
    .await
    .unwrap();
    let app = server.app().await;
    const TAG: &str = "tls";
    let _side = side(&server, &app, TAG).await;
    let form = fetch(&app, TestRequest::get().uri("/portal/sign-in")).await;
    let pre = form.cookies()[0].clone();
    assert!(
        pre.starts_with("__Host-kap-portal-sign-in=") && pre.contains("Secure"),
        "{pre}"
    );
    let (answer, browser) = sign_in(&app, &therapist_email(TAG), THERAPIST_PASSWORD).await;
    let set = answer
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("__Host-kap-portal="))
        .unwrap();
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(
        !set.contains("Domain"),
        "__Host- cookies name no domain: {set}"
    );
    assert_eq!(fetch(&app, browser.get("/portal")).await.status, 200);
}

//! What the server's tests share: an application on a fresh database of
//! either backend, and helpers to call it.
//!
//! Every test that touches the database is written once with
//! [`on_both_backends!`] and runs as two tests, `…::sqlite` and
//! `…::postgres`. PostgreSQL comes from `TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); each test gets a database of
//! its own, dropped afterwards (journal-testing's `TestDatabase`). The PostgreSQL half is skipped only when
//! `JOURNAL_SKIP_POSTGRES=1` and not under `CI=true` (`scripts/test.sh` sets
//! it when no PostgreSQL can be started).

// Test support: failing loudly on a broken setup is its job.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::test::{self, TestRequest};
use actix_web::web;
use diesel::prelude::*;
use journal_server::config::Cli;
use journal_server::state::AppState;
pub use journal_testing::Backend;
use journal_testing::{TestDatabase, jwt_secret};
use serde_json::{Value, json};

/// Runs each test body on both backends.
#[macro_export]
macro_rules! on_both_backends {
    ($(async fn $name:ident($server:ident: TestServer) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($server: TestServer) $body

            #[actix_web::test]
            async fn sqlite() {
                run(TestServer::start(Backend::Sqlite).await.expect("sqlite")).await;
            }

            #[actix_web::test]
            async fn postgres() {
                if let Some(server) = TestServer::start(Backend::Postgres).await {
                    run(server).await;
                }
            }
        }
    )*};
}

/// An application on a fresh database.
pub struct TestServer {
    /// The shared state, for tests that look into the database.
    pub state: web::Data<AppState>,
    /// The backend.
    pub backend: Backend,
    args: Vec<String>,
    _database: TestDatabase,
}

impl TestServer {
    /// A server on a fresh database; `None` when PostgreSQL is skipped here.
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, &[]).await
    }

    /// Like [`TestServer::start`], with extra command-line settings.
    pub async fn start_with(backend: Backend, extra: &[&str]) -> Option<Self> {
        let database = TestDatabase::create(backend, "journal_test_")?;
        let secret = jwt_secret(TEST_SECRET_SEED);
        let mut args = vec![
            "journal-server",
            "--database-url",
            database.url(),
            "--jwt-secret",
            &secret,
            "--db-pool-size",
            "4",
        ];
        // Tests sign in often from one address; a test about the limit sets
        // its own.
        if !extra.contains(&"--auth-attempts-per-minute") {
            args.extend_from_slice(&["--auth-attempts-per-minute", "10000"]);
        }
        args.extend_from_slice(extra);
        Some(Self {
            state: state_from(&args),
            backend,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            _database: database,
        })
    }

    /// The state of another server instance with the same settings on the
    /// same database (its own pool and memory), as behind a load balancer;
    /// [`app_of`] makes its application.
    #[allow(dead_code)]
    pub fn another_instance(&self) -> web::Data<AppState> {
        state_from(&self.args)
    }

    /// The application, ready to call.
    pub async fn app(
        &self,
    ) -> impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    > {
        app_of(self.state.clone()).await
    }
}

/// A server's state from its command-line settings.
fn state_from<S: AsRef<str>>(args: &[S]) -> web::Data<AppState> {
    let cli = <Cli as clap::Parser>::try_parse_from(args.iter().map(AsRef::as_ref))
        .expect("test settings");
    web::Data::new(journal_server::build_state(&cli.config).expect("server state"))
}

/// The application of an instance's state, ready to call.
pub async fn app_of(
    state: web::Data<AppState>,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    test::init_service(journal_server::build_app(state)).await
}

/// The field and rule of each violation in a validation problem (422), in
/// order.
#[track_caller]
pub fn fields(reply: &Reply) -> Vec<(String, String)> {
    reply.assert_problem(422, "validation");
    reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["rule"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A violation as [`fields`] lists it.
pub fn pair(field: &str, rule: &str) -> (String, String) {
    (field.to_owned(), rule.to_owned())
}

/// A response, read.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
}

impl Reply {
    /// The Content-Type header.
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts a problem document with this status and type slug.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, slug: &str) {
        assert_eq!(self.status.as_u16(), status, "{:?}", self.body);
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "{:?}",
            self.body
        );
        assert_eq!(
            self.body["type"],
            format!("urn:kap-journal:problem:{slug}"),
            "{:?}",
            self.body
        );
        assert_eq!(self.body["status"], status);
        assert!(
            self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{:?}",
            self.body
        );
    }
}

/// Sends a request and reads the reply.
pub async fn call<S, B>(app: &S, request: TestRequest) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let response = test::call_service(app, request.to_request()).await;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = test::read_body(response).await;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
    }
}

/// A request with a bearer token.
pub fn authed(request: TestRequest, token: &str) -> TestRequest {
    request.insert_header(("Authorization", format!("Bearer {token}")))
}

/// Registers a patient; returns the token response.
pub async fn register<S, B>(app: &S, email: &str) -> Value
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let reply = call(
        app,
        TestRequest::post()
            .uri("/api/v1/auth/register")
            .set_json(json!({"email": email, "password": "correct horse battery"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.body
}

/// Creates a therapist account directly (as the operator command does) and
/// signs in; returns the token response.
pub async fn therapist<S, B>(server: &TestServer, app: &S, email: &str) -> Value
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let hash = server
        .state
        .passwords
        .hash("therapist password".to_owned())
        .await
        .expect("hash");
    let email_owned = email.to_owned();
    server
        .state
        .db
        .run(move |conn| {
            journal_server::store::accounts::insert_account(
                conn,
                &email_owned,
                &hash,
                journal_server::auth::Role::Therapist,
                Some("Dr. Test"),
            )
        })
        .await
        .expect("therapist account");
    let reply = call(
        app,
        TestRequest::post()
            .uri("/api/v1/auth/login")
            .set_json(json!({"email": email, "password": "therapist password"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.body
}

/// The access token of a token response.
pub fn token(tokens: &Value) -> String {
    tokens["accessToken"]
        .as_str()
        .expect("access token")
        .to_owned()
}

/// The byte [`TestServer`]'s signing secret repeats ([`jwt_secret`]).
const TEST_SECRET_SEED: u8 = 42;

/// The signing secret [`TestServer`] configures ([`jwt_secret`] of
/// [`TEST_SECRET_SEED`], decoded).
pub const TEST_SECRET: [u8; 32] = journal_testing::secret_bytes(TEST_SECRET_SEED);

/// Signs `claims` with `key` under `header`, as anyone holding the key
/// could: for tests that forge access tokens.
pub fn sign_token(header: &jsonwebtoken::Header, claims: &Value, key: &[u8]) -> String {
    jsonwebtoken::encode(header, claims, &jsonwebtoken::EncodingKey::from_secret(key))
        .expect("sign a token")
}

/// The claims the test server itself would put in an access token for
/// `sub` with `role` in sign-in session `session`, valid for a minute.
pub fn access_claims(sub: &str, role: &str, session: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"iss": "kap-journal", "aud": "kap-journal-api", "sub": sub, "role": role,
           "iat": now, "nbf": now, "exp": now + 60, "jti": uuid::Uuid::now_v7().to_string(),
           "sid": session})
}

/// The sign-in session (`sid`) an access token of `tokens` (a sign-in
/// answer) belongs to, read from its payload.
pub fn session_of(tokens: &Value) -> String {
    use base64::Engine;
    let access = token(tokens);
    let payload = access.split('.').nth(1).expect("a JWT");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("JSON claims");
    claims["sid"].as_str().expect("a session id").to_owned()
}

/// A request of `method` (lower case, as the OpenAPI document spells it)
/// to `uri`.
pub fn request_of(method: &str, uri: &str) -> TestRequest {
    let request = match method {
        "get" => TestRequest::get(),
        "post" => TestRequest::post(),
        "put" => TestRequest::put(),
        "delete" => TestRequest::delete(),
        "patch" => TestRequest::patch(),
        other => panic!("unexpected method {other}"),
    };
    request.uri(uri)
}

/// Every row an API request could change, table by table, read straight
/// from the database: compare two snapshots to prove a request changed
/// nothing. Sign-in throttling rows are left out (counting failures is
/// their job), and so are times that only record when a row was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSnapshot(pub Vec<(&'static str, Vec<String>)>);

/// Reads a [`DataSnapshot`].
pub async fn data_snapshot(server: &TestServer) -> DataSnapshot {
    use journal_server::store::StoreError;
    use journal_server::store::schema::*;
    fn rows<T: std::fmt::Debug>(rows: Vec<T>) -> Vec<String> {
        let mut out: Vec<String> = rows.iter().map(|r| format!("{r:?}")).collect();
        out.sort();
        out
    }
    server
        .state
        .db
        .run(|conn| -> Result<DataSnapshot, StoreError> {
            let tables = vec![
                (
                    "users",
                    rows(
                        users::table
                            .select((
                                users::id,
                                users::email,
                                users::password_hash,
                                users::role,
                                users::display_name,
                            ))
                            .load::<(String, String, String, String, Option<String>)>(conn)?,
                    ),
                ),
                (
                    "refresh_tokens",
                    rows(
                        refresh_tokens::table
                            .select((
                                refresh_tokens::id,
                                refresh_tokens::user_id,
                                refresh_tokens::family_id,
                                refresh_tokens::used_at,
                                refresh_tokens::revoked_at,
                            ))
                            .load::<(String, String, String, Option<i64>, Option<i64>)>(conn)?,
                    ),
                ),
                (
                    "care_invitations",
                    rows(
                        care_invitations::table
                            .select((
                                care_invitations::id,
                                care_invitations::therapist_id,
                                care_invitations::used_by,
                                care_invitations::revoked_at,
                            ))
                            .load::<(String, String, Option<String>, Option<i64>)>(conn)?,
                    ),
                ),
                (
                    "care_links",
                    rows(
                        care_links::table
                            .select((
                                care_links::id,
                                care_links::patient_id,
                                care_links::therapist_id,
                                care_links::ended_at,
                            ))
                            .load::<(String, String, String, Option<i64>)>(conn)?,
                    ),
                ),
                (
                    "owner_versions",
                    rows(owner_versions::table.load::<(String, i64)>(conn)?),
                ),
                (
                    "records",
                    rows(
                        records::table
                            .select((
                                records::id,
                                records::owner_id,
                                records::kind,
                                records::deleted,
                                records::body,
                                records::version,
                                records::hlc,
                                records::field_stamps,
                            ))
                            .load::<(String, String, String, bool, String, i64, i64, String)>(
                                conn,
                            )?,
                    ),
                ),
                (
                    "care_plans",
                    rows(
                        care_plans::table
                            .select((
                                care_plans::id,
                                care_plans::patient_id,
                                care_plans::therapist_id,
                                care_plans::body,
                                care_plans::updated_at,
                            ))
                            .load::<(String, String, String, String, i64)>(conn)?,
                    ),
                ),
                (
                    "record_revisions",
                    rows(
                        record_revisions::table
                            .select((
                                record_revisions::id,
                                record_revisions::record_id,
                                record_revisions::body,
                            ))
                            .load::<(String, String, String)>(conn)?,
                    ),
                ),
                (
                    "sync_devices",
                    rows(
                        sync_devices::table
                            .select((
                                sync_devices::device_id,
                                sync_devices::owner_id,
                                sync_devices::last_mutation_id,
                            ))
                            .load::<(String, String, i64)>(conn)?,
                    ),
                ),
                (
                    "mutation_outcomes",
                    rows(
                        mutation_outcomes::table
                            .select((
                                mutation_outcomes::device_id,
                                mutation_outcomes::mutation_id,
                                mutation_outcomes::outcome,
                            ))
                            .load::<(String, i64, String)>(conn)?,
                    ),
                ),
                (
                    "comments",
                    rows(
                        comments::table
                            .select((
                                comments::id,
                                comments::record_id,
                                comments::therapist_id,
                                comments::text,
                                comments::deleted,
                                comments::version,
                            ))
                            .load::<(String, String, String, String, bool, i64)>(conn)?,
                    ),
                ),
                (
                    "audit_log",
                    rows(
                        audit_log::table
                            .select((audit_log::id, audit_log::record_id))
                            .load::<(String, Option<String>)>(conn)?,
                    ),
                ),
                (
                    "alerts",
                    rows(
                        alerts::table
                            .select((alerts::id, alerts::status, alerts::note))
                            .load::<(String, String, Option<String>)>(conn)?,
                    ),
                ),
            ];
            Ok(DataSnapshot(tables))
        })
        .await
        .expect("data snapshot")
}

/// One patient and their therapist with one of everything a path can name:
/// a journal entry shared with the therapist, a risk answer and the alert it
/// raised, a comment, the care link, a pending invitation. Abuse tests make
/// two, to aim one side's tokens at the other side's ids.
#[derive(Debug, Clone)]
pub struct Side {
    /// The patient's token response.
    pub patient: Value,
    /// The patient's id.
    pub patient_id: String,
    /// The therapist's token response.
    pub therapist: Value,
    /// The therapist's id.
    pub therapist_id: String,
    /// The patient's journal entry, shared with the therapist.
    pub record: String,
    /// The therapist's pending invitation.
    pub invitation: String,
    /// The care link between the two.
    pub link: String,
    /// The open alert the patient's risk answer raised.
    pub alert: String,
    /// The therapist's comment on the entry.
    pub comment: String,
}

/// The password [`register`] gives every patient.
pub const PATIENT_PASSWORD: &str = "correct horse battery";

/// Makes a [`Side`]; `tag` keeps the emails apart.
pub async fn side<S, B>(server: &TestServer, app: &S, tag: &str) -> Side
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let patient = register(app, &format!("{tag}.patient@example.org")).await;
    let therapist_tokens = therapist(server, app, &format!("{tag}.therapist@clinic.example")).await;
    let (p, t) = (token(&patient), token(&therapist_tokens));
    let therapist_id = therapist_tokens["account"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let post = |uri: &str, who: &str, body: Option<Value>| {
        let request = authed(TestRequest::post().uri(uri), who);
        match body {
            Some(body) => request.set_json(body),
            None => request,
        }
    };
    let invited = call(app, post("/api/v1/care/invitations", &t, None)).await;
    assert_eq!(invited.status, 201, "{:?}", invited.body);
    let linked = call(
        app,
        post(
            "/api/v1/care/links",
            &p,
            Some(json!({"code": invited.body["code"]})),
        ),
    )
    .await;
    assert_eq!(linked.status, 201, "{:?}", linked.body);
    let pending = call(app, post("/api/v1/care/invitations", &t, None)).await;
    assert_eq!(pending.status, 201, "{:?}", pending.body);
    let mut made = Vec::new();
    for body in [
        json!({"kind": "share", "body": {"therapistId": therapist_id,
            "scope": {"type": "kinds", "kinds": ["journalEntry", "assessment"]}}}),
        json!({"kind": "journalEntry", "body": {"body": format!("{tag}'s entry"), "phase": "integration"}}),
        json!({"kind": "assessment", "body": {"instrument": "phq9", "takenAt": "2026-03-02T09:00:00Z",
            "answers": [2, 2, 1, 1, 1, 1, 1, 1, 1]}}),
    ] {
        let reply = call(app, post("/api/v1/records", &p, Some(body))).await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        made.push(reply.body["id"].as_str().unwrap().to_owned());
    }
    let patient_id = patient["account"]["id"].as_str().unwrap().to_owned();
    let alerts = call(
        app,
        authed(TestRequest::get().uri("/api/v1/therapist/alerts"), &t),
    )
    .await;
    assert_eq!(alerts.status, 200, "{:?}", alerts.body);
    let alert = alerts.body["alerts"][0]["id"]
        .as_str()
        .expect("an alert")
        .to_owned();
    let commented = call(
        app,
        post(
            &format!(
                "/api/v1/therapist/patients/{patient_id}/records/{}/comments",
                made[1]
            ),
            &t,
            Some(json!({"text": "Thank you for sharing this."})),
        ),
    )
    .await;
    assert_eq!(commented.status, 201, "{:?}", commented.body);
    Side {
        patient_id,
        therapist_id,
        record: made[1].clone(),
        invitation: pending.body["id"].as_str().unwrap().to_owned(),
        link: linked.body["id"].as_str().unwrap().to_owned(),
        alert,
        comment: commented.body["id"].as_str().unwrap().to_owned(),
        patient,
        therapist: therapist_tokens,
    }
}

impl Side {
    /// `path` (an OpenAPI path template) with this side's ids in place of
    /// its parameters. Panics on a parameter it does not know, so a new
    /// route cannot go untested.
    pub fn fill(&self, path: &str) -> String {
        let mut previous = "";
        let mut out = Vec::new();
        for segment in path.split('/') {
            let filled = match segment {
                "{patientId}" => self.patient_id.clone(),
                "{recordId}" => self.record.clone(),
                "{commentId}" => self.comment.clone(),
                "{id}" => match previous {
                    "records" => self.record.clone(),
                    "invitations" => self.invitation.clone(),
                    "links" => self.link.clone(),
                    "alerts" => self.alert.clone(),
                    other => panic!("{path}: no id known for {other}/{{id}}; teach Side::fill"),
                },
                s if s.starts_with('{') => {
                    panic!("{path}: unknown parameter {s}; teach Side::fill")
                }
                s => s.to_owned(),
            };
            previous = segment;
            out.push(filled);
        }
        out.join("/")
    }
}

/// The served OpenAPI document's operations: (method, path template,
/// operation object).
pub async fn documented_operations<S, B>(app: &S) -> Vec<(String, String, Value)>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let reply = call(app, TestRequest::get().uri("/api/v1/openapi.json")).await;
    assert_eq!(reply.status, 200);
    let mut out = Vec::new();
    for (path, operations) in reply.body["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            out.push((method.clone(), path.clone(), operation.clone()));
        }
    }
    assert!(out.len() > 30, "the document lists the routes");
    out
}

/// The token of the caller an operation of `side` is for: its therapist's
/// for therapist routes, its patient's for the rest, none for public ones.
pub fn holder(path: &str, operation: &Value, side: &Side) -> Option<String> {
    if !needs_token(operation) {
        return None;
    }
    let therapist = path.starts_with("/api/v1/therapist/")
        || path.starts_with("/api/v1/care/invitations")
        || path.starts_with("/api/v1/care-plans/");
    Some(if therapist {
        token(&side.therapist)
    } else {
        token(&side.patient)
    })
}

/// Whether an operation asks for a bearer token.
pub fn needs_token(operation: &Value) -> bool {
    operation["security"]
        .as_array()
        .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()))
}

/// Whether the operation documents `status` among its answers.
pub fn documents(operation: &Value, status: u16) -> bool {
    operation["responses"].get(status.to_string()).is_some()
}

/// The account id in a sign-in answer.
pub fn account_id(tokens: &Value) -> String {
    tokens["account"]["id"].as_str().unwrap().to_owned()
}

/// A patient's share of one record with `therapist`, as a record to create.
pub fn item_share(therapist: &str, record: &str) -> Value {
    json!({"kind": "share",
           "body": {"therapistId": therapist, "scope": {"type": "item", "recordId": record}}})
}

/// A patient's standing share of whole kinds with `therapist`.
pub fn kinds_share(therapist: &str, kinds: &[&str]) -> Value {
    json!({"kind": "share",
           "body": {"therapistId": therapist, "scope": {"type": "kinds", "kinds": kinds}}})
}

/// Links `patient` to `therapist` the way people do (the therapist's
/// invitation, the patient's code); returns the care link's id.
pub async fn link<S, B>(app: &S, therapist: &str, patient: &str) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let invitation = call(
        app,
        authed(
            TestRequest::post().uri("/api/v1/care/invitations"),
            therapist,
        ),
    )
    .await;
    assert_eq!(invitation.status, 201, "{:?}", invitation.body);
    let linked = call(
        app,
        authed(
            TestRequest::post()
                .uri("/api/v1/care/links")
                .set_json(json!({"code": invitation.body["code"]})),
            patient,
        ),
    )
    .await;
    assert_eq!(linked.status, 201, "{:?}", linked.body);
    linked.body["id"].as_str().unwrap().to_owned()
}

/// Every change pulled after `since`, page by page `limit` at a time; and
/// the last cursor.
pub async fn pull_changes<S, B>(app: &S, token: &str, since: u64, limit: u32) -> (Vec<Value>, u64)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut cursor = since;
    let mut changes = Vec::new();
    loop {
        let page = call(
            app,
            authed(
                TestRequest::get().uri(&format!("/api/v1/sync/pull?since={cursor}&limit={limit}")),
                token,
            ),
        )
        .await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        let got = page.body["changes"].as_array().unwrap().clone();
        cursor = page.body["cursor"].as_u64().unwrap();
        changes.extend(got);
        if !page.body["hasMore"].as_bool().unwrap() {
            return (changes, cursor);
        }
    }
}

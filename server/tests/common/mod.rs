//! What the server's tests share: an application on a fresh database of
//! either backend, and helpers to call it.
//!
//! Every test that touches the database is written once with
//! [`on_both_backends!`] and runs as two tests, `…::sqlite` and
//! `…::postgres`. PostgreSQL comes from `TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); each test gets a database of
//! its own, dropped afterwards. The PostgreSQL half is skipped only when
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
use base64::Engine;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use journal_server::config::Cli;
use journal_server::state::AppState;
use serde_json::{Value, json};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary folder.
    Sqlite,
    /// A database of its own on the test PostgreSQL server.
    Postgres,
}

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
    _cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, name } = self
            && let Ok(mut conn) = diesel::PgConnection::establish(admin_url)
        {
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
        }
    }
}

/// The PostgreSQL server the tests use.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn skip_postgres() -> bool {
    std::env::var("JOURNAL_SKIP_POSTGRES").as_deref() == Ok("1")
        && std::env::var("CI").as_deref() != Ok("true")
}

/// A URL on the same server with another database name.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

impl TestServer {
    /// A server on a fresh database; `None` when PostgreSQL is skipped here.
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, &[]).await
    }

    /// Like [`TestServer::start`], with extra command-line settings.
    pub async fn start_with(backend: Backend, extra: &[&str]) -> Option<Self> {
        let (url, cleanup) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("journal.db").display());
                (url, Cleanup::Sqlite(dir))
            }
            Backend::Postgres => {
                if skip_postgres() {
                    eprintln!("PostgreSQL half skipped: JOURNAL_SKIP_POSTGRES=1");
                    return None;
                }
                let admin_url = postgres_admin_url();
                let name = format!("journal_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = diesel::PgConnection::establish(&admin_url).unwrap_or_else(|e| {
                    panic!("PostgreSQL at {admin_url} is unreachable ({e}); run ./scripts/test.sh, which starts it")
                });
                admin
                    .batch_execute(&format!("CREATE DATABASE \"{name}\""))
                    .expect("create test database");
                let url = with_database(&admin_url, &name);
                (url, Cleanup::Postgres { admin_url, name })
            }
        };
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([42u8; 32]);
        let mut args = vec![
            "journal-server",
            "--database-url",
            &url,
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
        let cli = <Cli as clap::Parser>::try_parse_from(args).expect("test settings");
        let state = journal_server::build_state(&cli.config).expect("server state");
        Some(Self {
            state: web::Data::new(state),
            backend,
            _cleanup: cleanup,
        })
    }

    /// The application, ready to call.
    pub async fn app(
        &self,
    ) -> impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    > {
        test::init_service(journal_server::build_app(self.state.clone())).await
    }
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
            journal_server::routes::accounts::insert_account(
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

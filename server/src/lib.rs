//! journal-server: the REST API that phones sync with and therapists read
//! from (actix-web; diesel on PostgreSQL, or SQLite as the embedded
//! default).
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | flags, environment, the signing secret |
//! | [`store`] | every database statement: pool, migrations, rows, the owner's version counter, records, push and pull, access, audit, alerts, accounts, care links, comments, export and erasure; its own [`store::StoreError`] |
//! | [`http`] | actix-web: handlers and DTOs per area, extractors, [`http::ApiError`] (RFC 9457 problem documents), the OpenAPI document |
//! | [`portal`] | the therapist portal under `/portal`: server-rendered pages and SVG charts over the same store calls |
//! | [`mail`] | safety-alert emails to therapists through the clinic's SMTP server, retried from a queue in the database |
//! | [`auth`] | access and refresh tokens, passwords, throttling, invitation codes, account rules, [`auth::AuthUser`] |
//! | [`state`] | [`state::AppState`], shared by handlers |
//!
//! The arrows point one way: `http -> store`, `portal -> store` (and
//! `portal -> http` for the sign-in and note rules they share). Handlers never write a query;
//! the store never knows HTTP. See `server/README.md` for every file.
//!
//! Records are validated with journal-core's rules, so the phone and the
//! server can never disagree on what is valid.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{ErrorHandlers, NormalizePath, TrailingSlash};
use actix_web::{App, HttpServer, web};

pub mod auth;
pub mod cli;
pub mod config;
pub mod http;
pub mod mail;
pub mod metrics;
pub mod portal;
pub mod state;
pub mod store;

use auth::passwords::Passwords;
use auth::tokens::AccessTokens;
use config::Config;
use state::AppState;
use store::Database;

/// The largest request body accepted (413 beyond): room for a long journal
/// entry (100,000 characters of up to 4 bytes) with its envelope.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Builds the shared state from configuration: opens (and migrates) the
/// database and sets up token keys.
pub fn build_state(config: &Config) -> Result<AppState, String> {
    // The secret first: a predictable one is refused before anything is
    // opened or made.
    let secret = config.signing_secret()?;
    let mail = mail::MailSettings::from_config(config)?;
    let db = Database::open_keyed(
        &config.database_url,
        config.db_pool_size,
        config.database_key()?,
    )
    .map_err(|e| e.to_string())?;
    let tokens = AccessTokens::new(
        &secret,
        &config.token_issuer,
        &config.token_audience,
        config.access_lifetime(),
    )?;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Ok(AppState {
        db,
        tokens,
        passwords: Passwords::new(cores).map_err(|e| e.to_string())?,
        auth_attempts_per_minute: config.auth_attempts_per_minute,
        trusted_proxies: config
            .trusted_proxies
            .iter()
            .map(std::net::IpAddr::to_canonical)
            .collect(),
        metrics: metrics::Metrics::new(),
        refresh_lifetime: config.refresh_lifetime(),
        invitation_lifetime: config.invitation_lifetime(),
        request_timeout: config.request_timeout(),
        portal_secure_cookie: config.portal_secure_cookie(),
        monitoring_statement: config.monitoring_statement.clone(),
        crisis_resources: config.crisis_resources()?,
        clock: std::sync::Mutex::new(journal_core::hlc::HlcClock::new(
            journal_core::hlc::SystemClock,
        )),
        mail,
    })
}

/// The whole application: routes, body limits, problem documents for every
/// error, request tracing. Used by the server and by the tests alike.
pub fn build_app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        .app_data(
            web::JsonConfig::default()
                .limit(MAX_BODY_BYTES)
                .content_type_required(true)
                .error_handler(http::problem::json_error),
        )
        .app_data(web::PayloadConfig::default().limit(MAX_BODY_BYTES))
        .app_data(web::QueryConfig::default().error_handler(http::problem::query_error))
        .app_data(web::PathConfig::default().error_handler(http::problem::path_error))
        .app_data(
            web::FormConfig::default()
                .limit(64 * 1024)
                .error_handler(portal::form_error),
        )
        .wrap(ErrorHandlers::new().default_handler(http::problem::problem_for_bare_errors))
        .wrap(NormalizePath::new(TrailingSlash::Trim))
        .wrap(tracing_actix_web::TracingLogger::<http::ClientSpan>::new())
        .wrap(actix_web::middleware::from_fn(
            http::deadline::bound_body_time,
        ))
        // Outermost, so that every answer gets them, problems included.
        .wrap(http::security_headers())
        .wrap(actix_web::middleware::from_fn(http::metrics::record))
        .configure(http::health::configure)
        .configure(portal::configure)
        .service(web::resource("/api/v1/openapi.json").route(web::get().to(http::openapi::serve)))
        .service(
            web::scope("/api/v1")
                // Tokens of ended sessions answer 401 (see the function).
                .wrap(actix_web::middleware::from_fn(
                    http::extract::refuse_ended_sessions,
                ))
                .configure(http::configure),
        )
}

/// A server running on a thread of its own (see [`start`]).
#[derive(Debug)]
pub struct RunningServer {
    /// The address it listens on.
    pub address: std::net::SocketAddr,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    mailer: Option<mail::AlertMailer>,
}

impl RunningServer {
    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops it: finishes the requests in flight, then returns.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        actix_web::rt::System::new().block_on(self.handle.stop(true));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.mailer.take();
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shutdown();
        }
    }
}

/// Starts the server on a thread of its own and returns once it listens
/// (bind to port 0 for any free port). For end-to-end tests and load runs
/// that need a real server beside them in one process.
pub fn start(config: Config) -> Result<RunningServer, String> {
    let mail_settings = mail::MailSettings::from_config(&config)?;
    let state = web::Data::new(build_state(&config)?);
    let mailer = start_mailer(mail_settings, &state);
    let (sender, receiver) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new({
                let state = state.clone();
                move || build_app(state.clone())
            })
            .workers(config.workers.unwrap_or(2).max(1))
            .client_request_timeout(config.request_timeout())
            .disable_signals()
            .bind(&config.bind)
            .map_err(|e| format!("cannot listen on {}: {e}", config.bind));
            let server = match server {
                Ok(s) => s,
                Err(e) => {
                    let _ = sender.send(Err(e));
                    return;
                }
            };
            let address = server.addrs().first().copied();
            match metrics_server(&config, &state) {
                Ok(Some(metrics)) => {
                    actix_web::rt::spawn(metrics);
                }
                Ok(None) => {}
                Err(e) => {
                    let _ = sender.send(Err(e));
                    return;
                }
            }
            let running = server.run();
            let _ = sender.send(
                address
                    .map(|a| (a, running.handle()))
                    .ok_or_else(|| "bound to no address".to_owned()),
            );
            let _ = running.await;
        });
    });
    let (address, handle) = receiver
        .recv()
        .map_err(|_| "the server thread ended before listening".to_owned())??;
    Ok(RunningServer {
        address,
        handle,
        thread: Some(thread),
        mailer,
    })
}

/// Starts sending safety-alert emails when SMTP is configured (settings
/// read before the database is opened, so a wrong one changes nothing),
/// and says at start which it is.
fn start_mailer(
    settings: Option<mail::MailSettings>,
    state: &AppState,
) -> Option<mail::AlertMailer> {
    match settings {
        Some(settings) => {
            tracing::info!(smtp = %settings.server, "safety alerts are emailed to therapists");
            Some(mail::AlertMailer::start(state.db.clone(), settings))
        }
        None => {
            tracing::warn!(
                "SMTP is not configured (--smtp-host): safety alerts are not emailed; \
                 therapists see them in the portal's alerts inbox and through the API"
            );
            None
        }
    }
}

/// The metrics address's server (`--metrics-bind`), when one is set: bound
/// now, so a wrong address stops the start with words.
fn metrics_server(
    config: &Config,
    state: &web::Data<AppState>,
) -> Result<Option<actix_web::dev::Server>, String> {
    let Some(bind) = &config.metrics_bind else {
        return Ok(None);
    };
    let server = HttpServer::new({
        let state = state.clone();
        move || http::metrics::build_metrics_app(state.clone())
    })
    .workers(1)
    .disable_signals()
    .bind(bind)
    .map_err(|e| format!("cannot serve metrics on {bind}: {e}"))?
    .run();
    tracing::info!(metrics = %bind, "Prometheus metrics served");
    Ok(Some(server))
}

/// Serves until SIGTERM or Ctrl-C, then finishes the requests in flight.
pub async fn serve(config: Config) -> Result<(), String> {
    let mail_settings = mail::MailSettings::from_config(&config)?;
    let state = web::Data::new(build_state(&config)?);
    tracing::info!(
        bind = %config.bind,
        database = state.db.backend().name(),
        "journal server starting"
    );
    let _mailer = start_mailer(mail_settings, &state);
    let mut server = HttpServer::new({
        let state = state.clone();
        move || build_app(state.clone())
    })
    .shutdown_timeout(30)
    .client_request_timeout(config.request_timeout())
    .bind(&config.bind)
    .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
    if let Some(workers) = config.workers {
        server = server.workers(workers.max(1));
    }
    let metrics = metrics_server(&config, &state)?;
    let metrics_handle = metrics.as_ref().map(actix_web::dev::Server::handle);
    if let Some(metrics) = metrics {
        actix_web::rt::spawn(metrics);
    }
    // actix-web stops gracefully on SIGTERM, SIGINT and Ctrl-C by itself.
    server.run().await.map_err(|e| e.to_string())?;
    if let Some(handle) = metrics_handle {
        handle.stop(true).await;
    }
    tracing::info!("journal server stopped");
    Ok(())
}

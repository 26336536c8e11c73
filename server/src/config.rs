//! Configuration, from flags or environment variables (`--help` lists them),
//! and the token-signing secret: given by the operator, or for the embedded
//! SQLite default generated once and kept beside the database.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use clap::{Args, Parser, Subcommand, ValueEnum};
use rand::RngCore;

use crate::auth::tokens::MIN_SECRET_BYTES;
use crate::store::Backend;

/// The journal's REST API server.
#[derive(Debug, Parser)]
#[command(name = "journal-server", version, about)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings shared by every command.
    #[command(flatten)]
    pub config: Config,
}

/// Operator commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Copy the database to a new file while the server may run and write:
    /// consistent as of one moment (SQLite: `VACUUM INTO`, encrypted with
    /// the same key; PostgreSQL: `pg_dump --format=custom`), checked by
    /// reading it back. Never overwrites a file.
    Backup {
        /// The file to write (must not exist).
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// Restore a backup into a new database (`--database-url`: a SQLite
    /// file that does not exist yet, or an empty PostgreSQL database),
    /// then apply the migrations it lacks.
    Restore {
        /// The backup to restore.
        #[arg(long)]
        from: std::path::PathBuf,
    },
    /// Apply pending database migrations to an existing database and exit
    /// (it never makes a database: a missing one is refused, named).
    Migrate,
    /// Create a therapist account (therapists do not register themselves)
    /// in the server's existing database (a missing database, or one the
    /// server never started on, is refused, named). Reads the password
    /// from standard input, or generates and prints one.
    CreateTherapist {
        /// The therapist's email address.
        #[arg(long)]
        email: String,
        /// The name patients see.
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// How the portal's session cookie is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PortalCookie {
    /// Plain when listening on a loopback address (http://127.0.0.1:8080
    /// on one's own machine), secure otherwise.
    Auto,
    /// `Secure` and `__Host-` prefixed: the portal is reached over HTTPS
    /// (directly, or through a TLS-terminating proxy).
    Secure,
    /// Without `Secure`, for plain HTTP.
    Plain,
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which is required (port
    /// 587 by default).
    Starttls,
    /// TLS from the first byte (port 465 by default).
    Tls,
    /// No encryption (port 25 by default): only for a relay on the same
    /// machine or a trusted local network.
    None,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Settings.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(
        long,
        env = "JOURNAL_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind: String,
    /// Database: postgres://user@host/db, or sqlite://path (relative to the
    /// working directory).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/journal.db",
        global = true
    )]
    pub database_url: String,
    /// A file holding the key (64 hexadecimal characters, e.g. from
    /// `openssl rand -hex 32`) to encrypt the SQLite database with
    /// (SQLCipher). SQLite only: with PostgreSQL, rely on the disk's
    /// encryption. Without it the SQLite file is plain.
    #[arg(long, env = "JOURNAL_DB_KEY_FILE", global = true)]
    pub db_key_file: Option<PathBuf>,
    /// Access-token signing secret, base64, at least 32 random bytes.
    /// Required with PostgreSQL (every instance must share it); with SQLite,
    /// generated once into `jwt-secret` beside the database when absent.
    #[arg(
        long,
        env = "JOURNAL_JWT_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub jwt_secret: Option<String>,
    /// The `iss` of access tokens.
    #[arg(
        long,
        env = "JOURNAL_TOKEN_ISSUER",
        default_value = "kap-journal",
        global = true
    )]
    pub token_issuer: String,
    /// The `aud` of access tokens.
    #[arg(
        long,
        env = "JOURNAL_TOKEN_AUDIENCE",
        default_value = "kap-journal-api",
        global = true
    )]
    pub token_audience: String,
    /// Access-token lifetime in minutes (1–15).
    #[arg(long, env = "JOURNAL_ACCESS_TOKEN_MINUTES", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..=15), global = true)]
    pub access_token_minutes: u64,
    /// Refresh-token lifetime in days.
    #[arg(long, env = "JOURNAL_REFRESH_TOKEN_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=365), global = true)]
    pub refresh_token_days: u64,
    /// How long a care invitation code stays valid, in hours.
    #[arg(long, env = "JOURNAL_INVITATION_HOURS", default_value_t = 72,
          value_parser = clap::value_parser!(u64).range(1..=720), global = true)]
    pub invitation_hours: u64,
    /// Database connections in the pool.
    #[arg(
        long,
        env = "JOURNAL_DB_POOL_SIZE",
        default_value_t = 10,
        global = true
    )]
    pub db_pool_size: u32,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "JOURNAL_WORKERS", global = true)]
    pub workers: Option<usize>,
    /// Address and port to serve Prometheus metrics on (`GET /metrics`),
    /// apart from the API; keep it private (e.g. 127.0.0.1:9464). Off when
    /// absent.
    #[arg(long, env = "JOURNAL_METRICS_BIND", global = true)]
    pub metrics_bind: Option<String>,
    /// Address of a proxy in front of the server (the TLS-terminating load
    /// balancer); repeat the flag, or separate addresses with commas. A
    /// request from one of them has its client address taken from
    /// `X-Forwarded-For` (the right-most address there that is not a listed
    /// proxy); from any other address that header is ignored. None by
    /// default: no forwarded header is trusted.
    #[arg(
        long = "trusted-proxy",
        env = "JOURNAL_TRUSTED_PROXIES",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Attempts per client address per minute on sign-in, registration,
    /// refresh and invitation codes.
    #[arg(
        long,
        env = "JOURNAL_AUTH_ATTEMPTS_PER_MINUTE",
        default_value_t = 30,
        global = true
    )]
    pub auth_attempts_per_minute: u32,
    /// Seconds a client has to send a request's headers, and again its
    /// whole body, before the connection is answered 408 and closed: a
    /// client that stops sending holds nothing open for long.
    #[arg(long, env = "JOURNAL_REQUEST_SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=300), global = true)]
    pub request_seconds: u64,
    /// The portal's session cookie: `secure` behind HTTPS, `plain` for
    /// plain HTTP, `auto` (plain on a loopback address, secure otherwise).
    #[arg(long, env = "JOURNAL_PORTAL_COOKIE", value_enum, default_value_t = PortalCookie::Auto, global = true)]
    pub portal_cookie: PortalCookie,
    /// What the app shows patients before they share anything: whether and
    /// how shared entries are watched.
    #[arg(
        long,
        env = "JOURNAL_MONITORING_STATEMENT",
        global = true,
        default_value = "Your therapist reads what you share at your next session or when they review \
                           your journal. Entries are not monitored in real time: if you are in crisis, \
                           call your local emergency number or a crisis line."
    )]
    pub monitoring_statement: String,
    /// A JSON file with this deployment's crisis resources (headline,
    /// message, contacts), shown with a risk answer; an international
    /// default when absent.
    #[arg(long, env = "JOURNAL_CRISIS_RESOURCES_FILE", global = true)]
    pub crisis_resources_file: Option<PathBuf>,
    /// The clinic's SMTP server, for safety-alert emails to therapists.
    /// Without it alerts are shown in the portal and the API only.
    #[arg(long, env = "JOURNAL_SMTP_HOST", global = true)]
    pub smtp_host: Option<String>,
    /// The SMTP server's port (default: 587 with STARTTLS, 465 with TLS, 25
    /// without).
    #[arg(long, env = "JOURNAL_SMTP_PORT", global = true)]
    pub smtp_port: Option<u16>,
    /// How the SMTP connection is protected.
    #[arg(long, env = "JOURNAL_SMTP_TLS", value_enum, default_value_t = SmtpTls::Starttls, global = true)]
    pub smtp_tls: SmtpTls,
    /// The SMTP user name, when the server asks for one.
    #[arg(long, env = "JOURNAL_SMTP_USERNAME", global = true)]
    pub smtp_username: Option<String>,
    /// The SMTP password (prefer the environment variable to the flag).
    #[arg(
        long,
        env = "JOURNAL_SMTP_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub smtp_password: Option<String>,
    /// The sender of alert emails, e.g. `KAP journal <alerts@clinic.example>`;
    /// required with `--smtp-host`.
    #[arg(long, env = "JOURNAL_SMTP_FROM", global = true)]
    pub smtp_from: Option<String>,
    /// The address therapists reach this server at, for the portal link in
    /// emails, e.g. `https://journal.clinic.example` (default: `http://` and
    /// the bind address).
    #[arg(long, env = "JOURNAL_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Log filter (tracing's env-filter syntax).
    #[arg(long, env = "JOURNAL_LOG", default_value = "info", global = true)]
    pub log: String,
    /// Log format.
    #[arg(long, env = "JOURNAL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

impl Config {
    /// Refresh-token lifetime.
    pub fn refresh_lifetime(&self) -> Duration {
        Duration::from_secs(self.refresh_token_days * 24 * 3600)
    }

    /// Access-token lifetime.
    pub fn access_lifetime(&self) -> Duration {
        Duration::from_secs(self.access_token_minutes * 60)
    }

    /// How long a client has to send a request's headers, and its body.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_seconds)
    }

    /// Whether the portal's session cookie is `Secure` (and `__Host-`
    /// prefixed).
    pub fn portal_secure_cookie(&self) -> bool {
        match self.portal_cookie {
            PortalCookie::Secure => true,
            PortalCookie::Plain => false,
            PortalCookie::Auto => {
                let host = self
                    .bind
                    .rsplit_once(':')
                    .map_or(self.bind.as_str(), |(host, _)| host)
                    .trim_matches(['[', ']']);
                let loopback = host == "localhost"
                    || host
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback());
                !loopback
            }
        }
    }

    /// Invitation lifetime.
    pub fn invitation_lifetime(&self) -> Duration {
        Duration::from_secs(self.invitation_hours * 3600)
    }

    /// The crisis resources: from the configured file, or the default.
    pub fn crisis_resources(&self) -> Result<journal_core::safety::CrisisResources, String> {
        let Some(path) = &self.crisis_resources_file else {
            return Ok(journal_core::safety::CrisisResources::default());
        };
        let text =
            fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let resources: journal_core::safety::CrisisResources = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not crisis resources JSON: {e}", path.display()))?;
        if resources.contacts.is_empty() {
            return Err(format!("{} lists no contacts", path.display()));
        }
        Ok(resources)
    }

    /// The SQLite database's key, read from `--db-key-file`, if one is set.
    pub fn database_key(&self) -> Result<Option<journal_core::encryption::DatabaseKey>, String> {
        let Some(path) = &self.db_key_file else {
            return Ok(None);
        };
        if let Backend::Postgres(_) =
            Backend::from_url(&self.database_url).map_err(|e| e.to_string())?
        {
            return Err(
                "--db-key-file encrypts the embedded SQLite database only; with PostgreSQL, \
                 encrypt the disk it stores its data on"
                    .to_owned(),
            );
        }
        let text =
            fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        journal_core::encryption::DatabaseKey::from_hex(&text)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The signing secret's bytes: decoded from configuration, or for
    /// SQLite read from (or created in) `jwt-secret` beside the database.
    pub fn signing_secret(&self) -> Result<Vec<u8>, String> {
        if let Some(text) = &self.jwt_secret {
            return decode_secret(text.trim());
        }
        match Backend::from_url(&self.database_url).map_err(|e| e.to_string())? {
            Backend::Postgres(_) => Err(
                "set JOURNAL_JWT_SECRET (base64 of at least 32 random bytes, the same on every instance)"
                    .to_owned(),
            ),
            Backend::Sqlite(path) => secret_beside(&path),
        }
    }
}

fn decode_secret(text: &str) -> Result<Vec<u8>, String> {
    let bytes = [URL_SAFE_NO_PAD, URL_SAFE, STANDARD, STANDARD_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .ok_or("JOURNAL_JWT_SECRET must be base64")?;
    if bytes.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "JOURNAL_JWT_SECRET must decode to at least {MIN_SECRET_BYTES} bytes, got {}",
            bytes.len()
        ));
    }
    if let Some(why) = predictable(&bytes) {
        return Err(format!(
            "JOURNAL_JWT_SECRET is too predictable ({why}): anyone who guesses it can sign \
             tokens for any account. Make a random one, e.g. `openssl rand -base64 48`"
        ));
    }
    Ok(bytes)
}

/// Fewer distinct byte values than this in a secret is no random secret:
/// 32 random bytes hold about 30 (fewer than 8 happens with a chance far
/// below one in 10^20).
const MIN_DISTINCT_BYTES: usize = 8;
/// The longest repeated pattern looked for (`abcdabcd…`, a word typed over
/// and over).
const MAX_PATTERN: usize = 16;

/// Why `bytes` cannot be a random secret, when they cannot: one byte
/// repeated (32 zero bytes), a short pattern repeated, or too few different
/// byte values.
fn predictable(bytes: &[u8]) -> Option<String> {
    if let Some(period) =
        (1..=MAX_PATTERN).find(|&p| bytes.iter().enumerate().all(|(i, b)| *b == bytes[i % p]))
    {
        return Some(if period == 1 {
            "one byte repeated".to_owned()
        } else {
            format!("a pattern of {period} bytes repeated")
        });
    }
    let mut distinct = bytes.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    (distinct.len() < MIN_DISTINCT_BYTES).then(|| {
        format!(
            "only {} different byte values; a random secret has far more",
            distinct.len()
        )
    })
}

fn secret_beside(database: &Path) -> Result<Vec<u8>, String> {
    let file: PathBuf = database
        .parent()
        .map(|p| p.join("jwt-secret"))
        .unwrap_or_else(|| PathBuf::from("jwt-secret"));
    if let Ok(text) = fs::read_to_string(&file) {
        return decode_secret(text.trim()).map_err(|e| format!("{}: {e}", file.display()));
    }
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let mut bytes = vec![0u8; 64];
    rand::rng().fill_bytes(&mut bytes);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut out = options
        .open(&file)
        .map_err(|e| format!("cannot create {}: {e}", file.display()))?;
    out.write_all(URL_SAFE_NO_PAD.encode(&bytes).as_bytes())
        .and_then(|()| out.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    tracing::info!(path = %file.display(), "generated the token signing secret");
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 32 bytes that look random (all different, no pattern).
    fn random_looking(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(73) ^ 0x5c)
            .collect()
    }

    #[test]
    fn secrets_must_be_long_base64() {
        assert!(decode_secret(&URL_SAFE_NO_PAD.encode(random_looking(32))).is_ok());
        assert!(decode_secret(&STANDARD.encode(random_looking(40))).is_ok());
        assert!(decode_secret(&URL_SAFE_NO_PAD.encode(random_looking(31))).is_err());
        assert!(decode_secret("not base64 !!!").is_err());
    }

    #[test]
    fn predictable_secrets_are_refused_with_how_to_make_one() {
        let mut generated = vec![0u8; 48];
        rand::rng().fill_bytes(&mut generated);
        assert!(decode_secret(&STANDARD.encode(&generated)).is_ok());
        let weak: [(&str, Vec<u8>); 5] = [
            ("32 zero bytes", vec![0u8; 32]),
            ("one byte repeated", vec![0x41; 64]),
            (
                "a word repeated",
                b"secretsecretsecretsecretsecretse".to_vec(),
            ),
            (
                "a 16-byte pattern",
                [random_looking(16), random_looking(16)].concat(),
            ),
            (
                "few byte values",
                (0..32)
                    .map(|i| [1u8, 2, 3, 5, 8][(i * i + 3 * i) % 5])
                    .collect(),
            ),
        ];
        for (what, bytes) in weak {
            let refused = decode_secret(&STANDARD.encode(&bytes)).unwrap_err();
            assert!(refused.contains("too predictable"), "{what}: {refused}");
            assert!(
                refused.contains("openssl rand -base64 48"),
                "{what}: {refused}"
            );
        }
    }

    #[test]
    fn the_embedded_default_keeps_one_secret_beside_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("sub").join("journal.db");
        let first = secret_beside(&db).unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(
            secret_beside(&db).unwrap(),
            first,
            "generated once, then reused"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("sub/jwt-secret"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}

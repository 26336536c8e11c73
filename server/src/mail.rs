//! Safety-alert emails: when a patient shares a risk answer, the linked
//! therapist is told by email, through the clinic's SMTP server, that an
//! alert awaits in the portal — and nothing more: no name, no score, no
//! text of the patient's.
//!
//! Sending never blocks or fails the patient's write. Raising the alert
//! queues its email in the same transaction ([`crate::store::alert_emails`]);
//! a thread of its own ([`AlertMailer`]) sends what is due, retries with a
//! growing pause (1 s, 2 s, 4 s, … up to 15 minutes) while the SMTP
//! server is down or refuses, and drops an email whose alert was
//! acknowledged or resolved first. The queue lives in the database, so a
//! restart loses nothing, and each attempt is claimed there, so several
//! instances never send one email twice.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message, SmtpTransport, Transport};

use crate::config::{Config, SmtpTls};
use crate::store::alert_emails::{self, DueEmail};
use crate::store::time::now_micros;
use crate::store::{Database, StoreError};

/// How often the queue is looked at.
const POLL: Duration = Duration::from_secs(1);
/// How long a claimed attempt is this instance's before it falls due again
/// (a sender that died mid-attempt).
const CLAIM: Duration = Duration::from_secs(120);
/// The longest pause between two attempts.
const LONGEST_PAUSE: Duration = Duration::from_secs(15 * 60);
/// How many due emails one look takes.
const BATCH: i64 = 20;
/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// The subject of every alert email.
pub const SUBJECT: &str = "A safety alert awaits you in the KAP journal portal";

/// How alert emails are sent: the SMTP server, the sender and the portal
/// address the email links to.
#[derive(Clone)]
pub struct MailSettings {
    transport: SmtpTransport,
    from: Mailbox,
    portal_url: String,
    /// The SMTP server, as the start-up log names it.
    pub server: String,
}

impl std::fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailSettings")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .field("portal_url", &self.portal_url)
            .finish_non_exhaustive()
    }
}

impl MailSettings {
    /// The settings `config` asks for: `None` without `--smtp-host`, an
    /// error that names the setting when they are incomplete or malformed.
    pub fn from_config(config: &Config) -> Result<Option<Self>, String> {
        let Some(host) = config.smtp_host.as_deref().filter(|h| !h.trim().is_empty()) else {
            return Ok(None);
        };
        let from: Mailbox = config
            .smtp_from
            .as_deref()
            .ok_or("--smtp-from (JOURNAL_SMTP_FROM) is required with --smtp-host")?
            .parse()
            .map_err(|e| format!("--smtp-from is not an email address: {e}"))?;
        let port = config.smtp_port.unwrap_or(match config.smtp_tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        });
        let builder = match config.smtp_tls {
            SmtpTls::Starttls => SmtpTransport::starttls_relay(host),
            SmtpTls::Tls => SmtpTransport::relay(host),
            SmtpTls::None => Ok(SmtpTransport::builder_dangerous(host)),
        }
        .map_err(|e| format!("--smtp-host {host}: {e}"))?;
        let mut builder = builder.port(port).timeout(Some(SMTP_TIMEOUT));
        match (&config.smtp_username, &config.smtp_password) {
            (Some(user), Some(password)) => {
                builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
            }
            (None, None) => {}
            _ => {
                return Err(
                    "--smtp-username and --smtp-password go together: set both or neither"
                        .to_owned(),
                );
            }
        }
        let base = match &config.public_url {
            Some(url) => {
                let url = url.trim_end_matches('/');
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(format!(
                        "--public-url must start with https:// or http://: {url}"
                    ));
                }
                url.to_owned()
            }
            None => format!("http://{}", config.bind),
        };
        Ok(Some(Self {
            transport: builder.build(),
            from,
            portal_url: format!("{base}/portal/alerts"),
            server: format!("{host}:{port}"),
        }))
    }

    /// The email for one alert: to the therapist, saying that an alert
    /// awaits and where, with nothing of the patient's.
    pub fn message(&self, to: &str) -> Result<Message, String> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| format!("the therapist's address cannot be mailed: {e}"))?;
        let text = format!(
            "A patient you care for has shared an answer that needs your attention.\n\
             \n\
             Sign in to the portal to see it:\n\
             {}\n\
             \n\
             For their privacy, this email does not say who it is or what they wrote.\n\
             The patient was shown crisis resources on their phone at once.\n",
            self.portal_url
        );
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(SUBJECT)
            .header(ContentType::TEXT_PLAIN)
            .body(text)
            .map_err(|e| e.to_string())
    }
}

/// The subject of a password-reset email.
pub const RESET_SUBJECT: &str = "Your KAP journal password reset code";

impl MailSettings {
    /// The email carrying a password-reset code.
    pub fn reset_message(&self, to: &str, code: &str, minutes: i64) -> Result<Message, String> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| format!("the account's address cannot be mailed: {e}"))?;
        let text = format!(
            "Someone asked to reset the password of your KAP journal account.\n\
             \n\
             Your code: {code}\n\
             \n\
             Enter it in the app within {minutes} minutes. It works once.\n\
             If you did not ask for it, ignore this email: your password stays as it is.\n"
        );
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(RESET_SUBJECT)
            .header(ContentType::TEXT_PLAIN)
            .body(text)
            .map_err(|e| e.to_string())
    }

    /// Sends one email now (blocking: call it off the async workers).
    pub fn send(&self, message: &Message) -> Result<(), String> {
        self.transport
            .send(message)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The pause after `attempts` failed attempts: 1 s, 2 s, 4 s, … up to
/// [`LONGEST_PAUSE`].
pub fn pause_after(attempts: i32) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(20);
    Duration::from_secs(1u64 << exponent).min(LONGEST_PAUSE)
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// The thread that sends alert emails; stopped when dropped.
pub struct AlertMailer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for AlertMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertMailer").finish_non_exhaustive()
    }
}

impl AlertMailer {
    /// Starts sending what is due, and what falls due, on `db`.
    pub fn start(db: Database, settings: MailSettings) -> Self {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let thread = std::thread::Builder::new()
            .name("alert-mailer".to_owned())
            .spawn({
                let stop = Arc::clone(&stop);
                move || run(&db, &settings, &stop)
            })
            .ok();
        if thread.is_none() {
            tracing::error!("could not start the alert mailer's thread: alerts are not emailed");
        }
        Self { stop, thread }
    }
}

impl Drop for AlertMailer {
    fn drop(&mut self) {
        let (stopped, wake) = &*self.stop;
        if let Ok(mut stopped) = stopped.lock() {
            *stopped = true;
        }
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(db: &Database, settings: &MailSettings, stop: &(Mutex<bool>, Condvar)) {
    let (stopped, wake) = stop;
    loop {
        if let Err(error) = send_due(db, settings) {
            tracing::warn!(%error, "alert emails: the queue could not be read; trying again");
        }
        let Ok(guard) = stopped.lock() else { return };
        let Ok((guard, _)) = wake.wait_timeout_while(guard, POLL, |stopped| !*stopped) else {
            return;
        };
        if *guard {
            return;
        }
    }
}

/// Sends every email due now; returns how many went out. A database
/// connection is held only for each read or write, never during an SMTP
/// conversation (which may take up to [`SMTP_TIMEOUT`] against a server
/// that does not answer).
pub fn send_due(db: &Database, settings: &MailSettings) -> Result<usize, StoreError> {
    let due = alert_emails::due(&mut *db.get()?, now_micros(), BATCH)?;
    let mut sent = 0;
    for email in due {
        if send_one(db, settings, &email)? {
            sent += 1;
        }
    }
    Ok(sent)
}

fn send_one(db: &Database, settings: &MailSettings, email: &DueEmail) -> Result<bool, StoreError> {
    {
        let mut conn = db.get()?;
        if !email.still_open {
            alert_emails::not_needed(&mut conn, &email.alert_id)?;
            return Ok(false);
        }
        if !alert_emails::claim(&mut conn, email, now_micros() + micros(CLAIM))? {
            // Another instance has it.
            return Ok(false);
        }
    }
    let attempt = email.attempts + 1;
    let outcome = settings
        .message(&email.to)
        .and_then(|message| settings.transport.send(&message).map_err(|e| e.to_string()));
    let mut conn = db.get()?;
    match outcome {
        Ok(_) => {
            // Should this write fail, the claim lapses and the email is sent
            // again: at least once, never lost.
            alert_emails::sent(&mut conn, &email.alert_id, now_micros())?;
            tracing::info!(alert = %email.alert_id, attempt, "alert email sent");
            Ok(true)
        }
        Err(error) => {
            let pause = pause_after(attempt);
            alert_emails::failed(
                &mut conn,
                &email.alert_id,
                now_micros() + micros(pause),
                &error,
            )?;
            tracing::warn!(
                alert = %email.alert_id, attempt, %error, retry_in_seconds = pause.as_secs(),
                "alert email not sent; it will be tried again"
            );
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn settings(flags: &[&str]) -> Result<Option<MailSettings>, String> {
        let cli = crate::config::Cli::try_parse_from(
            ["journal-server", "--bind", "127.0.0.1:8080"]
                .iter()
                .chain(flags),
        )
        .map_err(|e| e.to_string())?;
        MailSettings::from_config(&cli.config)
    }

    #[test]
    fn settings_say_what_is_missing_or_wrong() {
        assert!(settings(&[]).unwrap().is_none(), "no host: no emails");
        let host = ["--smtp-host", "smtp.clinic.example"];
        let err = |extra: &[&str]| {
            let flags: Vec<&str> = host.iter().chain(extra).copied().collect();
            settings(&flags).err().unwrap_or_default()
        };
        assert!(err(&[]).contains("--smtp-from"));
        assert!(err(&["--smtp-from", "not an address"]).contains("--smtp-from"));
        let from = ["--smtp-from", "KAP journal <alerts@clinic.example>"];
        let with_from = |extra: &[&str]| -> Vec<String> {
            from.iter().chain(extra).map(|s| (*s).to_owned()).collect()
        };
        assert!(
            err(&with_from(&["--smtp-username", "lee"])
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>())
            .contains("go together")
        );
        assert!(
            err(&with_from(&["--public-url", "journal.clinic.example"])
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>())
            .contains("--public-url")
        );
        let made = settings(&host.iter().chain(&from).copied().collect::<Vec<_>>())
            .unwrap()
            .unwrap();
        assert_eq!(made.server, "smtp.clinic.example:587");
        assert_eq!(made.portal_url, "http://127.0.0.1:8080/portal/alerts");
        let tls = settings(
            &host
                .iter()
                .chain(&from)
                .chain(&["--smtp-tls", "tls", "--public-url", "https://j.example/"])
                .copied()
                .collect::<Vec<_>>(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(tls.server, "smtp.clinic.example:465");
        assert_eq!(tls.portal_url, "https://j.example/portal/alerts");
    }

    #[test]
    fn the_message_holds_the_link_and_nothing_else() {
        let made = settings(&[
            "--smtp-host",
            "smtp.clinic.example",
            "--smtp-from",
            "alerts@clinic.example",
            "--public-url",
            "https://journal.clinic.example",
        ])
        .unwrap()
        .unwrap();
        let message = made.message("dr.lee@clinic.example").unwrap();
        let text = String::from_utf8(message.formatted()).unwrap();
        assert!(text.contains("To: dr.lee@clinic.example"), "{text}");
        assert!(
            text.contains("https://journal.clinic.example/portal/alerts"),
            "{text}"
        );
        assert!(made.message("not an address").is_err());
    }

    #[test]
    fn pauses_double_up_to_a_quarter_hour() {
        let pauses: Vec<u64> = (1..=12).map(|a| pause_after(a).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]);
        assert_eq!(pause_after(0).as_secs(), 1);
        assert_eq!(pause_after(i32::MAX).as_secs(), 900);
    }
}

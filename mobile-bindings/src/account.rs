//! The account and care links through the library: registering, signing
//! out (on the server too), the display name, changing and resetting the
//! password, erasing the account, accepting a therapist's invitation,
//! listing and ending care links, and the clinic's policy. Tokens never
//! leave the library: every call uses the sign-in the journal keeps.

use std::sync::Arc;
use std::time::SystemTime;

use journal_core::InvalidInput;
use journal_core::sync::{
    self as core_sync, HttpTransport, REFRESH_TOKEN_KEY, SyncClient, SyncError,
};

use crate::catalog::CrisisResources;
use crate::error::JournalError;
use crate::journal::{ACCOUNT_EMAIL_KEY, Journal, SERVER_URL_KEY};
use crate::records::from_time;

/// The signed-in account.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct Account {
    /// The account's id.
    pub id: String,
    /// Its email address (lower case).
    pub email: String,
    /// The name therapists see, if one was chosen.
    pub display_name: Option<String>,
    /// When it was made.
    pub created_at: SystemTime,
}

/// An active link with a therapist.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct CareLink {
    /// The link's id (to end it).
    pub id: String,
    /// The therapist's account id (to share with them).
    pub therapist_id: String,
    /// The therapist's name, if they chose one.
    pub therapist_name: Option<String>,
    /// The therapist's email address.
    pub therapist_email: String,
    /// When the invitation was accepted.
    pub since: SystemTime,
}

/// The clinic's policy: show it before the patient shares anything.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct Policy {
    /// Whether and how shared entries are watched, as the clinic says it.
    pub monitoring_statement: String,
    /// Where to find help in a crisis, as the clinic lists it (a risk
    /// answer shows these, also offline).
    pub crisis_resources: CrisisResources,
}

impl From<core_sync::Account> for Account {
    fn from(a: core_sync::Account) -> Self {
        Self {
            id: a.id.to_string(),
            email: a.email,
            display_name: a.display_name,
            created_at: from_time(a.created_at),
        }
    }
}

impl From<core_sync::CareLink> for CareLink {
    fn from(l: core_sync::CareLink) -> Self {
        Self {
            id: l.id.to_string(),
            therapist_id: l.therapist.id.to_string(),
            therapist_name: l.therapist.display_name,
            therapist_email: l.therapist.email,
            since: from_time(l.created_at),
        }
    }
}

impl From<core_sync::Policy> for Policy {
    fn from(p: core_sync::Policy) -> Self {
        Self {
            monitoring_statement: p.monitoring_statement,
            crisis_resources: p.crisis_resources.into(),
        }
    }
}

fn required(problems: &mut InvalidInput, field: &str, value: &str) {
    if value.trim().is_empty() {
        problems.push(field, "required", "must not be empty");
    }
}

fn check(problems: InvalidInput) -> Result<(), JournalError> {
    if problems.violations.is_empty() {
        Ok(())
    } else {
        Err(problems.into())
    }
}

fn transport(server_url: &str) -> Result<HttpTransport, JournalError> {
    HttpTransport::new(server_url).map_err(|mut invalid| {
        for v in &mut invalid.violations {
            if v.field == "baseUrl" {
                "serverUrl".clone_into(&mut v.field);
            }
        }
        JournalError::from(invalid)
    })
}

impl Journal {
    /// Runs `call` with the kept sign-in's client, reporting a failure of
    /// the app's secret store first.
    fn with_client<T>(
        &self,
        call: impl FnOnce(&SyncClient) -> Result<T, SyncError>,
    ) -> Result<T, JournalError> {
        Ok(self.with_client_raw(call)??)
    }

    /// Like [`Journal::with_client`], with the call's own error left as it
    /// is for the caller to read.
    fn with_client_raw<T>(
        &self,
        call: impl FnOnce(&SyncClient) -> Result<T, SyncError>,
    ) -> Result<Result<T, SyncError>, JournalError> {
        let client = self.signed_in_client()?;
        self.secrets.clear_failure();
        let result = call(&client);
        if let Some(failure) = self.secrets.take_failure() {
            return Err(failure);
        }
        Ok(result)
    }

    /// Keeps the sign-in of `client` for `server_url` and `email`.
    fn keep_sign_in(
        &self,
        client: Arc<SyncClient>,
        server_url: &str,
        email: &str,
    ) -> Result<(), JournalError> {
        self.secrets
            .write(SERVER_URL_KEY, server_url.trim().trim_end_matches('/'))?;
        self.secrets.write(ACCOUNT_EMAIL_KEY, email.trim())?;
        *self.connection.lock().unwrap_or_else(|p| p.into_inner()) = Some(client);
        Ok(())
    }

    fn forget_sign_in(&self) -> Result<(), JournalError> {
        self.connection
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        self.secrets.forget(REFRESH_TOKEN_KEY)?;
        self.secrets.forget(SERVER_URL_KEY)?;
        self.secrets.forget(ACCOUNT_EMAIL_KEY)?;
        Ok(())
    }
}

#[uniffi::export]
impl Journal {
    /// Registers a patient account on the server at `serverUrl` and signs
    /// in with it, like `signIn`. `displayName` is the name therapists see
    /// (optional).
    ///
    /// Fails with `Invalid` naming each field (a malformed address, email,
    /// a password not 10–128 characters, a name not on one line),
    /// `EmailTaken`, `Throttled`, `Network`.
    pub fn register(
        &self,
        server_url: String,
        email: String,
        password: String,
        display_name: Option<String>,
    ) -> Result<(), JournalError> {
        let mut problems = InvalidInput {
            violations: Vec::new(),
        };
        required(&mut problems, "email", &email);
        if password.is_empty() {
            problems.push("password", "required", "must not be empty");
        }
        check(problems)?;
        let client = self.client_for(&server_url)?;
        self.secrets.clear_failure();
        let registered = client.register(email.trim(), &password, display_name.as_deref());
        if let Some(failure) = self.secrets.take_failure() {
            return Err(failure);
        }
        match registered {
            Err(SyncError::Rejected {
                status: 409,
                detail,
                ..
            }) => return Err(JournalError::EmailTaken { detail }),
            other => other?,
        }
        self.keep_sign_in(client, &server_url, &email)
    }

    /// Signs out: ends the session on the server, then forgets the sign-in
    /// here. The journal and its unsent changes stay; they are sent after
    /// the next sign-in. Answers whether the server confirmed the end
    /// (`false` offline: the sign-in is forgotten here all the same).
    pub fn sign_out(&self) -> Result<bool, JournalError> {
        let ended = match self.signed_in_client() {
            Ok(client) => {
                self.secrets.clear_failure();
                let ended = client.end_session();
                if let Some(failure) = self.secrets.take_failure() {
                    self.forget_sign_in()?;
                    return Err(failure);
                }
                // A server that refuses the sign-out has ended it anyway.
                ended.unwrap_or(true)
            }
            Err(JournalError::NotSignedIn { .. }) => true,
            Err(other) => return Err(other),
        };
        self.forget_sign_in()?;
        Ok(ended)
    }

    /// The signed-in account.
    pub fn account(&self) -> Result<Account, JournalError> {
        Ok(self.with_client(SyncClient::account)?.into())
    }

    /// Sets the name therapists see; `None` removes it. Fails with
    /// `Invalid` (field `displayName`) for a blank name, one over 100
    /// characters or one with line breaks.
    pub fn set_display_name(&self, name: Option<String>) -> Result<Account, JournalError> {
        Ok(self
            .with_client(|client| client.set_display_name(name.as_deref()))?
            .into())
    }

    /// Changes the password, confirming the current one. The account's
    /// other sessions (other phones) are signed out; this one stays.
    /// Fails with `WrongCredentials` (the current password is wrong),
    /// `Invalid` (field `newPassword`), `Throttled`.
    pub fn change_password(
        &self,
        current_password: String,
        new_password: String,
    ) -> Result<(), JournalError> {
        self.with_client(|client| client.change_password(&current_password, &new_password))
    }

    /// Asks the server at `serverUrl` to email a code for resetting a
    /// forgotten password, if an account has `email` (the answer is the
    /// same either way). Fails with `Throttled` after three codes an hour,
    /// `ServerRefused` (503) when the clinic's server cannot send email.
    pub fn request_password_reset(
        &self,
        server_url: String,
        email: String,
    ) -> Result<(), JournalError> {
        let mut problems = InvalidInput {
            violations: Vec::new(),
        };
        required(&mut problems, "email", &email);
        check(problems)?;
        Ok(core_sync::request_password_reset(
            &transport(&server_url)?,
            email.trim(),
        )?)
    }

    /// Sets a new password with the code from the reset email; every
    /// session of the account ends, so sign in again with it. Fails with
    /// `Invalid` naming `code` (wrong, used or expired: ask for a new one)
    /// or `newPassword`.
    pub fn reset_password(
        &self,
        server_url: String,
        email: String,
        code: String,
        new_password: String,
    ) -> Result<(), JournalError> {
        let mut problems = InvalidInput {
            violations: Vec::new(),
        };
        required(&mut problems, "email", &email);
        required(&mut problems, "code", &code);
        check(problems)?;
        Ok(core_sync::reset_password(
            &transport(&server_url)?,
            email.trim(),
            &code,
            &new_password,
        )?)
    }

    /// Erases the account on the server, with everything kept about it,
    /// confirming the password; then empties this journal and forgets the
    /// sign-in. Fails with `WrongCredentials` (nothing is erased anywhere),
    /// `Throttled`, `Network`.
    pub fn delete_account(&self, password: String) -> Result<(), JournalError> {
        self.with_client(|client| client.delete_account(&password))?;
        self.forget_sign_in()
    }

    /// Accepts a therapist's invitation code (`XXXXX-XXXXX`; case, spaces
    /// and the dash do not matter): the patient is linked with that
    /// therapist, who sees only what the patient shares. Fails with
    /// `InvitationUnusable` (unknown, used, revoked or expired),
    /// `ServerRefused` 409 (already linked with this therapist).
    pub fn accept_invitation(&self, code: String) -> Result<CareLink, JournalError> {
        let mut problems = InvalidInput {
            violations: Vec::new(),
        };
        required(&mut problems, "code", &code);
        check(problems)?;
        match self.with_client_raw(|client| client.accept_invitation(code.trim()))? {
            Ok(link) => Ok(link.into()),
            Err(refused) if core_sync::is_unusable_invitation(&refused) => {
                Err(JournalError::InvitationUnusable {
                    detail: format!(
                        "this invitation code cannot be used (unknown, used, revoked or \
                         expired): ask your therapist for a new one ({refused})"
                    ),
                })
            }
            Err(other) => Err(other.into()),
        }
    }

    /// The patient's active care links, newest first.
    pub fn care_links(&self) -> Result<Vec<CareLink>, JournalError> {
        Ok(self
            .with_client(SyncClient::care_links)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Ends a care link: the therapist sees nothing of the patient's any
    /// more, and their care plan leaves the agenda at the next sync. Fails
    /// with `NotFound` for an id that names no active link of the patient's.
    pub fn end_care_link(&self, id: String) -> Result<(), JournalError> {
        let uuid = uuid::Uuid::parse_str(id.trim())
            .map_err(|_| JournalError::invalid("id", "uuid", "must be a care link's id"))?;
        match self.with_client_raw(|client| client.end_care_link(uuid))? {
            Err(SyncError::Rejected {
                status: 404,
                detail,
                ..
            }) => Err(JournalError::NotFound { detail, id }),
            other => Ok(other?),
        }
    }

    /// The clinic's policy as last fetched, kept on this device (`None`
    /// before the first `refreshPolicy`).
    pub fn policy(&self) -> Result<Option<Policy>, JournalError> {
        Ok(self.store.policy()?.map(Into::into))
    }

    /// Fetches the clinic's policy from the server at `serverUrl` (no
    /// sign-in needed: show it before registering) and keeps it on the
    /// device; its crisis resources become the ones a risk answer shows,
    /// also offline.
    pub fn refresh_policy(&self, server_url: String) -> Result<Policy, JournalError> {
        let client = SyncClient::new(
            Arc::clone(&self.store),
            Arc::new(transport(&server_url)?),
            Arc::new(core_sync::InMemorySecrets::new()),
        );
        Ok(client.refresh_policy()?.into())
    }
}

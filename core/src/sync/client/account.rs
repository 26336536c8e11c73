//! The account and the care links, beyond sync: registering, signing out
//! on the server, changing and resetting the password, erasing the account
//! (and this journal with it), accepting a therapist's invitation, listing
//! and ending care links, the clinic's policy and the display name.
//!
//! Every call goes through the client's [`Transport`] (so tests can put a
//! faulty network in between), with the access token the client keeps:
//! no token ever leaves the library.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{REFRESH_TOKEN_KEY, SyncClient, SyncError};
use crate::safety::CrisisResources;
use crate::sync::transport::{Tokens, Transport, TransportError};

/// The signed-in account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// The account's id.
    pub id: Uuid,
    /// Its email address (lower case).
    pub email: String,
    /// The name therapists see, if one was chosen.
    #[serde(default)]
    pub display_name: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// One side of a care link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Party {
    /// The account's id.
    pub id: Uuid,
    /// The name they chose, if any.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Their email address.
    pub email: String,
}

/// An active link between the patient and a therapist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CareLink {
    /// The link's id (to end it).
    pub id: Uuid,
    /// When the patient accepted the invitation.
    pub created_at: DateTime<Utc>,
    /// The patient.
    pub patient: Party,
    /// The therapist.
    pub therapist: Party,
}

/// The clinic's policy, shown before the patient shares anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// Whether and how shared entries are watched, as the clinic says it.
    pub monitoring_statement: String,
    /// Where to find help in a crisis, as the clinic lists it.
    pub crisis_resources: CrisisResources,
}

/// The problem type of a care invitation that was used, revoked or expired.
const GONE: &str = "urn:kap-journal:problem:gone";

fn read<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, SyncError> {
    serde_json::from_value(value)
        .map_err(|e| SyncError::Protocol(format!("the server's answer cannot be read: {e}")))
}

/// The tokens of a registration (the same answer as a sign-in's).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenAnswer {
    access_token: String,
    refresh_token: String,
    expires_in: u64,
}

impl SyncClient {
    /// Registers a patient account on the server and signs in with it,
    /// keeping the refresh token in the secret store. Fails with
    /// `Rejected` 409 when the email has an account, 422 with the broken
    /// rules for an invalid email, password or name.
    pub fn register(
        &self,
        email: &str,
        password: &str,
        display_name: Option<&str>,
    ) -> Result<(), SyncError> {
        let mut body = json!({"email": email, "password": password});
        if let Some(name) = display_name {
            body["displayName"] = json!(name);
        }
        let answer: TokenAnswer =
            read(
                self.transport
                    .call("POST", "/auth/register", None, Some(&body))?,
            )?;
        self.keep(Tokens {
            access_token: answer.access_token,
            refresh_token: answer.refresh_token,
            expires_in: answer.expires_in,
        });
        Ok(())
    }

    /// Signs out: ends the session on the server, then forgets the tokens
    /// here. The journal and its unsent changes stay. Offline, the tokens
    /// are forgotten all the same and `false` is answered (the session
    /// then ends on the server when its refresh token expires).
    pub fn end_session(&self) -> Result<bool, SyncError> {
        let ended = match self.secrets.get(REFRESH_TOKEN_KEY) {
            None => true,
            Some(refresh) => {
                let body = json!({"refreshToken": refresh});
                match self
                    .transport
                    .call("POST", "/auth/logout", None, Some(&body))
                {
                    Ok(_) => true,
                    Err(TransportError::Network(_)) => false,
                    Err(other) => {
                        self.sign_out();
                        return Err(other.into());
                    }
                }
            }
        };
        self.sign_out();
        Ok(ended)
    }

    /// The signed-in account.
    pub fn account(&self) -> Result<Account, SyncError> {
        read(self.authorized(|token| self.transport.call("GET", "/me", Some(token), None))?)
    }

    /// Sets (or, with `None`, removes) the name therapists see.
    pub fn set_display_name(&self, name: Option<&str>) -> Result<Account, SyncError> {
        let body = json!({"displayName": name});
        read(self.authorized(|token| {
            self.transport
                .call("PATCH", "/me", Some(token), Some(&body))
        })?)
    }

    /// Changes the password, confirming the current one; the account's
    /// other sessions end, this one goes on. A wrong current password is
    /// `WrongCredentials`.
    pub fn change_password(&self, current: &str, new: &str) -> Result<(), SyncError> {
        let body = json!({"currentPassword": current, "newPassword": new});
        self.authorized(|token| {
            self.transport
                .call("POST", "/me/password", Some(token), Some(&body))
        })
        .map_err(wrong_password)?;
        Ok(())
    }

    /// Erases the account on the server with everything kept about it,
    /// confirming the password, then empties this journal and forgets the
    /// sign-in. A wrong password is `WrongCredentials`, and nothing is
    /// erased anywhere.
    pub fn delete_account(&self, password: &str) -> Result<(), SyncError> {
        let body = json!({"password": password});
        self.authorized(|token| {
            self.transport
                .call("DELETE", "/me", Some(token), Some(&body))
        })
        .map_err(wrong_password)?;
        self.sign_out();
        self.store.wipe()?;
        Ok(())
    }

    /// Accepts a therapist's invitation code: the patient is linked with
    /// that therapist. A code that is unknown, used, revoked or expired is
    /// `Rejected` with status 404 or 410.
    pub fn accept_invitation(&self, code: &str) -> Result<CareLink, SyncError> {
        let body = json!({"code": code});
        read(self.authorized(|token| {
            self.transport
                .call("POST", "/care/links", Some(token), Some(&body))
        })?)
    }

    /// The patient's active care links, newest first.
    pub fn care_links(&self) -> Result<Vec<CareLink>, SyncError> {
        read(self.authorized(|token| self.transport.call("GET", "/care/links", Some(token), None))?)
    }

    /// Ends a care link: the therapist no longer sees anything of the
    /// patient's, and their care plan is withdrawn at the next sync.
    pub fn end_care_link(&self, id: Uuid) -> Result<(), SyncError> {
        let path = format!("/care/links/{id}");
        self.authorized(|token| self.transport.call("DELETE", &path, Some(token), None))?;
        Ok(())
    }

    /// The clinic's policy, fetched from the server and kept on the
    /// device (its crisis resources are the ones a risk answer shows, also
    /// offline). Needs no sign-in.
    pub fn refresh_policy(&self) -> Result<Policy, SyncError> {
        let policy: Policy = read(self.transport.call("GET", "/policy", None, None)?)?;
        self.store.set_policy(&policy)?;
        Ok(policy)
    }
}

/// Asks the server at `transport` to email a password-reset code to
/// `email`, if an account has it (the answer is the same either way).
pub fn request_password_reset(transport: &dyn Transport, email: &str) -> Result<(), SyncError> {
    transport.call(
        "POST",
        "/auth/password-reset",
        None,
        Some(&json!({"email": email})),
    )?;
    Ok(())
}

/// Sets a new password with the code from a reset email; every session
/// of the account ends (sign in again). A wrong, used or expired code is
/// `Rejected` 422 naming `code`.
pub fn reset_password(
    transport: &dyn Transport,
    email: &str,
    code: &str,
    new_password: &str,
) -> Result<(), SyncError> {
    transport.call(
        "POST",
        "/auth/password-reset/confirm",
        None,
        Some(&json!({"email": email, "code": code, "newPassword": new_password})),
    )?;
    Ok(())
}

/// A wrong confirming password as the error an app acts on.
fn wrong_password(error: SyncError) -> SyncError {
    match error {
        SyncError::Rejected {
            status: 401,
            detail,
            ..
        } => SyncError::WrongCredentials(detail),
        other => other,
    }
}

/// Whether an invitation refusal says the code can no longer be used.
pub fn is_unusable_invitation(error: &SyncError) -> bool {
    matches!(error, SyncError::Rejected { status: 404 | 410, problem_type, .. }
        if problem_type == GONE || problem_type.ends_with(":not-found"))
}

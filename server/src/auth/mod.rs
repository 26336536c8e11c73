//! Who is asking: access tokens (JWT), refresh tokens, password hashing,
//! throttling, invitation codes, the rules a new account's email, password
//! and name follow, and [`AuthUser`] (which `http::extract` reads from a
//! request).
//!
//! Tokens say who the user is and their role, nothing more: whether a
//! therapist may read a record is decided from the database on every
//! request, so revoking a share or a link takes effect at once.

use journal_core::validation::{FieldViolation, InvalidInput};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use validator::ValidateEmail;

use passwords::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};

pub mod codes;
pub mod passwords;
pub mod tokens;

/// Why a credential could not be checked or made.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The credential is not valid (the detail says why, for the caller).
    #[error("{0}")]
    Unauthorized(String),
    /// Every password hasher is busy; try again shortly.
    #[error("the password hashers are all busy")]
    Busy,
    /// A fault on our side.
    #[error("{0}")]
    Internal(String),
}

/// What an account is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Writes the journal; registers themself.
    Patient,
    /// Reviews what linked patients share; created by an operator.
    Therapist,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Therapist => "therapist",
        }
    }

    /// Reads the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "patient" => Some(Role::Patient),
            "therapist" => Some(Role::Therapist),
            _ => None,
        }
    }
}

/// The signed-in user of a request, from a valid `Authorization: Bearer`
/// access token. Extracting it fails with 401 otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthUser {
    /// The user's id.
    pub id: Uuid,
    /// Their role.
    pub role: Role,
    /// The sign-in session the token belongs to (its refresh-token
    /// family): sign-out, reuse of a spent refresh token and erasure end it,
    /// and with it every access token it issued, at once.
    pub session: Uuid,
}

/// The longest email address accepted.
const MAX_EMAIL_CHARS: usize = 254;
/// The longest display name accepted.
const MAX_DISPLAY_NAME_CHARS: usize = 100;

/// Lower-cases and trims an email, so case variants are one account.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn violation(field: &str, rule: &str, message: String) -> FieldViolation {
    FieldViolation {
        field: field.to_owned(),
        rule: rule.to_owned(),
        message,
    }
}

fn password_problems(field: &str, password: &str, problems: &mut Vec<FieldViolation>) {
    let length = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&length) {
        problems.push(violation(
            field,
            "length",
            format!("must be between {MIN_PASSWORD_CHARS} and {MAX_PASSWORD_CHARS} characters"),
        ));
    } else if password.trim().is_empty() {
        problems.push(violation(
            field,
            "not_blank",
            "must contain more than white space".to_owned(),
        ));
    }
}

fn display_name_problems(name: &str, problems: &mut Vec<FieldViolation>) {
    let n = name.chars().count();
    if n == 0
        || n > MAX_DISPLAY_NAME_CHARS
        || name.trim().is_empty()
        || name.chars().any(char::is_control)
    {
        problems.push(violation(
            "displayName",
            "length",
            format!("must be 1–{MAX_DISPLAY_NAME_CHARS} characters on one line"),
        ));
    }
}

fn outcome(problems: Vec<FieldViolation>) -> Result<(), InvalidInput> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(InvalidInput {
            violations: problems,
        })
    }
}

/// Checks an email, password and display name before anything is hashed.
pub fn check_new_account(
    email: &str,
    password: &str,
    display_name: Option<&str>,
) -> Result<(), InvalidInput> {
    let mut problems = Vec::new();
    if email.chars().count() > MAX_EMAIL_CHARS || !email.validate_email() {
        problems.push(violation(
            "email",
            "email",
            "must be an email address".to_owned(),
        ));
    }
    password_problems("password", password, &mut problems);
    if let Some(name) = display_name {
        display_name_problems(name, &mut problems);
    }
    outcome(problems)
}

/// Checks a new password (a change or a reset) by the rules of a new
/// account's, reported under `field`.
pub fn check_new_password(field: &str, password: &str) -> Result<(), InvalidInput> {
    let mut problems = Vec::new();
    password_problems(field, password, &mut problems);
    outcome(problems)
}

/// Checks a display name by the rules of a new account's.
pub fn check_display_name(name: &str) -> Result<(), InvalidInput> {
    let mut problems = Vec::new();
    display_name_problems(name, &mut problems);
    outcome(problems)
}

//! Accounts and their sign-in state: the users table, the per-email
//! sign-in throttle (shared by sign-in and erasure, and by every instance),
//! and refresh-token families (stored hashed, rotated on every use; reuse
//! of a spent token revokes the whole family).

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::rows::parse_id;
use super::schema::{login_throttle, refresh_tokens, users};
use super::time::{micros_to_time, now_micros};
use super::{DbConnection, StoreError};
use crate::auth::Role;

/// Failed sign-ins for one email within [`THROTTLE_WINDOW_MICROS`] before it
/// is locked for as long.
const MAX_FAILURES: i32 = 5;
/// The window failed sign-ins are counted in, and how long a lock lasts.
const THROTTLE_WINDOW_MICROS: i64 = 15 * 60 * 1_000_000;

/// An account as stored.
#[derive(Debug, Clone)]
pub struct StoredAccount {
    /// The account's id.
    pub id: Uuid,
    /// Its email, normalised.
    pub email: String,
    /// The argon2id hash of its password.
    pub password_hash: String,
    /// What it is.
    pub role: Role,
    /// The name it chose, if any.
    pub display_name: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
struct UserRow {
    id: String,
    email: String,
    password_hash: String,
    role: String,
    display_name: Option<String>,
    created_at: i64,
}

impl UserRow {
    fn into_account(self) -> Result<StoredAccount, StoreError> {
        Ok(StoredAccount {
            id: parse_id(&self.id)?,
            role: Role::parse(&self.role)
                .ok_or_else(|| StoreError::Internal(format!("bad role {}", self.role)))?,
            email: self.email,
            password_hash: self.password_hash,
            display_name: self.display_name,
            created_at: micros_to_time(self.created_at)?,
        })
    }
}

/// Inserts an account (email already normalised and checked, password
/// hashed). A taken email is a `Conflict`.
pub fn insert_account(
    conn: &mut DbConnection,
    email: &str,
    password_hash: &str,
    role: Role,
    display_name: Option<&str>,
) -> Result<Uuid, StoreError> {
    let id = Uuid::now_v7();
    diesel::insert_into(users::table)
        .values((
            users::id.eq(id.to_string()),
            users::email.eq(email),
            users::password_hash.eq(password_hash),
            users::role.eq(role.as_str()),
            users::display_name.eq(display_name),
            users::created_at.eq(now_micros()),
        ))
        .execute(conn)
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict("an account with this email already exists".to_owned())
            }
            other => other,
        })?;
    Ok(id)
}

/// The account with this id, if it still exists.
pub fn find(conn: &mut DbConnection, id: Uuid) -> Result<Option<StoredAccount>, StoreError> {
    users::table
        .find(id.to_string())
        .select(UserRow::as_select())
        .first(conn)
        .optional()?
        .map(UserRow::into_account)
        .transpose()
}

/// What a sign-in needs to know before the password is checked: until when
/// the email is locked (when it is, now), and the account with that email.
pub fn sign_in_state(
    conn: &mut DbConnection,
    email: &str,
    email_hash: &str,
) -> Result<(Option<i64>, Option<StoredAccount>), StoreError> {
    let now = now_micros();
    let locked: Option<Option<i64>> = login_throttle::table
        .find(email_hash)
        .select(login_throttle::locked_until)
        .first(conn)
        .optional()?;
    let locked = locked.flatten().filter(|until| *until > now);
    // No account's email holds a NUL (registration checks emails), and
    // PostgreSQL refuses one in a query: answered like any unknown email,
    // not looked up.
    let account = if email.contains('\0') {
        None
    } else {
        users::table
            .filter(users::email.eq(email))
            .select(UserRow::as_select())
            .first(conn)
            .optional()?
            .map(UserRow::into_account)
            .transpose()?
    };
    Ok((locked, account))
}

/// Counts a wrong password for a (hashed) email: sign-in and erasure share
/// the lock it leads to.
pub fn record_failure(conn: &mut DbConnection, email_hash: &str) -> Result<(), StoreError> {
    conn.write_transaction(|conn| {
        let now = now_micros();
        let row: Option<(i32, i64)> = login_throttle::table
            .find(email_hash)
            .select((login_throttle::failures, login_throttle::window_start))
            .first(conn)
            .optional()?;
        let (failures, window_start) = match row {
            Some((failures, start)) if now - start < THROTTLE_WINDOW_MICROS => {
                (failures + 1, start)
            }
            _ => (1, now),
        };
        let locked_until = (failures >= MAX_FAILURES).then_some(now + THROTTLE_WINDOW_MICROS);
        let values = (
            login_throttle::failures.eq(failures),
            login_throttle::window_start.eq(window_start),
            login_throttle::locked_until.eq(locked_until),
        );
        let updated = diesel::update(login_throttle::table.find(email_hash))
            .set(values)
            .execute(conn)?;
        if updated == 0 {
            diesel::insert_into(login_throttle::table)
                .values((
                    login_throttle::email_hash.eq(email_hash),
                    values.0,
                    values.1,
                    values.2,
                ))
                .execute(conn)?;
        }
        Ok(())
    })
}

/// Forgets the failed sign-ins of a (hashed) email after a good one.
pub fn clear_failures(conn: &mut DbConnection, email_hash: &str) -> Result<(), StoreError> {
    diesel::delete(login_throttle::table.find(email_hash)).execute(conn)?;
    Ok(())
}

/// Starts a sign-in session for the account: a new refresh-token family
/// with its first token (hashed), valid for `lifetime`. Returns the
/// session's id, which its access tokens carry.
pub fn start_session(
    conn: &mut DbConnection,
    user: Uuid,
    token_hash: &str,
    lifetime: Duration,
) -> Result<Uuid, StoreError> {
    let session = Uuid::now_v7();
    insert_refresh(conn, user, &session.to_string(), token_hash, lifetime)?;
    Ok(session)
}

/// What a valid access token of an ended session (or of a gone account)
/// is told.
pub const SESSION_ENDED: &str =
    "this sign-in has ended (signed out, or the account is gone); sign in again";

/// The stored role of an account whose sign-in session `session` is still
/// open (`None` once the account is gone or the session ended: signed out,
/// its refresh token reused, erased). One look-up by primary key and an
/// indexed probe, for checking an access token on every request.
pub fn session_role(
    conn: &mut DbConnection,
    id: Uuid,
    session: Uuid,
) -> Result<Option<String>, StoreError> {
    let (id, session) = (id.to_string(), session.to_string());
    Ok(live_session_role(&id, &session)
        .get_result(conn)
        .optional()?)
}

/// The query of [`session_role`], for statements that read it beside
/// other things (the pull's first statement).
#[diesel::dsl::auto_type(no_type_alias)]
pub(crate) fn live_session_role<'a>(id: &'a str, session: &'a str) -> _ {
    users::table
        .find(id)
        .filter(diesel::dsl::exists(
            refresh_tokens::table
                .filter(refresh_tokens::family_id.eq(session))
                .filter(refresh_tokens::user_id.eq(id))
                .filter(refresh_tokens::revoked_at.is_null()),
        ))
        .select(users::role)
}

fn insert_refresh(
    conn: &mut DbConnection,
    user: Uuid,
    family: &str,
    hash: &str,
    lifetime: Duration,
) -> Result<(), StoreError> {
    let now = now_micros();
    let micros = i64::try_from(lifetime.as_micros()).unwrap_or(i64::MAX);
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::id.eq(Uuid::now_v7().to_string()),
            refresh_tokens::user_id.eq(user.to_string()),
            refresh_tokens::family_id.eq(family),
            refresh_tokens::token_hash.eq(hash),
            refresh_tokens::created_at.eq(now),
            refresh_tokens::expires_at.eq(now.saturating_add(micros)),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
struct RefreshRow {
    id: String,
    user_id: String,
    family_id: String,
    expires_at: i64,
    used_at: Option<i64>,
    revoked_at: Option<i64>,
}

/// What became of a presented refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// Spent; the next token of its family (stored) belongs to this account
    /// (id, role) and this session.
    Rotated(Uuid, Role, Uuid),
    /// Not usable, and why.
    Refused(&'static str),
}

/// Spends a refresh token (by hash) and stores the next of its family
/// (`next_hash`). A token used twice ends its whole family.
pub fn rotate(
    conn: &mut DbConnection,
    presented: &str,
    next_hash: &str,
    lifetime: Duration,
) -> Result<Rotation, StoreError> {
    conn.write_transaction(|conn| {
        let now = now_micros();
        let row: Option<RefreshRow> = refresh_tokens::table
            .filter(refresh_tokens::token_hash.eq(presented))
            .select(RefreshRow::as_select())
            .first(conn)
            .optional()?;
        let Some(RefreshRow {
            id,
            user_id,
            family_id: family,
            expires_at,
            used_at,
            revoked_at,
        }) = row
        else {
            return Ok(Rotation::Refused("unknown refresh token"));
        };
        if revoked_at.is_some() {
            return Ok(Rotation::Refused("this session was signed out"));
        }
        if expires_at <= now {
            return Ok(Rotation::Refused(
                "the refresh token has expired; sign in again",
            ));
        }
        // Claim the token; a second use (a replay, or a thief) finds it
        // claimed and ends the whole family.
        let claimed = diesel::update(
            refresh_tokens::table
                .find(&id)
                .filter(refresh_tokens::used_at.is_null()),
        )
        .set(refresh_tokens::used_at.eq(now))
        .execute(conn)?;
        if used_at.is_some() || claimed == 0 {
            revoke_family(conn, &family, now)?;
            tracing::warn!(%family, "refresh token reused: session family revoked");
            return Ok(Rotation::Refused(
                "this refresh token was already used; the session has been signed out everywhere",
            ));
        }
        let role: String = users::table
            .find(&user_id)
            .select(users::role)
            .first(conn)?;
        let id = parse_id(&user_id)?;
        let role =
            Role::parse(&role).ok_or_else(|| StoreError::Internal(format!("bad role {role}")))?;
        insert_refresh(conn, id, &family, next_hash, lifetime)?;
        let session = parse_id(&family)?;
        Ok(Rotation::Rotated(id, role, session))
    })
}

/// Ends the session a refresh token (by hash) belongs to; an unknown token
/// changes nothing.
pub fn sign_out(conn: &mut DbConnection, presented: &str) -> Result<(), StoreError> {
    let family: Option<String> = refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(presented))
        .select(refresh_tokens::family_id)
        .first(conn)
        .optional()?;
    if let Some(family) = family {
        revoke_family(conn, &family, now_micros())?;
    }
    Ok(())
}

fn revoke_family(conn: &mut DbConnection, family: &str, now: i64) -> Result<(), StoreError> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)?;
    Ok(())
}

/// Sets the account's password hash and ends every other session of the
/// account (all of them when `keep` is `None`).
pub fn set_password(
    conn: &mut DbConnection,
    user: Uuid,
    password_hash: &str,
    keep: Option<Uuid>,
) -> Result<(), StoreError> {
    conn.write_transaction(|conn| {
        let id = user.to_string();
        let changed = diesel::update(users::table.find(&id))
            .set(users::password_hash.eq(password_hash))
            .execute(conn)?;
        if changed == 0 {
            return Err(StoreError::NotSignedIn(SESSION_ENDED.to_owned()));
        }
        let keep = keep.map(|k| k.to_string()).unwrap_or_default();
        diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::user_id.eq(&id))
                .filter(refresh_tokens::family_id.ne(&keep))
                .filter(refresh_tokens::revoked_at.is_null()),
        )
        .set(refresh_tokens::revoked_at.eq(now_micros()))
        .execute(conn)?;
        Ok(())
    })
}

/// Sets (or, with `None`, removes) the account's display name; returns the
/// account as it now is.
pub fn set_display_name(
    conn: &mut DbConnection,
    user: Uuid,
    name: Option<&str>,
) -> Result<StoredAccount, StoreError> {
    let id = user.to_string();
    let changed = diesel::update(users::table.find(&id))
        .set(users::display_name.eq(name))
        .execute(conn)?;
    if changed == 0 {
        return Err(StoreError::NotSignedIn(SESSION_ENDED.to_owned()));
    }
    find(conn, user)?.ok_or_else(|| StoreError::NotSignedIn(SESSION_ENDED.to_owned()))
}

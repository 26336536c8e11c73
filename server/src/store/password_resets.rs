//! Password resets by a single-use code sent by email: asking for a code
//! (throttled per email, whether or not it has an account, so the answer
//! never tells), and using it once, before it expires, within a few tries.
//! A reset sets the new password, ends every session of the account and
//! lifts the sign-in lock.

use chrono::Duration as Span;
use diesel::prelude::*;
use uuid::Uuid;

use super::rows::parse_id;
use super::schema::{login_throttle, password_resets, refresh_tokens, users};
use super::{DbConnection, StoreError};

/// How long a code works.
pub const CODE_LIFETIME: Span = Span::minutes(30);
/// Codes one email may ask for per [`REQUEST_WINDOW`].
pub const MAX_REQUESTS: i32 = 3;
/// The window codes are counted in.
pub const REQUEST_WINDOW: Span = Span::hours(1);
/// Wrong codes tried before the code in force stops working.
pub const MAX_WRONG_TRIES: i32 = 5;

fn micros(span: Span) -> i64 {
    span.num_microseconds().unwrap_or(i64::MAX)
}

/// What asking for a code came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// A code was made for this account: email it.
    Send {
        /// The account.
        user_id: Uuid,
    },
    /// No account has this email: nothing to send (the client is told the
    /// same as for [`Requested::Send`]).
    NoAccount,
    /// Too many codes asked for this email lately: try again in this many
    /// seconds.
    Throttled(u64),
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = password_resets)]
struct ResetRow {
    user_id: Option<String>,
    code_hash: Option<String>,
    expires_at: Option<i64>,
    wrong_tries: i32,
    requests: i32,
    window_start: i64,
}

/// Asks for a code for `email` (normalised; `email_hash` its hash): the
/// code's hash is kept for the account with that email, replacing any
/// earlier code, unless the email asked too often.
pub fn request(
    conn: &mut DbConnection,
    email: &str,
    email_hash: &str,
    code_hash: &str,
    now: i64,
) -> Result<Requested, StoreError> {
    conn.write_transaction(|conn| {
        let row: Option<ResetRow> = password_resets::table
            .find(email_hash)
            .select(ResetRow::as_select())
            .first(conn)
            .optional()?;
        let (requests, window_start) = match &row {
            Some(row) if now - row.window_start < micros(REQUEST_WINDOW) => {
                (row.requests, row.window_start)
            }
            _ => (0, now),
        };
        if requests >= MAX_REQUESTS {
            let wait = (window_start + micros(REQUEST_WINDOW) - now) / 1_000_000;
            return Ok(Requested::Throttled(wait.max(1).unsigned_abs()));
        }
        let account: Option<String> = if email.contains('\0') {
            None
        } else {
            users::table
                .filter(users::email.eq(email))
                .select(users::id)
                .first(conn)
                .optional()?
        };
        let values = (
            password_resets::user_id.eq(account.as_deref()),
            password_resets::code_hash.eq(account.as_ref().map(|_| code_hash)),
            password_resets::expires_at.eq(account.as_ref().map(|_| now + micros(CODE_LIFETIME))),
            password_resets::wrong_tries.eq(0),
            password_resets::requests.eq(requests + 1),
            password_resets::window_start.eq(window_start),
        );
        if row.is_some() {
            diesel::update(password_resets::table.find(email_hash))
                .set(values)
                .execute(conn)?;
        } else {
            diesel::insert_into(password_resets::table)
                .values((password_resets::email_hash.eq(email_hash), values))
                .execute(conn)?;
        }
        match account {
            Some(id) => Ok(Requested::Send {
                user_id: parse_id(&id)?,
            }),
            None => Ok(Requested::NoAccount),
        }
    })
}

/// Uses a code: when it is the one in force for this email, unexpired and
/// not tried wrongly too often, the account's password becomes
/// `password_hash`, every session of the account ends, the sign-in lock is
/// lifted and the code is spent; returns the account. Otherwise `None`,
/// with a wrong try counted against the code in force.
pub fn confirm(
    conn: &mut DbConnection,
    email_hash: &str,
    code_hash: &str,
    password_hash: &str,
    now: i64,
) -> Result<Option<Uuid>, StoreError> {
    conn.write_transaction(|conn| {
        let row: Option<ResetRow> = password_resets::table
            .find(email_hash)
            .select(ResetRow::as_select())
            .first(conn)
            .optional()?;
        let Some(row) = row else { return Ok(None) };
        let (Some(user), Some(stored), Some(expires_at)) =
            (row.user_id, row.code_hash, row.expires_at)
        else {
            return Ok(None);
        };
        if expires_at <= now || row.wrong_tries >= MAX_WRONG_TRIES {
            return Ok(None);
        }
        if stored != code_hash {
            let tries = row.wrong_tries + 1;
            let spent = tries >= MAX_WRONG_TRIES;
            diesel::update(password_resets::table.find(email_hash))
                .set((
                    password_resets::wrong_tries.eq(tries),
                    password_resets::code_hash.eq(if spent { None } else { Some(stored) }),
                ))
                .execute(conn)?;
            return Ok(None);
        }
        diesel::update(users::table.find(&user))
            .set(users::password_hash.eq(password_hash))
            .execute(conn)?;
        diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::user_id.eq(&user))
                .filter(refresh_tokens::revoked_at.is_null()),
        )
        .set(refresh_tokens::revoked_at.eq(now))
        .execute(conn)?;
        diesel::delete(login_throttle::table.find(email_hash)).execute(conn)?;
        diesel::update(password_resets::table.find(email_hash))
            .set((
                password_resets::code_hash.eq(None::<String>),
                password_resets::expires_at.eq(None::<i64>),
                password_resets::wrong_tries.eq(0),
            ))
            .execute(conn)?;
        Ok(Some(parse_id(&user)?))
    })
}

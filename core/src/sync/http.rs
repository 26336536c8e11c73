//! [`HttpTransport`]: the [`Transport`] that speaks to a journal server over
//! HTTP(S), with ureq (blocking, rustls — no OpenSSL to build for phones).
//!
//! | call | route |
//! |---|---|
//! | sign in | `POST /api/v1/auth/login` `{email, password}` |
//! | refresh | `POST /api/v1/auth/refresh` `{refreshToken}` |
//! | push | `POST /api/v1/sync/push` (Bearer) |
//! | pull | `GET /api/v1/sync/pull?since=&limit=&deviceId=` (Bearer) |
//!
//! Answers map to [`TransportError`]: no connection or no answer in time →
//! `Network`; 401 → `Unauthorized`; any other 4xx/5xx → `Rejected` with the
//! problem document's `type` and `detail`; an answer that is not the JSON
//! expected → `Protocol`.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use ureq::Agent;
use ureq::http::Response;

use super::transport::{Tokens, Transport, TransportError};
use super::wire::{OwnerVersion, PullResponse, PushRequest, PushResponse};
use crate::ids::DeviceId;
use crate::validation::InvalidInput;

/// How long connecting (DNS, TCP, TLS) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole request may take, answer included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest answer read: a pull page of 1,000 long entries fits.
const MAX_ANSWER_BYTES: u64 = 256 * 1024 * 1024;
/// The most of an error answer read.
const MAX_PROBLEM_BYTES: u64 = 64 * 1024;

/// The problem type of a wrong password given to confirm an account change
/// (401, but the sign-in stands).
pub const WRONG_PASSWORD: &str = "urn:kap-journal:problem:wrong-password";

/// A [`Transport`] over HTTP(S) to the server at a base URL.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    base_url: String,
    agent: Agent,
}

impl HttpTransport {
    /// A transport to the server at `base_url` (`https://journal.example`,
    /// without `/api/v1`). Plain `http://` is accepted for development
    /// servers; apps should use `https://`.
    pub fn new(base_url: &str) -> Result<Self, InvalidInput> {
        let trimmed = base_url.trim().trim_end_matches('/');
        let rest = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"));
        if rest.is_none_or(|host| host.is_empty() || host.contains(char::is_whitespace)) {
            return Err(InvalidInput::single(
                "baseUrl",
                "url",
                "must be an http:// or https:// address, like https://journal.example",
            ));
        }
        let agent: Agent = Agent::config_builder()
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(REQUEST_TIMEOUT))
            // Status codes are read here, with the problem document.
            .http_status_as_error(false)
            // A redirected POST would arrive as a GET without its body.
            .max_redirects(0)
            .user_agent(concat!("journal-core/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Self {
            base_url: trimmed.to_owned(),
            agent,
        })
    }

    /// The server's address, as given (without a trailing `/`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base_url)
    }

    fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        access_token: Option<&str>,
        body: &B,
    ) -> Result<T, TransportError> {
        let mut request = self
            .agent
            .post(self.url(path))
            .header("Accept", "application/json");
        if let Some(token) = access_token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        // Compact JSON (ureq's own `send_json` pretty-prints).
        let json = serde_json::to_vec(body)
            .map_err(|e| TransportError::Protocol(format!("the request cannot be written: {e}")))?;
        let response = request
            .header("Content-Type", "application/json")
            .send(&json[..])
            .map_err(from_ureq)?;
        read_answer(response)
    }
}

/// The login and refresh answer (`TokenResponse`); other fields are ignored.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenAnswer {
    access_token: String,
    refresh_token: String,
    expires_in: u64,
}

impl From<TokenAnswer> for Tokens {
    fn from(answer: TokenAnswer) -> Self {
        Tokens {
            access_token: answer.access_token,
            refresh_token: answer.refresh_token,
            expires_in: answer.expires_in,
        }
    }
}

/// The parts of an RFC 9457 problem document the client uses.
#[derive(serde::Deserialize)]
struct ProblemAnswer {
    #[serde(rename = "type", default)]
    problem_type: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    errors: Vec<crate::validation::FieldViolation>,
}

#[derive(Serialize)]
struct Credentials<'a> {
    email: &'a str,
    password: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RefreshRequest<'a> {
    refresh_token: &'a str,
}

impl Transport for HttpTransport {
    fn sign_in(&self, email: &str, password: &str) -> Result<Tokens, TransportError> {
        self.post::<_, TokenAnswer>("/auth/login", None, &Credentials { email, password })
            .map(Tokens::from)
    }

    fn refresh(&self, refresh_token: &str) -> Result<Tokens, TransportError> {
        self.post::<_, TokenAnswer>("/auth/refresh", None, &RefreshRequest { refresh_token })
            .map(Tokens::from)
    }

    fn push(
        &self,
        access_token: &str,
        request: &PushRequest,
    ) -> Result<PushResponse, TransportError> {
        self.post("/sync/push", Some(access_token), request)
    }

    fn pull(
        &self,
        access_token: &str,
        since: OwnerVersion,
        limit: u32,
        device: DeviceId,
    ) -> Result<PullResponse, TransportError> {
        let response = self
            .agent
            .get(self.url("/sync/pull"))
            .query("since", since.to_string())
            .query("limit", limit.to_string())
            .query("deviceId", device.to_string())
            .header("Accept", "application/json")
            .header("Authorization", format!("Bearer {access_token}"))
            .call()
            .map_err(from_ureq)?;
        read_answer(response)
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        access_token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, TransportError> {
        let url = self.url(path);
        let auth = access_token.map(|token| format!("Bearer {token}"));
        let json = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| TransportError::Protocol(format!("the request cannot be written: {e}")))?;
        macro_rules! send {
            ($builder:expr) => {{
                let mut request = $builder.header("Accept", "application/json");
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth.as_str());
                }
                match &json {
                    Some(json) => request
                        .header("Content-Type", "application/json")
                        .send(&json[..]),
                    None => request.send_empty(),
                }
            }};
        }
        let response = match method {
            "GET" => {
                let mut request = self.agent.get(&url).header("Accept", "application/json");
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth.as_str());
                }
                request.call()
            }
            "POST" => send!(self.agent.post(&url)),
            "PUT" => send!(self.agent.put(&url)),
            "PATCH" => send!(self.agent.patch(&url)),
            "DELETE" => send!(self.agent.delete(&url).force_send_body()),
            other => {
                return Err(TransportError::Protocol(format!(
                    "{other} is not a method this client sends"
                )));
            }
        }
        .map_err(from_ureq)?;
        read_answer::<Answer>(response).map(|answer| answer.0)
    }
}

/// What a 204 (or any empty success) reads as.
#[derive(serde::Deserialize)]
#[serde(transparent)]
struct Answer(serde_json::Value);

/// Reads a success as `T`, and anything else as the error it stands for.
fn read_answer<T: DeserializeOwned>(
    mut response: Response<ureq::Body>,
) -> Result<T, TransportError> {
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        // A body cut off on the way is the network's fault.
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()
            .map_err(from_ureq)?;
        // No content reads as JSON `null` (a 204).
        let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        return serde_json::from_slice(bytes).map_err(|e| {
            TransportError::Protocol(format!(
                "a {status} answer that is not the JSON expected: {e}"
            ))
        });
    }
    if status < 400 {
        return Err(TransportError::Protocol(format!(
            "unexpected status {status} (redirects are not followed: check the server address)"
        )));
    }
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    // An error answer that cannot be read still has its status.
    let text = response
        .body_mut()
        .with_config()
        .limit(MAX_PROBLEM_BYTES)
        .read_to_string()
        .unwrap_or_default();
    let problem = serde_json::from_str::<ProblemAnswer>(&text).ok();
    let reason = response
        .status()
        .canonical_reason()
        .unwrap_or("error")
        .to_owned();
    let detail = problem
        .as_ref()
        .and_then(|p| p.detail.clone().or_else(|| p.title.clone()))
        .unwrap_or_else(|| format!("HTTP {status} {reason}"));
    let problem_type = problem
        .as_ref()
        .and_then(|p| p.problem_type.clone())
        .unwrap_or_else(|| "about:blank".to_owned());
    // A wrong password confirming an account change is not an ended
    // sign-in: it must not send the client to refresh or sign out.
    if status == 401 && problem_type != WRONG_PASSWORD {
        return Err(TransportError::Unauthorized(detail));
    }
    Err(TransportError::Rejected {
        status,
        problem_type,
        detail,
        retry_after,
        violations: problem.map(|p| p.errors).unwrap_or_default(),
    })
}

fn from_ureq(error: ureq::Error) -> TransportError {
    use ureq::Error as E;
    match error {
        E::BodyExceedsLimit(limit) => {
            TransportError::Protocol(format!("the answer is larger than {limit} bytes"))
        }
        e @ (E::Protocol(_)
        | E::BadUri(_)
        | E::Http(_)
        | E::TooManyRedirects
        | E::RedirectFailed
        | E::LargeResponseHeader(..)
        | E::StatusCode(_)) => TransportError::Protocol(e.to_string()),
        // Timeouts, DNS, refused or cut connections, TLS failures (a
        // captive portal, a proxy): nothing the app can do but try later.
        other => TransportError::Network(other.to_string()),
    }
}

#[cfg(test)]
mod tests;

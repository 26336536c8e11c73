//! HttpTransport against a tiny canned HTTP server on a local socket: the
//! requests it sends and how each kind of answer maps to TransportError.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;

use super::*;
use crate::ids::MutationId;

/// What the canned server saw.
struct Seen {
    request_line: String,
    headers: Vec<String>,
    body: String,
}

/// Serves one request with `status` and `body`, returning what it received.
fn serve_once(status: &str, content_type: &str, body: &str) -> (String, JoinHandle<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let answer = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream);
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut headers = Vec::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end().to_owned();
            if line.is_empty() {
                break;
            }
            if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = n.trim().parse().unwrap();
            }
            headers.push(line);
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        reader.get_mut().write_all(answer.as_bytes()).unwrap();
        Seen {
            request_line: request_line.trim_end().to_owned(),
            headers,
            body: String::from_utf8(body).unwrap(),
        }
    });
    (base, handle)
}

const PROBLEM: &str = "application/problem+json";

#[test]
fn sign_in_posts_credentials_and_reads_the_tokens() {
    let (base, server) = serve_once(
        "200 OK",
        "application/json",
        r#"{"accessToken":"a1","tokenType":"Bearer","expiresIn":900,"refreshToken":"r1","refreshExpiresIn":2592000,"account":{"id":"0190b1c2-0000-7000-8000-000000000000","role":"patient"}}"#,
    );
    let transport = HttpTransport::new(&format!("{base}/")).unwrap();
    let tokens = transport
        .sign_in("ada@example.org", "correct horse")
        .unwrap();
    assert_eq!(
        tokens,
        Tokens {
            access_token: "a1".into(),
            refresh_token: "r1".into(),
            expires_in: 900
        }
    );
    let seen = server.join().unwrap();
    assert_eq!(seen.request_line, "POST /api/v1/auth/login HTTP/1.1");
    let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"email": "ada@example.org", "password": "correct horse"})
    );
}

#[test]
fn refresh_sends_the_token_in_camel_case() {
    let (base, server) = serve_once(
        "200 OK",
        "application/json",
        r#"{"accessToken":"a2","expiresIn":900,"refreshToken":"r2"}"#,
    );
    let tokens = HttpTransport::new(&base).unwrap().refresh("r1").unwrap();
    assert_eq!(tokens.refresh_token, "r2");
    let seen = server.join().unwrap();
    assert_eq!(seen.request_line, "POST /api/v1/auth/refresh HTTP/1.1");
    assert_eq!(seen.body, r#"{"refreshToken":"r1"}"#);
}

#[test]
fn pull_asks_with_the_cursor_and_a_bearer_token() {
    let (base, server) = serve_once(
        "200 OK",
        "application/json",
        r#"{"changes":[],"cursor":7,"hasMore":false,"lastAppliedMutation":3}"#,
    );
    let device = DeviceId::new();
    let page = HttpTransport::new(&base)
        .unwrap()
        .pull("tok", OwnerVersion(5), 200, device)
        .unwrap();
    assert_eq!(page.cursor, OwnerVersion(7));
    assert_eq!(page.last_applied_mutation, Some(MutationId(3)));
    let seen = server.join().unwrap();
    assert_eq!(
        seen.request_line,
        format!("GET /api/v1/sync/pull?since=5&limit=200&deviceId={device} HTTP/1.1")
    );
    assert!(
        seen.headers
            .iter()
            .any(|h| h.eq_ignore_ascii_case("authorization: Bearer tok")),
        "{:?}",
        seen.headers
    );
}

#[test]
fn push_sends_the_wire_json() {
    let (base, server) = serve_once(
        "200 OK",
        "application/json",
        r#"{"results":[],"lastAppliedMutation":null}"#,
    );
    let request = PushRequest {
        device_id: DeviceId::new(),
        mutations: vec![],
    };
    let answer = HttpTransport::new(&base)
        .unwrap()
        .push("tok", &request)
        .unwrap();
    assert_eq!(answer.last_applied_mutation, None);
    let seen = server.join().unwrap();
    assert_eq!(seen.request_line, "POST /api/v1/sync/push HTTP/1.1");
    let sent: PushRequest = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(sent, request);
}

#[test]
fn a_401_is_unauthorized_with_the_servers_detail() {
    let (base, server) = serve_once(
        "401 Unauthorized",
        PROBLEM,
        r#"{"type":"urn:kap-journal:problem:unauthorized","title":"Sign-in required","status":401,"detail":"the token has expired"}"#,
    );
    let err = HttpTransport::new(&base)
        .unwrap()
        .pull("old", OwnerVersion(0), 10, DeviceId::new())
        .unwrap_err();
    assert_eq!(
        err,
        TransportError::Unauthorized("the token has expired".into())
    );
    server.join().unwrap();
}

#[test]
fn other_errors_are_rejections_with_the_problem_type_and_detail() {
    let (base, server) = serve_once(
        "422 Unprocessable Entity",
        PROBLEM,
        r#"{"type":"urn:kap-journal:problem:validation","title":"The input breaks a rule","status":422,"detail":"mutations: at most 500"}"#,
    );
    let err = HttpTransport::new(&base)
        .unwrap()
        .sign_in("a@b.c", "pw")
        .unwrap_err();
    assert_eq!(
        err,
        TransportError::Rejected {
            status: 422,
            problem_type: "urn:kap-journal:problem:validation".into(),
            detail: "mutations: at most 500".into(),
            retry_after: None,
            violations: Vec::new(),
        }
    );
    server.join().unwrap();

    // An error page that is not a problem document still says its status.
    let (base, server) = serve_once("502 Bad Gateway", "text/html", "<h1>oops</h1>");
    let err = HttpTransport::new(&base).unwrap().refresh("r").unwrap_err();
    assert_eq!(
        err,
        TransportError::Rejected {
            status: 502,
            problem_type: "about:blank".into(),
            detail: "HTTP 502 Bad Gateway".into(),
            retry_after: None,
            violations: Vec::new(),
        }
    );
    server.join().unwrap();
}

#[test]
fn an_unreadable_success_is_a_protocol_error() {
    let (base, server) = serve_once("200 OK", "text/html", "<html>captive portal</html>");
    let err = HttpTransport::new(&base)
        .unwrap()
        .sign_in("a@b.c", "pw")
        .unwrap_err();
    assert!(matches!(err, TransportError::Protocol(_)), "{err:?}");
    server.join().unwrap();

    let (base, server) = serve_once("301 Moved Permanently", "text/plain", "");
    let err = HttpTransport::new(&base)
        .unwrap()
        .sign_in("a@b.c", "pw")
        .unwrap_err();
    assert!(
        matches!(&err, TransportError::Protocol(m) if m.contains("301")),
        "{err:?}"
    );
    server.join().unwrap();
}

#[test]
fn no_server_is_a_network_error() {
    // Bind and drop: nothing listens on the port any more.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = HttpTransport::new(&format!("http://127.0.0.1:{port}"))
        .unwrap()
        .sign_in("a@b.c", "pw")
        .unwrap_err();
    assert!(matches!(err, TransportError::Network(_)), "{err:?}");
}

#[test]
fn base_urls_are_checked() {
    for bad in [
        "",
        "journal.example",
        "ftp://journal.example",
        "https://",
        "http:// x",
    ] {
        assert!(HttpTransport::new(bad).is_err(), "{bad:?}");
    }
    let t = HttpTransport::new(" https://journal.example/ ").unwrap();
    assert_eq!(t.base_url(), "https://journal.example");
    assert_eq!(
        t.url("/sync/push"),
        "https://journal.example/api/v1/sync/push"
    );
}

#[test]
fn other_calls_send_their_method_token_and_body_and_read_the_answer() {
    // A 204 reads as null.
    let (base, server) = serve_once("204 No Content", "application/json", "");
    let transport = HttpTransport::new(&base).unwrap();
    let body = serde_json::json!({"displayName": "Sam"});
    let answer = transport
        .call("PATCH", "/me", Some("tok"), Some(&body))
        .unwrap();
    assert_eq!(answer, serde_json::Value::Null);
    let seen = server.join().unwrap();
    assert_eq!(seen.request_line, "PATCH /api/v1/me HTTP/1.1");
    assert!(
        seen.headers
            .iter()
            .any(|h| h == "authorization: Bearer tok" || h == "Authorization: Bearer tok")
    );
    assert_eq!(seen.body, r#"{"displayName":"Sam"}"#);

    // A body without a token; a JSON answer.
    let (base, server) = serve_once("200 OK", "application/json", r#"{"a":1}"#);
    let answer = HttpTransport::new(&base)
        .unwrap()
        .call("GET", "/policy", None, None)
        .unwrap();
    assert_eq!(answer, serde_json::json!({"a": 1}));
    let seen = server.join().unwrap();
    assert!(
        !seen
            .headers
            .iter()
            .any(|h| h.to_ascii_lowercase().starts_with("authorization"))
    );

    assert!(matches!(
        HttpTransport::new(&base)
            .unwrap()
            .call("TRACE", "/x", None, None),
        Err(TransportError::Protocol(_))
    ));
}

#[test]
fn refusals_carry_the_wait_the_broken_rules_and_a_wrong_password_apart() {
    let (base, server) = serve_once(
        "429 Too Many Requests",
        "application/problem+json\r\nRetry-After: 42",
        r#"{"type":"urn:kap-journal:problem:too-many-requests","detail":"slow down"}"#,
    );
    let err = HttpTransport::new(&base)
        .unwrap()
        .call("POST", "/auth/password-reset", None, None)
        .unwrap_err();
    assert!(
        matches!(
            &err,
            TransportError::Rejected {
                status: 429,
                retry_after: Some(42),
                ..
            }
        ),
        "{err:?}"
    );
    server.join().unwrap();

    let (base, server) = serve_once(
        "422 Unprocessable Entity",
        PROBLEM,
        r#"{"type":"urn:kap-journal:problem:validation","detail":"bad",
            "errors":[{"field":"newPassword","rule":"length","message":"too short"}]}"#,
    );
    let err = HttpTransport::new(&base)
        .unwrap()
        .call("POST", "/me/password", Some("t"), None)
        .unwrap_err();
    let TransportError::Rejected { violations, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].field, "newPassword");
    server.join().unwrap();

    // A wrong confirming password is not an ended sign-in.
    let (base, server) = serve_once(
        "401 Unauthorized",
        PROBLEM,
        r#"{"type":"urn:kap-journal:problem:wrong-password","detail":"wrong password"}"#,
    );
    let err = HttpTransport::new(&base)
        .unwrap()
        .call(
            "DELETE",
            "/me",
            Some("t"),
            Some(&serde_json::json!({"password": "x"})),
        )
        .unwrap_err();
    assert!(
        matches!(&err, TransportError::Rejected { status: 401, problem_type, .. } if problem_type == WRONG_PASSWORD),
        "{err:?}"
    );
    let seen = server.join().unwrap();
    assert_eq!(seen.request_line, "DELETE /api/v1/me HTTP/1.1");
    assert_eq!(seen.body, r#"{"password":"x"}"#);
}

//! Slow clients, on a real server over loopback: a client that sends a
//! request's headers and a `Content-Length`, then never the body (or never
//! finishes its headers), must not keep its connection and handler for
//! good — it is answered 408 and closed once `--request-seconds` pass —
//! and a burst of such clients must not stop others being served. Each
//! case on SQLite and on PostgreSQL.

// A test crate: unwrapping is how it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use journal_testing::{Backend, TestDatabase, jwt_secret};

/// How many slow clients the burst opens at once.
const BURST: usize = 40;
/// Far longer than the server's one second: a hang fails the test instead
/// of stalling it.
const READ_BOUND: Duration = Duration::from_secs(30);

fn start(database: &TestDatabase) -> journal_server::RunningServer {
    let secret = jwt_secret(3);
    let cli = <journal_server::config::Cli as clap::Parser>::try_parse_from([
        "journal-server",
        "--bind",
        "127.0.0.1:0",
        "--database-url",
        database.url(),
        "--jwt-secret",
        &secret,
        "--request-seconds",
        "1",
        "--log",
        "warn",
    ])
    .unwrap();
    journal_server::start(cli.config).unwrap()
}

/// Opens a connection and sends `head` (and nothing more).
fn stall(address: SocketAddr, head: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(READ_BOUND)).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream
}

/// Everything the server sends until it closes the connection.
fn until_closed(mut stream: TcpStream) -> String {
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .expect("the server closes the connection of a client that stopped sending");
    String::from_utf8_lossy(&answer).into_owned()
}

const HALF_A_BODY: &str = "POST /api/v1/auth/login HTTP/1.1\r\nHost: journal\r\n\
    Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\": \"a@";

const HALF_THE_HEADERS: &str = "GET /healthz HTTP/1.1\r\nHost: journal\r\nAccept: app";

/// A whole request on a connection of its own; the status code.
fn whole(address: SocketAddr, method: &str, path: &str, body: &str) -> u16 {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(READ_BOUND)).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: journal\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let answer = until_closed(stream);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"))
}

#[test]
fn a_body_that_never_comes_is_answered_408_and_closed() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(database) = TestDatabase::create(backend, "journal_slow_") else {
            continue;
        };
        let server = start(&database);
        let answer = until_closed(stall(server.address, HALF_A_BODY));
        assert!(
            answer.starts_with("HTTP/1.1 408"),
            "{backend:?}: {answer:?}"
        );
        assert!(answer.contains("application/problem+json"), "{answer:?}");
        assert!(answer.contains("request-timeout"), "{answer:?}");
        server.stop();
    }
}

#[test]
fn headers_that_never_end_are_closed() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(database) = TestDatabase::create(backend, "journal_slow_") else {
            continue;
        };
        let server = start(&database);
        let answer = until_closed(stall(server.address, HALF_THE_HEADERS));
        // Closed, with a 408 or without a word: never an answer to a
        // request that never came, never held open.
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{backend:?}: {answer:?}"
        );
        server.stop();
    }
}

#[test]
fn a_burst_of_slow_clients_does_not_stop_others_being_served() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(database) = TestDatabase::create(backend, "journal_slow_") else {
            continue;
        };
        let server = start(&database);
        let slow: Vec<TcpStream> = (0..BURST)
            .map(|i| {
                stall(
                    server.address,
                    if i % 2 == 0 {
                        HALF_A_BODY
                    } else {
                        HALF_THE_HEADERS
                    },
                )
            })
            .collect();
        // While they stall, everyone else is served: health, registration
        // (a body read whole), sign-in.
        assert_eq!(whole(server.address, "GET", "/healthz", ""), 200);
        let account = r#"{"email": "steady@example.org", "password": "correct horse battery"}"#;
        assert_eq!(
            whole(server.address, "POST", "/api/v1/auth/register", account),
            201
        );
        assert_eq!(
            whole(server.address, "POST", "/api/v1/auth/login", account),
            200
        );
        // And every stalled connection is let go.
        for stream in slow {
            let answer = until_closed(stream);
            assert!(
                answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
                "{backend:?}: {answer:?}"
            );
        }
        server.stop();
    }
}

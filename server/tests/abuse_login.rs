//! Abuse of sign-in and registration: many wrong passwords for one account,
//! many accounts from one address, passwords far over the maximum (refused
//! before any argon2 hash runs, as the hasher's own count shows). Each test
//! on SQLite and on PostgreSQL.

// A test crate: unwrapping is how it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use actix_web::test::TestRequest;
use common::*;
use diesel::prelude::*;
use journal_server::auth::passwords::MAX_PASSWORD_CHARS;
use journal_server::store::StoreError;
use journal_server::store::schema::login_throttle;
use serde_json::json;

fn login(email: &str, password: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/v1/auth/login")
        .set_json(json!({"email": email, "password": password}))
}

fn registration(email: &str, password: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/v1/auth/register")
        .set_json(json!({"email": email, "password": password}))
}

fn retry_after(reply: &Reply) -> u64 {
    reply
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds")
}

on_both_backends! {
    async fn many_wrong_passwords_lock_the_account_until_the_window_ends(server: TestServer) {
        let app = server.app().await;
        register(&app, "target@example.org").await;
        let before = data_snapshot(&server).await;
        for attempt in 0..5 {
            let reply = call(&app, login("target@example.org", &format!("guess number {attempt}"))).await;
            reply.assert_problem(401, "unauthorized");
        }
        // Locked now: wrong and right passwords alike, with how long to wait
        // (the documented 15 minutes).
        for password in ["guess number 99", PATIENT_PASSWORD] {
            let locked = call(&app, login("target@example.org", password)).await;
            locked.assert_problem(429, "too-many-requests");
            let wait = retry_after(&locked);
            assert!((1..=15 * 60).contains(&wait), "{wait}");
        }
        // Case variants are the same account, and the same lock.
        call(&app, login("TARGET@example.org ", PATIENT_PASSWORD)).await.assert_problem(429, "too-many-requests");
        // Another account is not locked by it.
        register(&app, "bystander@example.org").await;
        assert_eq!(call(&app, login("bystander@example.org", PATIENT_PASSWORD)).await.status, 200);

        // The lock's window ends (moved into the past rather than waited
        // for): the right password works again and clears the count.
        server.state.db.run(|conn| -> Result<usize, StoreError> {
            Ok(diesel::update(login_throttle::table)
                .set(login_throttle::locked_until.eq(Some(1_i64)))
                .execute(conn)?)
        }).await.unwrap();
        let back = call(&app, login("target@example.org", PATIENT_PASSWORD)).await;
        assert_eq!(back.status, 200, "{:?}", back.body);
        let rows: i64 = server.state.db.run(|conn| -> Result<i64, StoreError> {
            Ok(login_throttle::table.count().get_result(conn)?)
        }).await.unwrap();
        assert_eq!(rows, 0, "a successful sign-in clears the count");
        // Nothing but sessions was written by all this.
        let after = data_snapshot(&server).await;
        for ((table, rows), (_, old)) in after.0.iter().zip(before.0.iter()) {
            if !matches!(*table, "refresh_tokens" | "users") {
                assert_eq!(rows, old, "{table}");
            }
        }
    }

    async fn passwords_over_the_maximum_are_refused_before_hashing(server: TestServer) {
        let app = server.app().await;
        let tokens = register(&app, "long@example.org").await;
        // A second account for password changes: each takes three wrong
        // passwords, under the lock's five.
        let other = register(&app, "long.too@example.org").await;
        let runs = || server.state.passwords.argon2_runs();
        let megabyte = "p".repeat(1_000_000);
        let just_over = "p".repeat(MAX_PASSWORD_CHARS + 1);
        // Characters, not bytes: 129 two-byte characters are over too.
        let wide_over = "é".repeat(MAX_PASSWORD_CHARS + 1);
        let before = data_snapshot(&server).await;
        for password in [&megabyte, &just_over, &wide_over] {
            let start = runs();
            let registered = call(&app, registration("new@example.org", password)).await;
            registered.assert_problem(422, "validation");
            assert_eq!(registered.body["errors"][0]["field"], "password");
            let signed_in = call(&app, login("long@example.org", password)).await;
            signed_in.assert_problem(401, "unauthorized");
            let erased = call(&app, authed(TestRequest::delete().uri("/api/v1/me"), &token(&tokens))
                .set_json(json!({"password": password}))).await;
            erased.assert_problem(401, "wrong-password");
            let changed = call(&app, authed(TestRequest::post().uri("/api/v1/me/password"), &token(&other))
                .set_json(json!({"currentPassword": password, "newPassword": "a fine new passphrase"}))).await;
            changed.assert_problem(401, "wrong-password");
            let reset = call(&app, TestRequest::post().uri("/api/v1/auth/password-reset/confirm")
                .set_json(json!({"email": "long@example.org", "code": "AAAA-AAAA", "newPassword": password}))).await;
            reset.assert_problem(422, "validation");
            assert_eq!(runs(), start, "{} characters: no argon2 ran", password.chars().count());
        }
        let after = data_snapshot(&server).await;
        assert_eq!(after, before, "nothing was written");

        // Control: the longest allowed password is hashed, and works.
        let start = runs();
        let longest = "q".repeat(MAX_PASSWORD_CHARS);
        let made = call(&app, registration("longest@example.org", &longest)).await;
        assert_eq!(made.status, 201, "{:?}", made.body);
        assert_eq!(runs(), start + 1, "one hash for the new account");
        assert_eq!(call(&app, login("longest@example.org", &longest)).await.status, 200);
        assert_eq!(runs(), start + 2, "one check for the sign-in");
    }
}

mod many_accounts_from_one_address {
    use super::*;

    async fn run(backend: Backend) {
        let Some(server) =
            TestServer::start_with(backend, &["--auth-attempts-per-minute", "5"]).await
        else {
            return;
        };
        let app = server.app().await;
        let from = |r: TestRequest, ip: &str| r.peer_addr(format!("{ip}:40000").parse().unwrap());
        for n in 0..5 {
            let reply = call(
                &app,
                from(
                    registration(&format!("bot{n}@example.org"), PATIENT_PASSWORD),
                    "203.0.113.7",
                ),
            )
            .await;
            assert_eq!(reply.status, 201, "{:?}", reply.body);
        }
        let before = data_snapshot(&server).await;
        let runs = server.state.passwords.argon2_runs();
        let refused = call(
            &app,
            from(
                registration("bot5@example.org", PATIENT_PASSWORD),
                "203.0.113.7",
            ),
        )
        .await;
        refused.assert_problem(429, "too-many-requests");
        assert!((1..=60).contains(&retry_after(&refused)));
        // Sign-in from the same address shares the limit.
        call(
            &app,
            from(login("bot0@example.org", PATIENT_PASSWORD), "203.0.113.7"),
        )
        .await
        .assert_problem(429, "too-many-requests");
        assert_eq!(data_snapshot(&server).await, before, "no account was made");
        assert_eq!(
            server.state.passwords.argon2_runs(),
            runs,
            "and no hash ran"
        );
        // Another address is not held up.
        let other = call(
            &app,
            from(
                registration("human@example.org", PATIENT_PASSWORD),
                "198.51.100.4",
            ),
        )
        .await;
        assert_eq!(other.status, 201, "{:?}", other.body);
    }

    #[actix_web::test]
    async fn sqlite() {
        run(Backend::Sqlite).await;
    }

    #[actix_web::test]
    async fn postgres() {
        run(Backend::Postgres).await;
    }
}

/// Three server instances on one database, as behind a load balancer:
/// wrong passwords spread over them from one address are stopped at the
/// same count as with one instance (the count is in the database, not in
/// each instance's memory).
mod the_address_limit_holds_across_instances {
    use super::*;

    async fn run(backend: Backend) {
        let Some(server) =
            TestServer::start_with(backend, &["--auth-attempts-per-minute", "4"]).await
        else {
            return;
        };
        let one = server.app().await;
        let two = app_of(server.another_instance()).await;
        let three = app_of(server.another_instance()).await;
        register(&one, "target@example.org").await;
        let from = |r: TestRequest, ip: &str| r.peer_addr(format!("{ip}:40000").parse().unwrap());
        let attacker = "203.0.113.9";
        // The registration above came from the test's default address; the
        // attacker's four attempts (below the account's own lock at five)
        // go round the three instances.
        for n in 0..4 {
            let guess = from(login("target@example.org", &format!("guess {n}")), attacker);
            let reply = match n % 3 {
                0 => call(&one, guess).await,
                1 => call(&two, guess).await,
                _ => call(&three, guess).await,
            };
            assert_eq!(reply.status, 401, "attempt {n}: {:?}", reply.body);
        }
        // The fifth is refused by whichever instance gets it, with the
        // address's minute, not the account's lock.
        for (name, reply) in [
            (
                "one",
                call(&one, from(login("target@example.org", "guess 7"), attacker)).await,
            ),
            (
                "two",
                call(&two, from(login("target@example.org", "guess 8"), attacker)).await,
            ),
            (
                "three",
                call(
                    &three,
                    from(login("target@example.org", "guess 9"), attacker),
                )
                .await,
            ),
        ] {
            reply.assert_problem(429, "too-many-requests");
            assert!((1..=60).contains(&retry_after(&reply)), "instance {name}");
        }
        // Another address is not held up, on any instance.
        let other = call(
            &three,
            from(
                login("target@example.org", "one honest typo"),
                "198.51.100.4",
            ),
        )
        .await;
        assert_eq!(other.status, 401, "{:?}", other.body);
    }

    #[actix_web::test]
    async fn sqlite() {
        run(Backend::Sqlite).await;
    }

    #[actix_web::test]
    async fn postgres() {
        run(Backend::Postgres).await;
    }
}

//! A real load balancer in front of several server processes: HAProxy
//! from Debian's package (`./scripts/test.sh` installs it when missing),
//! run in the foreground with a configuration of the test's own.
//!
//! It checks each instance's `GET /healthz` five times a second, balances
//! round robin, and tries a request again on another instance when the
//! connection fails or the instance answers nothing (a push or a sign-in
//! sent again is safe: pushes carry their mutation ids). It connects to
//! the instances from 127.0.0.2, so that the instances can trust that
//! address (`--trusted-proxy`) for `X-Forwarded-For` while the test's
//! clients, on 127.0.0.1, stay clients.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::process::{free_port, text_of, wait_until_healthy};

/// The address the balancer connects to the instances from.
pub const BALANCER_SOURCE: &str = "127.0.0.2";

/// HAProxy, running.
pub struct Balancer {
    child: Child,
    port: u16,
    log: tempfile::NamedTempFile,
    _dir: tempfile::TempDir,
}

/// Where HAProxy is: on the PATH, or Debian's `/usr/sbin/haproxy`.
pub fn haproxy() -> Option<PathBuf> {
    let on_path = Command::new("haproxy")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if on_path {
        return Some(PathBuf::from("haproxy"));
    }
    let debian = PathBuf::from("/usr/sbin/haproxy");
    debian.is_file().then_some(debian)
}

impl Balancer {
    /// Starts HAProxy in front of the instances listening on 127.0.0.1 at
    /// `ports`; returns once a request through it is answered. `None` when
    /// HAProxy is not installed and this is not CI (where its absence
    /// fails the test: the test command installs it).
    pub fn start(ports: &[u16]) -> Option<Self> {
        let Some(binary) = haproxy() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "HAProxy is not installed: ./scripts/test.sh installs it"
            );
            eprintln!(
                "HAProxy is not installed: the balancer test is skipped (./scripts/test.sh installs it)"
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let servers: String = ports
            .iter()
            .enumerate()
            .map(|(n, p)| format!("    server s{n} 127.0.0.1:{p} check\n"))
            .collect();
        let config = format!(
            "global\n\
             \x20   maxconn 2000\n\
             \x20   tune.bufsize 131072\n\
             defaults\n\
             \x20   mode http\n\
             \x20   timeout connect 2s\n\
             \x20   timeout client 60s\n\
             \x20   timeout server 60s\n\
             \x20   retries 3\n\
             \x20   option redispatch 1\n\
             \x20   retry-on conn-failure empty-response response-timeout\n\
             frontend api\n\
             \x20   bind 127.0.0.1:{port}\n\
             \x20   option forwardfor\n\
             \x20   default_backend instances\n\
             backend instances\n\
             \x20   balance roundrobin\n\
             \x20   option httpchk GET /healthz\n\
             \x20   http-check expect status 200\n\
             \x20   default-server inter 200ms fall 1 rise 1 source {BALANCER_SOURCE}\n\
             {servers}"
        );
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(binary)
            .args(["-db", "-f"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(log.reopen().unwrap())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        let mut balancer = Self {
            child,
            port,
            log,
            _dir: dir,
        };
        balancer.wait_until_answering();
        Some(balancer)
    }

    /// The URL clients use.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What HAProxy wrote so far.
    pub fn log_text(&self) -> String {
        text_of(&self.log)
    }

    fn wait_until_answering(&mut self) {
        let url = self.url();
        let child = &mut self.child;
        let log = &self.log;
        wait_until_healthy(
            &url,
            "HAProxy",
            || child.try_wait().ok().flatten(),
            || text_of(log),
        );
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

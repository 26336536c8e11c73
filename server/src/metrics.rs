//! Prometheus metrics: requests and their latency per route, the database
//! pool, pushes and pulls and the records they move, sign-in failures and
//! throttled attempts. Served only on the address of `--metrics-bind`
//! (off by default), never beside the API (`http::metrics`). Labels hold
//! route patterns (`/api/v1/records/{id}`), methods and status codes: no
//! ids, no patient data.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// The server's metrics.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    /// Pulls answered.
    pub pulls: IntCounter,
    /// Changes sent by pulls.
    pub changes_pulled: IntCounter,
    /// Pushes answered.
    pub pushes: IntCounter,
    /// Changes received by pushes (every outcome).
    pub changes_pushed: IntCounter,
    /// Sign-ins refused for a wrong email or password.
    pub sign_in_failures: IntCounter,
    /// Attempts at guessable secrets refused by the per-address limit.
    pub throttled: IntCounter,
    alerts: IntGaugeVec,
    pool_connections: IntGauge,
    pool_idle: IntGauge,
    pool_max: IntGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// New metrics, every series at zero.
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).unwrap_or_else(|e| unreachable!("{name}: {e}"));
            let _ = registry.register(Box::new(c.clone()));
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).unwrap_or_else(|e| unreachable!("{name}: {e}"));
            let _ = registry.register(Box::new(g.clone()));
            g
        };
        let requests = IntCounterVec::new(
            Opts::new(
                "journal_http_requests_total",
                "HTTP requests answered, by route pattern, method and status",
            ),
            &["route", "method", "status"],
        )
        .unwrap_or_else(|e| unreachable!("requests: {e}"));
        let _ = registry.register(Box::new(requests.clone()));
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "journal_http_request_duration_seconds",
                "Time to answer, by route pattern and method",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["route", "method"],
        )
        .unwrap_or_else(|e| unreachable!("latency: {e}"));
        let _ = registry.register(Box::new(latency.clone()));
        let alerts = IntGaugeVec::new(
            Opts::new(
                "journal_safety_alerts",
                "Safety alerts held, by state (open: raised and not yet seen to by the therapist)",
            ),
            &["state"],
        )
        .unwrap_or_else(|e| unreachable!("alerts: {e}"));
        let _ = registry.register(Box::new(alerts.clone()));
        Self {
            alerts,
            requests,
            latency,
            pulls: counter("journal_sync_pulls_total", "Pulls answered"),
            changes_pulled: counter("journal_sync_changes_pulled_total", "Changes sent by pulls"),
            pushes: counter("journal_sync_pushes_total", "Pushes answered"),
            changes_pushed: counter(
                "journal_sync_changes_pushed_total",
                "Changes received by pushes",
            ),
            sign_in_failures: counter(
                "journal_sign_in_failures_total",
                "Sign-ins refused for a wrong email or password",
            ),
            throttled: counter(
                "journal_throttled_attempts_total",
                "Attempts at guessable secrets refused by the per-address limit",
            ),
            pool_connections: gauge("journal_db_pool_connections", "Database connections open"),
            pool_idle: gauge(
                "journal_db_pool_idle_connections",
                "Database connections idle",
            ),
            pool_max: gauge("journal_db_pool_max_connections", "The pool's size"),
            registry,
        }
    }

    /// Counts a request answered: its route pattern, method and status,
    /// and how long it took.
    pub fn observe_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[route, method])
            .observe(seconds);
    }

    /// The exposition text, with the database pool as it is now (`open`,
    /// `idle`, `max` connections) and the safety alerts held by state.
    pub fn render(&self, (open, idle, max): (u32, u32, u32), alerts: &[(String, i64)]) -> String {
        for state in ["open", "acknowledged", "resolved"] {
            let held = alerts
                .iter()
                .find(|(s, _)| s == state)
                .map_or(0, |(_, n)| *n);
            self.alerts.with_label_values(&[state]).set(held);
        }
        self.pool_connections.set(i64::from(open));
        self.pool_idle.set(i64::from(idle));
        self.pool_max.set(i64::from(max));
        let mut out = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

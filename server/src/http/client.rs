//! Who the client is: its address (the socket's peer, or behind a listed
//! proxy the address the proxy names), the per-address limit on routes
//! that guess at secrets, and the request log's span, which records that
//! address.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::{HttpRequest, web};
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};

use super::ApiError;
use crate::state::AppState;

/// The client's address: the socket's peer, or, when the peer is one of
/// the `trusted` proxies (`--trusted-proxy`), the address its
/// `X-Forwarded-For` names. Anyone can write that header, so it is read only
/// from a listed proxy, and only the part the proxies appended: the
/// right-most address that is not itself a listed proxy. A header missing,
/// or not an address at that place, leaves the peer.
pub(crate) fn client_address(req: &HttpRequest, trusted: &[IpAddr]) -> IpAddr {
    let peer = req
        .peer_addr()
        .map(|a| a.ip().to_canonical())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    if !trusted.contains(&peer) {
        return peer;
    }
    forwarded_client(req.headers(), trusted).unwrap_or(peer)
}

/// The client `X-Forwarded-For` names, read from the right past the
/// trusted proxies: what lies further left was written by the client and
/// is never read. `None` when the header is missing, or the hop where the
/// client should be is not an address.
fn forwarded_client(headers: &HeaderMap, trusted: &[IpAddr]) -> Option<IpAddr> {
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
        hops.extend(text.split(',').map(|hop| hop.trim().to_owned()));
    }
    let mut earliest_proxy = None;
    for hop in hops.iter().rev() {
        let address = hop_address(hop)?;
        if !trusted.contains(&address) {
            return Some(address);
        }
        earliest_proxy = Some(address);
    }
    // Every hop a listed proxy: the left-most is where the request began.
    earliest_proxy
}

/// One address of `X-Forwarded-For`: `1.2.3.4`, `2001:db8::1`, with or
/// without a port (`1.2.3.4:5678`, `[2001:db8::1]:5678`).
fn hop_address(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>()
        .or_else(|_| text.parse::<std::net::SocketAddr>().map(|a| a.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// The request log's root span, as tracing-actix-web's default but for the
/// client's address, which is [`client_address`] (the default reads any
/// forwarded header, which anyone can write).
pub struct ClientSpan;

impl RootSpanBuilder for ClientSpan {
    fn on_request_start(request: &ServiceRequest) -> tracing::Span {
        let trusted = request
            .app_data::<web::Data<AppState>>()
            .map_or(&[][..], |state| &state.trusted_proxies);
        let client = client_address(request.request(), trusted);
        let route = request.match_pattern().unwrap_or_default();
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %request.uri().path(),
            http.client_ip = %client,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            request_id = %request_id,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(
        span: tracing::Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// Counts an attempt at a guessable secret from this client, in the
/// database, so the limit holds across every server instance on it.
pub(crate) async fn guard_attempt(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    let address = client_address(req, &state.trusted_proxies).to_string();
    let max = state.auth_attempts_per_minute;
    state
        .db
        .run(move |conn| {
            crate::store::throttle::count_attempt(conn, &address, max, Duration::from_secs(60))
        })
        .await
        .map_err(ApiError::from)?
        .map_err(|seconds| {
            state.metrics.throttled.inc();
            ApiError::TooManyRequests(seconds)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn address(peer: &str, forwarded: &[&str], trusted: &[&str]) -> String {
        let mut req = TestRequest::default().peer_addr(peer.parse().unwrap());
        for value in forwarded {
            req = req.append_header(("X-Forwarded-For", *value));
        }
        let trusted: Vec<IpAddr> = trusted.iter().map(|t| t.parse().unwrap()).collect();
        client_address(&req.to_http_request(), &trusted).to_string()
    }

    #[test]
    fn a_forwarded_header_from_anyone_else_is_ignored() {
        assert_eq!(
            address("203.0.113.9:5000", &["198.51.100.1"], &[]),
            "203.0.113.9"
        );
        assert_eq!(
            address("203.0.113.9:5000", &["198.51.100.1"], &["10.0.0.2"]),
            "203.0.113.9"
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client() {
        assert_eq!(
            address("10.0.0.2:5000", &["198.51.100.1"], &["10.0.0.2"]),
            "198.51.100.1"
        );
        // With a port, IPv6, and the IPv4-mapped form of a listed proxy.
        assert_eq!(
            address(
                "[::ffff:10.0.0.2]:5000",
                &["198.51.100.1:7000"],
                &["10.0.0.2"]
            ),
            "198.51.100.1"
        );
        assert_eq!(
            address("10.0.0.2:5000", &["[2001:db8::7]:7000"], &["10.0.0.2"]),
            "2001:db8::7"
        );
    }

    #[test]
    fn only_what_the_proxies_appended_counts() {
        // The client wrote its own header; the proxy appended the address it
        // saw: the right-most one is believed, not the client's invention.
        assert_eq!(
            address(
                "10.0.0.2:5000",
                &["192.0.2.66, 198.51.100.1"],
                &["10.0.0.2"]
            ),
            "198.51.100.1"
        );
        // Two proxies in a row, headers on two lines.
        assert_eq!(
            address(
                "10.0.0.2:5000",
                &["192.0.2.66", "198.51.100.1, 10.0.0.3"],
                &["10.0.0.2", "10.0.0.3"]
            ),
            "198.51.100.1"
        );
        // Every hop a proxy: the first.
        assert_eq!(
            address("10.0.0.2:5000", &["10.0.0.3"], &["10.0.0.2", "10.0.0.3"]),
            "10.0.0.3"
        );
    }

    #[test]
    fn a_header_that_does_not_parse_leaves_the_peer() {
        for bad in ["", "unknown", "198.51.100.1, not-an-address", "1.2.3.4.5"] {
            assert_eq!(
                address("10.0.0.2:5000", &[bad], &["10.0.0.2"]),
                "10.0.0.2",
                "{bad:?}"
            );
        }
        assert_eq!(address("10.0.0.2:5000", &[], &["10.0.0.2"]), "10.0.0.2");
    }

    #[test]
    fn what_the_client_wrote_to_the_left_is_never_read() {
        // A proxy that appends keeps what the client sent: garbage there
        // neither hides the client nor moves it into the proxy's budget.
        for sent in ["not-an-address", "\u{fffd}", "1.2.3.4.5", ""] {
            let header = format!("{sent}, 198.51.100.1");
            assert_eq!(
                address("10.0.0.2:5000", &[&header], &["10.0.0.2"]),
                "198.51.100.1",
                "{sent:?}"
            );
        }
        assert_eq!(
            address("10.0.0.2:5000", &["garbage", "198.51.100.1"], &["10.0.0.2"]),
            "198.51.100.1"
        );
    }
}

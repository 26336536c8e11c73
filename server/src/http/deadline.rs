//! Slow clients: a request whose body does not arrive in time is answered
//! 408 and its connection closed. actix-web bounds the time to send the
//! headers (`client_request_timeout`, set from the same setting) but not
//! the body: a client that sends headers and a `Content-Length`, then
//! nothing, would otherwise hold its connection and its handler open for
//! good.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::rt::time::{Sleep, sleep};
use actix_web::web::{Bytes, Data};
use futures_core::Stream;

use crate::state::AppState;

/// What a body that did not arrive in time fails with; the JSON and body
/// extractors turn it into a 408 problem (`problem::json_error`).
pub const BODY_TOO_SLOW: &str = "the request body did not arrive in time";

/// Middleware: the request's body must arrive whole within the configured
/// time (`--request-seconds`) from when its handling starts.
pub async fn bound_body_time(
    mut req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // A request without a body (every pull, every read) has nothing to
    // wait for: no timer for it.
    if !carries_body(&req) {
        return next.call(req).await;
    }
    let limit = req
        .app_data::<Data<AppState>>()
        .map_or(Duration::from_secs(10), |state| state.request_timeout);
    let payload = req.take_payload();
    req.set_payload(Payload::Stream {
        payload: Box::pin(Deadline {
            inner: payload,
            timer: Box::pin(sleep(limit)),
            done: false,
        }),
    });
    next.call(req).await
}

/// Whether the request says a body follows: a `Content-Length` above zero,
/// or a chunked transfer.
fn carries_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match length {
        Some(length) => length > 0,
        // No length: a body only if it is sent in chunks (or the length is
        // unreadable, which actix refuses anyway; bounded all the same).
        None => {
            headers.contains_key(header::TRANSFER_ENCODING)
                || headers.contains_key(header::CONTENT_LENGTH)
        }
    }
}

/// A body stream that fails once its time is up.
struct Deadline {
    inner: Payload,
    timer: Pin<Box<Sleep>>,
    done: bool,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            if item.is_none() {
                self.done = true;
            }
            return Poll::Ready(item);
        }
        if self.timer.as_mut().poll(cx).is_ready() {
            self.done = true;
            return Poll::Ready(Some(Err(PayloadError::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                BODY_TOO_SLOW,
            )))));
        }
        Poll::Pending
    }
}

//! Time limits on request bodies, on every route: a body that stops
//! arriving for `server.body_idle_timeout_secs`, or is still arriving
//! `server.body_timeout_secs` after the request head, ends in a 408 and the
//! connection is closed. The server's own `client_request_timeout_secs`
//! bounds only the head; without this, a client that sends a head and part
//! of a body holds a request (and what it has read so far) for ever.

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{web, Error, HttpMessage, ResponseError};
use futures_util::{Stream, StreamExt};
use tokio::time::{sleep_until, Instant, Sleep};

use crate::config::{LimitSettings, ServerSettings};
use crate::error::ApiError;

/// How a request body is read: how long it may pause and take in all,
/// and the largest JSON body. `app.rs` registers it as
/// `web::Data<BodyLimits>`; without it bodies are not timed and JSON bodies
/// are limited to 16 KiB.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub idle: Duration,
    pub whole: Duration,
    pub json_bytes: usize,
}

impl BodyLimits {
    pub fn new(server: &ServerSettings, limits: &LimitSettings) -> Self {
        Self {
            idle: Duration::from_secs(server.body_idle_timeout_secs),
            whole: Duration::from_secs(server.body_timeout_secs),
            json_bytes: limits.json_body_bytes,
        }
    }
}

/// Wraps the request's body in the time limits; when one of them ends it,
/// whatever the handler answered becomes a 408 on a closing connection.
pub async fn bound_body<B: MessageBody + 'static>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B, Closing>>, Error> {
    let limits = req
        .app_data::<web::Data<BodyLimits>>()
        .map(|l| (l.idle, l.whole));
    let payload = req.take_payload();
    let (Some((idle, whole)), false) = (limits, matches!(payload, Payload::None)) else {
        req.set_payload(payload);
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let expired = Rc::new(RefCell::new(None));
    let now = Instant::now();
    req.set_payload(Payload::Stream {
        payload: Box::pin(Bounded {
            inner: Some(payload),
            idle,
            last: now,
            deadline: now + whole,
            timer: None,
            expired: expired.clone(),
        }),
    });
    let res = next.call(req).await?;
    let Some(unread) = expired.borrow_mut().take() else {
        return Ok(res.map_into_left_body());
    };
    let (req, _) = res.into_parts();
    let mut answer = ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        format!(
            "The request body stopped arriving for {} s, or took more than {} s.",
            idle.as_secs(),
            whole.as_secs()
        ),
    )
    .error_response();
    answer.head_mut().set_connection_type(ConnectionType::Close);
    let answer = answer.map_body(|_, text| {
        let text = text.try_into_bytes().unwrap_or_default();
        Closing {
            len: text.len() as u64,
            text: Some(text),
            _unread: unread,
        }
    });
    Ok(ServiceResponse::new(req, answer).map_into_right_body())
}

/// The 408's text, and the rest of the request's body, held until the text
/// is sent: the server then closes the connection, where it would wait to
/// drain a chunked body nobody reads any more (which may never end).
pub struct Closing {
    len: u64,
    text: Option<Bytes>,
    _unread: Payload,
}

impl MessageBody for Closing {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.len)
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Infallible>>> {
        Poll::Ready(self.text.take().map(Ok))
    }
}

/// A body that ends in an error when no byte came for `idle`, or at
/// `deadline`; it then hands what is left of it to `expired`.
struct Bounded {
    inner: Option<Payload>,
    idle: Duration,
    /// When the last bytes came (or the head, before any).
    last: Instant,
    deadline: Instant,
    /// Armed only once the body makes the reader wait.
    timer: Option<Pin<Box<Sleep>>>,
    expired: Rc<RefCell<Option<Payload>>>,
}

impl Bounded {
    fn expire(&mut self) -> Poll<Option<Result<Bytes, PayloadError>>> {
        *self.expired.borrow_mut() = self.inner.take();
        Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the request body did not arrive in time",
        )))))
    }
}

impl Stream for Bounded {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match inner.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                let now = Instant::now();
                if now >= self.deadline {
                    return self.expire();
                }
                self.last = now;
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Pending => {
                let due = (self.last + self.idle).min(self.deadline);
                let timer = self.timer.get_or_insert_with(|| Box::pin(sleep_until(due)));
                if timer.deadline() != due {
                    timer.as_mut().reset(due);
                }
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => self.expire(),
                    Poll::Pending => Poll::Pending,
                }
            }
            done => done,
        }
    }
}

//! HTTP for object_store whose timeout measures stalls, not whole requests.
//!
//! reqwest's `read_timeout` starts when a request is sent and is not reset while its body is being
//! uploaded, so a multipart part that takes longer than the timeout to send over a slow link fails
//! (and is retried, and fails again) even though it never stops moving. Here a request fails only
//! when nothing moves for `timeout`: no piece of its body is taken by the connection, no response
//! arrives, or no piece of the response body arrives. Request bodies are handed to the connection
//! in small slices so that taking one is a sign of progress.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpRequestBody,
    HttpResponse, HttpResponseBody, HttpService,
};
use object_store::ClientOptions;
use tokio::time::{Instant, Sleep};

/// Request bodies are offered to the connection this much at a time.
const SLICE: usize = 64 * 1024;

/// Builds the reqwest client object_store uses, with stall timeouts instead of reqwest's own.
#[derive(Debug, Clone)]
pub struct StallConnector {
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub pool_max_idle_per_host: usize,
    pub allow_http: bool,
    pub allow_invalid_certificates: bool,
}

impl HttpConnector for StallConnector {
    fn connect(&self, _options: &ClientOptions) -> object_store::Result<HttpClient> {
        // What object_store's own connector would set for our options (HTTP/1 only is its default).
        let client = reqwest::Client::builder()
            .user_agent(concat!("autostore/", env!("CARGO_PKG_VERSION")))
            .http1_only()
            .connect_timeout(self.connect_timeout)
            .pool_max_idle_per_host(self.pool_max_idle_per_host)
            .danger_accept_invalid_certs(self.allow_invalid_certificates)
            .https_only(!self.allow_http)
            .build()
            .map_err(|err| object_store::Error::Generic {
                store: "S3",
                source: Box::new(err),
            })?;
        Ok(HttpClient::new(StallService {
            client,
            timeout: self.timeout,
        }))
    }
}

#[derive(Debug)]
struct StallService {
    client: reqwest::Client,
    timeout: Duration,
}

/// The reason of a stall timeout, in the error chain of the request that stalled.
#[derive(Debug, thiserror::Error)]
#[error("timed out: nothing moved for {0:?} ({1})")]
struct Stalled(Duration, &'static str);

#[async_trait::async_trait]
impl HttpService for StallService {
    async fn call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let (parts, body) = request.into_parts();
        let url = parts
            .uri
            .to_string()
            .parse()
            .map_err(|err| HttpError::new(HttpErrorKind::Request, err))?;
        let mut outgoing = reqwest::Request::new(parts.method, url);
        *outgoing.headers_mut() = parts.headers;
        let progress = Arc::new(Progress::new());
        *outgoing.body_mut() = Some(reqwest::Body::wrap(TrackedBody {
            inner: body,
            pending: Bytes::new(),
            progress: Arc::clone(&progress),
        }));
        let response = watch(self.client.execute(outgoing), &progress, self.timeout)
            .await
            .ok_or_else(|| {
                HttpError::new(
                    HttpErrorKind::Timeout,
                    Stalled(self.timeout, "sending the request or awaiting its response"),
                )
            })?
            .map_err(reqwest_error)?;
        let response: http::Response<reqwest::Body> = response.into();
        let (parts, body) = response.into_parts();
        let body = StallBody {
            inner: body,
            timeout: self.timeout,
            deadline: Box::pin(tokio::time::sleep(self.timeout)),
        };
        Ok(HttpResponse::from_parts(parts, HttpResponseBody::new(body)))
    }
}

/// When a request last moved, as milliseconds since it started.
struct Progress {
    start: Instant,
    last: AtomicU64,
}

impl Progress {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let now = self.start.elapsed().as_millis() as u64;
        self.last.fetch_max(now, Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// Runs `future` until it ends (`Some`) or `progress` shows no movement for `timeout` (`None`).
async fn watch<F: Future>(future: F, progress: &Progress, timeout: Duration) -> Option<F::Output> {
    tokio::pin!(future);
    loop {
        let wait = timeout.saturating_sub(progress.idle());
        if wait.is_zero() {
            return None;
        }
        tokio::select! {
            output = &mut future => return Some(output),
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// A request body handed over in slices, each one taken counting as progress.
struct TrackedBody {
    inner: HttpRequestBody,
    pending: Bytes,
    progress: Arc<Progress>,
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        while this.pending.is_empty() {
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => this.pending = data,
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                other => return other,
            }
        }
        let slice = this.pending.split_to(this.pending.len().min(SLICE));
        this.progress.touch();
        Poll::Ready(Some(Ok(Frame::data(slice))))
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let rest = self.inner.size_hint();
        match rest.exact() {
            Some(exact) => SizeHint::with_exact(exact + self.pending.len() as u64),
            None => rest,
        }
    }
}

/// A response body that fails with a timeout when no data arrives for `timeout`.
struct StallBody {
    inner: reqwest::Body,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl Body for StallBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = Instant::now() + this.timeout;
                this.deadline.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(reqwest_error(err)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(HttpError::new(
                    HttpErrorKind::Timeout,
                    Stalled(this.timeout, "receiving the response body"),
                )))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Classifies a reqwest error as object_store does, so that its retry rules apply unchanged.
fn reqwest_error(err: reqwest::Error) -> HttpError {
    let kind = if err.is_timeout() {
        HttpErrorKind::Timeout
    } else if err.is_connect() {
        HttpErrorKind::Connect
    } else if err.is_decode() {
        HttpErrorKind::Decode
    } else {
        let mut kind = HttpErrorKind::Unknown;
        let mut source = std::error::Error::source(&err);
        while let (HttpErrorKind::Unknown, Some(cause)) = (kind, source) {
            if let Some(hyper) = cause.downcast_ref::<hyper::Error>() {
                if hyper.is_closed()
                    || hyper.is_incomplete_message()
                    || hyper.is_body_write_aborted()
                {
                    kind = HttpErrorKind::Request;
                } else if hyper.is_timeout() {
                    kind = HttpErrorKind::Timeout;
                }
            }
            if let Some(io) = cause.downcast_ref::<std::io::Error>() {
                match io.kind() {
                    std::io::ErrorKind::TimedOut => kind = HttpErrorKind::Timeout,
                    std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof => kind = HttpErrorKind::Interrupted,
                    _ => {}
                }
            }
            source = cause.source();
        }
        kind
    };
    HttpError::new(kind, err.without_url())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bodies_are_sliced_and_each_slice_is_progress() {
        let payload = object_store::PutPayload::from(Bytes::from(vec![7u8; 3 * SLICE + 5]));
        let progress = Arc::new(Progress::new());
        let mut body = TrackedBody {
            inner: HttpRequestBody::from(payload),
            pending: Bytes::new(),
            progress: Arc::clone(&progress),
        };
        assert_eq!(body.size_hint().exact(), Some(3 * SLICE as u64 + 5));
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut sizes = Vec::new();
        while let Poll::Ready(Some(frame)) = Pin::new(&mut body).poll_frame(&mut cx) {
            sizes.push(frame.unwrap().into_data().unwrap().len());
        }
        assert_eq!(sizes, [SLICE, SLICE, SLICE, 5]);
        assert!(body.is_end_stream());
        assert!(progress.idle() < Duration::from_secs(1));
    }
}

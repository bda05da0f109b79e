//! A tower layer on the client server that times every request and files it under its RPC path
//! and gRPC code (`metrics::Metrics::observe_rpc`).
//!
//! The code is the `grpc-status` of the response headers: tonic answers an error with a
//! trailers-only response, so an error's code is there; a response without it is a unary OK
//! or a stream that started (Watch, health Watch, reflection) — filed as OK, timed to its first
//! headers. Hot path: no allocation, no lock (a binary search over static paths, atomic adds).

use crate::metrics;
use http::{Request, Response};
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use tower::{Layer, Service};

#[derive(Debug, Clone, Copy, Default)]
pub struct RpcMetricsLayer;

impl<S> Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;

    fn layer(&self, inner: S) -> RpcMetrics<S> {
        RpcMetrics { inner }
    }
}

#[derive(Debug, Clone)]
pub struct RpcMetrics<S> {
    inner: S,
}

impl<S, B, R> Service<Request<B>> for RpcMetrics<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Timed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        Timed {
            row: metrics::get().rpc(req.uri().path()),
            started: Instant::now(),
            inner: self.inner.call(req),
        }
    }
}

pin_project! {
    pub struct Timed<F> {
        row: usize,
        started: Instant,
        #[pin]
        inner: F,
    }
}

impl<F, R, E> Future for Timed<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx));
        // A transport error (no response) is filed as UNAVAILABLE.
        let code = match &out {
            Ok(resp) => resp
                .headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0),
            Err(_) => 14,
        };
        metrics::get().observe_rpc(*this.row, code, this.started.elapsed());
        Poll::Ready(out)
    }
}

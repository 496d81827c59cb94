//! Liveness and readiness. `/health` never runs a model and never fails because the queue is busy:
//! a liveness probe must not restart a busy, healthy server. `/ready` is the deep check: one real
//! inference of each model, run at most once per [`PROBE_EVERY`] whatever the number of callers
//! (the answer is cached), so it cannot take inference time from requests.
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::AppState;
use crate::error::ErrorKind;

/// The deep check runs at most this often; callers in between get its last answer.
pub const PROBE_EVERY: Duration = Duration::from_secs(10);

/// The last deep check: when, and the inference time or the failure's code.
#[derive(Default)]
pub struct ProbeCache(Mutex<Option<(Instant, Result<f64, &'static str>)>>);

impl ProbeCache {
    fn fresh(&self) -> Option<Result<f64, &'static str>> {
        let last = *self.0.lock().ok()?;
        last.filter(|(at, _)| at.elapsed() < PROBE_EVERY).map(|(_, r)| r)
    }

    fn store(&self, r: Result<f64, &'static str>) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some((Instant::now(), r));
        }
    }
}

/// Liveness: the process serves HTTP. Runs no model.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "`{\"status\": \"ok\", \"pack\", \"backends\": {\"detector\", \"embedder\"}, \"queue\"}`: the process serves (no model is run)")))]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let m = &state.engine.pack().manifest;
    let backends = json!({"detector": m.detector.backend, "embedder": m.embedder.backend});
    (StatusCode::OK, Json(json!({"status": "ok", "pack": m.name, "backends": backends, "queue": state.engine.queue_len()})))
}

/// Readiness, deep: one real inference of each model on a built-in image, at most once per 10 s.
/// A full queue is not a failure (the server is busy, not broken): the last answer stands.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses(
        (status = 200, description = "`{\"status\": \"ready\", \"pack\", \"queue\", \"inference_ms\"}` (`inference_ms` null while busy before any check)"),
        (status = 503, description = "`{\"status\": \"unavailable\", \"reason\"}`: the models fail"),
    ))]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let result = match state.probes.fresh() {
        Some(r) => Some(r),
        None => probe(&state).await,
    };
    let (pack, queue) = (&state.engine.pack().manifest.name, state.engine.queue_len());
    match result {
        Some(Err(reason)) => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "unavailable", "reason": reason}))),
        ok => (StatusCode::OK, Json(json!({"status": "ready", "pack": pack, "queue": queue, "inference_ms": ok.and_then(Result::ok)}))),
    }
}

/// Runs the probe and caches its answer; `None` when the queue is full (busy is not a verdict).
async fn probe(state: &AppState) -> Option<Result<f64, &'static str>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let result = match state.engine.try_probe(move |r| drop(tx.send(r))) {
        Ok(()) => rx.await.unwrap_or(Err(crate::Error::Shutdown)),
        Err(e) => Err(e),
    };
    let r = match result {
        Ok(a) => Ok(a.timings.detect_ms),
        Err(e) if e.kind() == ErrorKind::Busy => return None,
        Err(e) => {
            tracing::warn!(error = %e, "readiness probe failed");
            Err(e.code())
        }
    };
    state.probes.store(r);
    Some(r)
}

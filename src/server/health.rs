//! `/health` runs one real inference of each model; `/ready` says the engine is loaded.
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::AppState;

/// Runs one real inference (detector and embedder) on a built-in image.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "`{\"status\": \"ok\", \"pack\", \"inference_ms\"}`"), (status = 503, description = "`{\"status\": \"unavailable\", \"reason\"}`")))]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let queued = state.engine.try_probe(move |r| {
        let _ = tx.send(r);
    });
    let result = match queued {
        Ok(()) => rx.await.unwrap_or(Err(crate::Error::Shutdown)),
        Err(e) => Err(e),
    };
    match result {
        Ok(a) => {
            (StatusCode::OK, Json(json!({"status": "ok", "pack": state.engine.pack().manifest.name, "inference_ms": a.timings.detect_ms})))
        }
        Err(e) => {
            tracing::warn!(error = %e, "health probe failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "unavailable", "reason": e.code()})))
        }
    }
}

/// The models are loaded and the port is open.
#[utoipa::path(get, path = "/ready", tag = "operations", responses((status = 200, description = "`{\"status\": \"ready\", \"pack\", \"queue\"}`")))]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    (StatusCode::OK, Json(json!({"status": "ready", "pack": state.engine.pack().manifest.name, "queue": state.engine.queue_len()})))
}

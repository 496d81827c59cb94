//! Prometheus metrics: requests by route pattern (never the raw path) and status, request latency,
//! engine stage latencies (explicit buckets), queue depth, faces per image. `GET /metrics`.
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::AppState;
use crate::engine::Analysis;

/// Seconds: from a fast decode (~0.2 ms) to a slow large-photo request (~2 s).
const LATENCY_BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
const FACE_BUCKETS: [f64; 8] = [0.0, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0];

/// The process-wide recorder (installed once; later calls share it).
pub fn handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full("facematch_faces_per_image".into()), &FACE_BUCKETS))
                .and_then(|b| b.install_recorder())
                .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
                .ok()
        })
        .clone()
}

pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    // Labels from a closed set: a made-up method must not add a series.
    let method = match *req.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("facematch_requests_total", "route" => route.clone(), "method" => method, "status" => status).increment(1);
    metrics::histogram!("facematch_request_duration_seconds", "route" => route).record(start.elapsed().as_secs_f64());
    metrics::gauge!("facematch_queue_depth").set(state.engine.queue_len() as f64);
    resp
}

/// Stage timings and face count of one analysed image.
pub fn record_analysis(a: &Analysis) {
    for (stage, ms) in
        [("decode", a.timings.decode_ms), ("detect", a.timings.detect_ms), ("align", a.timings.align_ms), ("embed", a.timings.embed_ms)]
    {
        if ms > 0.0 {
            metrics::histogram!("facematch_stage_duration_seconds", "stage" => stage).record(ms / 1e3);
        }
    }
    metrics::histogram!("facematch_faces_per_image").record(a.face_count() as f64);
}

/// Prometheus metrics: requests by route pattern and status, stage latencies, queue depth, faces per image.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn render() -> Response {
    match handle() {
        Some(h) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], h.render()).into_response(),
        None => (axum::http::StatusCode::SERVICE_UNAVAILABLE, "metrics unavailable").into_response(),
    }
}

//! `GET /v1/status`: what an operator checks first — the build, the model pack and the sha256 of
//! each model file (verified at load), the calibration table, the decision defaults, the gallery,
//! and the inference workers and queue. The console's Status view is this, rendered.
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::native::{threshold_table, ErrorBody, NativeClient, ThresholdPoint};
use super::AppState;
use crate::calibration::fmr_of_score;

#[derive(Serialize, ToSchema)]
pub struct StatusResponse {
    /// The crate version.
    pub version: String,
    /// Fingerprint of the code from image bytes to embedding (keys eval caches and reports).
    pub pipeline: String,
    pub pack: PackStatus,
    /// The score calibration in use (null when the pack is uncalibrated).
    pub calibration: Option<CalibrationStatus>,
    /// Compare decides `match` at this calibrated score unless a request names its own.
    pub match_threshold_score: f32,
    /// The false-match rate that score stands for.
    pub match_threshold_fmr: f64,
    /// Target false-match rate of a whole 1:N search (`/v1/identify`, FACEKI face-check).
    pub identify_fmr: f64,
    /// Enrolled faces searched by `/v1/identify`.
    pub gallery_faces: usize,
    /// Enrolled photos are kept, encrypted (`--photo-key`).
    pub photos_kept: bool,
    pub engine: EngineStatus,
}

#[derive(Serialize, ToSchema)]
pub struct PackStatus {
    pub name: String,
    pub description: String,
    pub licence: String,
    /// Where the manifest came from (`builtin:NAME` or a path).
    pub source: String,
    pub models: Vec<ModelStatus>,
}

#[derive(Serialize, ToSchema)]
pub struct ModelStatus {
    /// `detector` or `embedder`.
    pub role: String,
    pub file: String,
    /// The pinned sha256, which the file matched at load (null for an unpinned user pack).
    pub sha256: Option<String>,
    pub backend: String,
}

#[derive(Serialize, ToSchema)]
pub struct CalibrationStatus {
    pub dataset: String,
    pub impostor_pairs: u64,
    pub genuine_pairs: u64,
    /// Confidence of the certified upper bounds (null: point estimates).
    pub confidence: Option<f64>,
    /// FMR → cosine → score, with the share of genuine pairs accepted (TAR) where measured.
    pub points: Vec<ThresholdPoint>,
}

#[derive(Serialize, ToSchema)]
pub struct EngineStatus {
    /// Inference workers, each with its own model sessions.
    pub workers: usize,
    pub intra_threads: usize,
    /// Requests waiting for a worker now.
    pub queue: usize,
    /// Requests that may wait before new ones are refused as busy.
    pub queue_depth: usize,
}

/// The deployment at a glance: build, model pack and sha256s, calibration, gallery, workers.
#[utoipa::path(get, path = "/v1/status", tag = "native", security(("api_key" = [])),
    responses((status = 200, body = StatusResponse), (status = 401, description = "Missing or invalid API key", body = ErrorBody)))]
pub async fn status(State(state): State<AppState>, _: NativeClient) -> Json<StatusResponse> {
    let pack = state.engine.pack();
    let m = &pack.manifest;
    let model = |role: &str, f: &crate::manifest::ModelFile, backend: crate::backend::Backend| ModelStatus {
        role: role.into(),
        file: f.file.clone(),
        sha256: f.sha256.clone(),
        backend: backend.to_string(),
    };
    let config = state.engine.config();
    let threshold = state.config.match_threshold;
    Json(StatusResponse {
        version: env!("CARGO_PKG_VERSION").into(),
        pipeline: crate::version::pipeline_fingerprint().into(),
        pack: PackStatus {
            name: m.name.clone(),
            description: m.description.clone(),
            licence: m.licence.clone(),
            source: pack.source.clone(),
            models: vec![
                model("detector", &m.detector.model, m.detector.backend),
                model("embedder", &m.embedder.model, m.embedder.backend),
            ],
        },
        calibration: m.calibration.as_ref().map(|c| CalibrationStatus {
            dataset: c.dataset.clone(),
            impostor_pairs: c.impostor_pairs,
            genuine_pairs: c.genuine_pairs,
            confidence: c.confidence,
            points: threshold_table(m),
        }),
        match_threshold_score: threshold,
        match_threshold_fmr: fmr_of_score(threshold),
        identify_fmr: state.config.identify_fmr,
        gallery_faces: state.gallery.len(),
        photos_kept: state.config.photo_key.is_some(),
        engine: EngineStatus {
            workers: config.workers,
            intra_threads: config.intra_threads,
            queue: state.engine.queue_len(),
            queue_depth: config.queue_depth,
        },
    })
}

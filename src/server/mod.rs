//! The HTTP server. Routes only call the engine (never a model session); errors are mapped to HTTP
//! status in one place (`error.rs`) and each API builds its own body shape from them.
pub mod auth;
pub mod cashfree;
pub mod console;
pub mod crops;
pub mod dialect;
pub mod didit;
pub mod error;
pub mod faceki;
pub mod follow;
pub mod form;
pub mod health;
pub mod listen;
pub mod metrics;
pub mod native;
pub mod openapi;
pub mod service;
pub mod shed;
pub mod status;
pub mod subjects;
pub mod valify;
pub mod videosdk;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use tower::ServiceExt;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::defaults;
use crate::engine::{Analysis, Depth, Engine};
use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request body, in bytes (both images plus form overhead).
    pub max_body_bytes: usize,
    /// Largest single image, in bytes, after base64 decoding.
    pub max_upload_bytes: usize,
    /// Default decision threshold on the calibrated score.
    pub match_threshold: f32,
    /// Externally visible base URL for links in responses (Didit's crop URLs); else taken from
    /// the request's Host header.
    pub public_url: Option<String>,
    /// Didit's documented minimum side (480 px): smaller photos are compared with a warning,
    /// or refused with 400 when `didit_enforce_min_side` is set.
    pub didit_min_side: u32,
    pub didit_enforce_min_side: bool,
    /// Cashfree rate limits, requests per minute (0: none): per client IP and per client id.
    pub cashfree_rate_per_ip: u32,
    pub cashfree_rate_per_operation: u32,
    /// Cashfree's two-factor "Public Key" mode: when set, `x-cf-signature` is required.
    pub cashfree_signature_key: Option<Arc<cashfree::SignatureKey>>,
    /// Default false-match rate of a whole 1:N search (the false-positive identification rate):
    /// FACEKI's face-check and `/v1/identify` decide at it. 1e-3 is the operating point NIST's
    /// FRVT 1:N reports use.
    pub identify_fmr: f64,
    /// Keep enrolled photos, encrypted with this key; without it no photo is stored.
    pub photo_key: Option<Arc<crate::photos::PhotoKey>>,
    /// A second face counts as another person when its box covers at least this share of the
    /// chosen face's ([`crate::Analysis::prominent_faces`]).
    pub prominent_face_share: f32,
    /// Connection timeouts and cap.
    pub conn: listen::ConnLimits,
    /// How often the gallery follows a shared database's log ([`crate::defaults::GALLERY_SYNC_MS`]).
    pub gallery_sync: std::time::Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: defaults::MAX_BODY_BYTES,
            max_upload_bytes: defaults::MAX_UPLOAD_BYTES,
            match_threshold: defaults::MATCH_THRESHOLD,
            public_url: None,
            didit_min_side: defaults::DIDIT_MIN_SIDE,
            didit_enforce_min_side: false,
            cashfree_rate_per_ip: 0,
            cashfree_rate_per_operation: 0,
            cashfree_signature_key: None,
            identify_fmr: defaults::IDENTIFY_FMR,
            photo_key: None,
            prominent_face_share: defaults::PROMINENT_FACE_SHARE,
            conn: listen::ConnLimits::default(),
            gallery_sync: std::time::Duration::from_millis(defaults::GALLERY_SYNC_MS),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub config: Arc<ServerConfig>,
    pub store: Arc<dyn crate::store::Store>,
    pub crops: Arc<crops::CropCache>,
    pub cashfree_limits: Arc<cashfree::RateLimits>,
    /// Enrolled faces of the engine's embedding model, in memory for 1:N search.
    pub gallery: Arc<crate::gallery::Gallery>,
    /// The last deep readiness check (`/ready`).
    pub probes: Arc<health::ProbeCache>,
}

impl AppState {
    /// The state, with the enrolled faces loaded from the store into the gallery.
    pub fn try_new(engine: Arc<Engine>, store: Arc<dyn crate::store::Store>, config: ServerConfig) -> crate::store::StoreResult<AppState> {
        let cashfree_limits = Arc::new(cashfree::RateLimits::new(config.cashfree_rate_per_ip, config.cashfree_rate_per_operation));
        let manifest = &engine.pack().manifest;
        let gallery = Arc::new(crate::gallery::Gallery::new(manifest.embedder.dim));
        let model = manifest.embedding_model_id();
        follow::load_and_follow(&store, &gallery, &model, config.gallery_sync)?;
        for (other, n) in store.face_models()?.into_iter().filter(|(m, _)| *m != model) {
            tracing::warn!(model = %other, faces = n, current = %model, "enrolled faces of another embedding model are not searched: enroll them again");
        }
        Ok(AppState {
            engine,
            config: Arc::new(config),
            store,
            crops: Arc::new(crops::CropCache::default()),
            cashfree_limits,
            gallery,
            probes: Arc::default(),
        })
    }

    /// [`AppState::try_new`] for tests and embedding: panics when the store cannot be read.
    pub fn new(engine: Arc<Engine>, store: Arc<dyn crate::store::Store>, config: ServerConfig) -> AppState {
        match Self::try_new(engine, store, config) {
            Ok(s) => s,
            Err(e) => panic!("cannot load the enrolled faces: {e}"),
        }
    }
}

/// Every documented route, registered with its OpenAPI description so the two cannot drift apart.
/// Aliases (trailing slash or not, Valify's v1 path) are added undocumented in [`router`].
pub(crate) fn documented_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(native::compare))
        .routes(routes!(native::detect))
        .routes(routes!(native::embed))
        .routes(routes!(cashfree::face_match))
        .routes(routes!(videosdk::verify))
        .routes(routes!(valify::token))
        .routes(routes!(valify::face_match))
        .routes(routes!(didit::token))
        .routes(routes!(didit::face_match_v2))
        .routes(routes!(didit::face_match_v3))
        .routes(routes!(subjects::enroll, subjects::list))
        .routes(routes!(subjects::get, subjects::patch, subjects::delete))
        .routes(routes!(subjects::add_face))
        .routes(routes!(subjects::photo))
        .routes(routes!(subjects::identify))
        .routes(routes!(faceki::token))
        .routes(routes!(faceki::face_check))
        .routes(routes!(crops::serve_crop))
        .routes(routes!(metrics::render))
        .routes(routes!(health::health))
        .routes(routes!(health::ready))
        .routes(routes!(status::status))
}

pub fn router(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    metrics::handle();
    let (documented, _) = documented_routes().split_for_parts();
    let routes = documented
        .route("/api/v1/face/match/", post(valify::face_match))
        .route("/getToken", get(faceki::token))
        .route("/openapi.json", get(openapi::json))
        .route("/docs", get(openapi::docs))
        .merge(console::routes());
    // A path that matches nothing is tried once more with its trailing slash toggled (vendors'
    // clients write `/v2/face-match` and `/v2/face-match/` alike); what still matches nothing is a
    // 404 in the shape of the API whose path it shares.
    let strict = routes.clone().fallback(not_found).with_state(state.clone());
    routes
        .fallback_service(tower::service_fn(move |req: Request| {
            let strict = strict.clone();
            async move { strict.oneshot(with_slash_toggled(req)).await }
        }))
        .layer(axum::middleware::from_fn_with_state(state.clone(), shed::shed))
        .layer(axum::middleware::from_fn(dialect::in_shape))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// The request with its path's trailing slash removed, or added when it had none.
fn with_slash_toggled(mut req: Request) -> Request {
    let uri = req.uri();
    let path = uri.path();
    let toggled = match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p.to_string(),
        Some(_) => return req,
        None => format!("{path}/"),
    };
    let pq = match uri.query() {
        Some(q) => format!("{toggled}?{q}"),
        None => toggled,
    };
    if let Ok(pq) = axum::http::uri::PathAndQuery::try_from(pq) {
        let mut parts = uri.clone().into_parts();
        parts.path_and_query = Some(pq);
        if let Ok(u) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = u;
        }
    }
    req
}

/// A 404 in the error shape of the API whose path prefix the request shares (native otherwise).
async fn not_found(uri: axum::http::Uri) -> Response {
    dialect::Api::of_path(uri.path()).not_found(uri.path())
}

/// Runs one analysis on the engine's inference threads without blocking the async runtime;
/// [`Error::Busy`] at once when the engine's queue is full.
pub async fn analyse(engine: &Engine, bytes: Vec<u8>, depth: Depth) -> Result<Analysis> {
    let mut all = analyse_all(engine, vec![bytes], depth).await?;
    all.pop().unwrap_or(Err(Error::Shutdown))
}

/// Both images analysed at once (two inference workers when there are two), admitted together:
/// both take a queue slot or the request is refused at once with [`Error::Busy`].
pub async fn analyse_pair(engine: &Engine, a: Vec<u8>, b: Vec<u8>) -> Result<(Result<Analysis>, Result<Analysis>)> {
    let mut all = analyse_all(engine, vec![a, b], Depth::Likeness).await?.into_iter();
    match (all.next(), all.next()) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(Error::Shutdown),
    }
}

/// Queues every image at once or none. Work not started within [`defaults::QUEUE_WAIT_SECS`], or
/// whose caller went away (this future dropped: the client hung up), is dropped unrun.
async fn analyse_all(engine: &Engine, images: Vec<Vec<u8>>, depth: Depth) -> Result<Vec<Result<Analysis>>> {
    let n = images.len();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let wait = std::time::Duration::from_secs(defaults::QUEUE_WAIT_SECS);
    let _ticket = engine.try_analyse_all(images, depth, wait, move |i, r| drop(tx.send((i, r))))?;
    let mut out: Vec<Option<Result<Analysis>>> = (0..n).map(|_| None).collect();
    for _ in 0..n {
        let (i, r) = rx.recv().await.ok_or(Error::Shutdown)?;
        if let Ok(a) = &r {
            metrics::record_analysis(a);
        }
        out[i] = Some(r);
    }
    Ok(out.into_iter().map(|r| r.unwrap_or(Err(Error::Shutdown))).collect())
}

/// Runs a state-store call on the blocking pool (SQLite waits on the disk). A failure is logged here
/// and comes back as [`ApiError::internal`], which each API words in its own error shape.
pub async fn store_call<T: Send + 'static>(
    f: impl FnOnce() -> crate::store::StoreResult<T> + Send + 'static,
) -> std::result::Result<T, error::ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e @ crate::store::StoreError::KeyReused)) => {
            Err(error::ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused", e.to_string()))
        }
        Ok(Err(e @ crate::store::StoreError::KeyTargetGone)) => {
            Err(error::ApiError::new(axum::http::StatusCode::CONFLICT, "idempotency_key_target_deleted", e.to_string()))
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "state store");
            Err(error::ApiError::internal())
        }
        Err(_) => {
            tracing::error!("a state-store task panicked");
            Err(error::ApiError::internal())
        }
    }
}

/// Serves until Ctrl-C or SIGTERM, then stops accepting and lets requests in flight finish.
/// Connections are bounded by `state.config.conn` ([`listen`]).
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    let limits = state.config.conn;
    listen::serve_until(listener, state, limits, shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

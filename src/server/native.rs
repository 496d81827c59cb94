//! facematch's own API: `POST /v1/compare`, `/v1/detect`, `/v1/embed`. Images come as JSON base64
//! fields (`image_a`, `image_b`, or `image`; a `data:image/...;base64,` prefix is accepted) or as
//! multipart file fields of the same names. Errors: `{"error": {"code", "message"}}`.
use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::error::ApiError;
use super::form::{self, FormError};
use super::service::{self, CompareError};
use super::{analyse, auth, AppState};
use crate::calibration::{fmr_of_score, score_of_fmr};
use crate::engine::{Analysis, Depth};
use crate::image_input::decode_base64_image;

/// Text fields are short: thresholds and names, never images.
const MAX_TEXT_FIELD: usize = 256;
/// A subject's KYC record (JSON), serialized.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

fn text_limit(name: &str) -> usize {
    if name == "record" {
        MAX_RECORD_BYTES
    } else {
        MAX_TEXT_FIELD
    }
}

/// The native error body.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code: `missing_image`, `invalid_base64`, `invalid_image`,
    /// `image_too_large`, `no_face`, `busy`, ...
    pub code: String,
    pub message: String,
}

/// `POST /v1/compare` as JSON (multipart takes the same names, images as file parts).
#[derive(ToSchema)]
#[allow(dead_code)] // documentation of the request: bodies are read field by field (JSON or multipart)
pub struct CompareRequest {
    /// Base64 image (JPEG, PNG, WebP, ...), optionally with a `data:image/...;base64,` prefix.
    image_a: String,
    image_b: String,
    /// Decide at this false-match rate (0 < fmr < 1) ...
    fmr: Option<f64>,
    /// ... or at this calibrated score (0..1); default: the server's threshold.
    threshold: Option<f64>,
}

/// `POST /v1/detect` and `/v1/embed` as JSON (multipart: a file part named `image`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ImageRequest {
    /// Base64 image, optionally with a `data:image/...;base64,` prefix.
    image: String,
}

#[derive(Serialize, ToSchema)]
pub struct UsedFace {
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    pub landmarks: [[f32; 2]; 5],
    pub score: f32,
    /// The face came from the low-confidence fallback (a profile or degraded face).
    pub low_confidence: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ImageReport {
    pub width: u32,
    pub height: u32,
    /// Faces found, largest first.
    pub faces: Vec<crate::detect::Face>,
    pub face_count: usize,
    /// Faces a person would count: the used face plus every other face whose box covers at least
    /// the server's `--prominent-face-share` of it (a document's ghost portrait or a head cut off in
    /// the background is not counted; `faces` still lists it).
    pub prominent_faces: usize,
    /// The face the comparison used (the largest), if any.
    pub used_face: Option<UsedFace>,
    pub timings_ms: crate::engine::StageTimings,
}

#[derive(Serialize, ToSchema)]
pub struct Decision {
    /// Calibrated score at or above which `match` is true.
    pub threshold_score: f32,
    /// The false-match rate that threshold stands for.
    pub threshold_fmr: f64,
}

#[derive(Serialize, ToSchema)]
pub struct ThresholdPoint {
    pub fmr: f64,
    pub cosine: f32,
    pub score: f32,
    /// Beyond the calibration data: fitted, not measured.
    pub extrapolated: bool,
    /// Share of the calibration set's genuine pairs accepted at this threshold (null where the
    /// pack's table does not record it).
    pub tar: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct CompareResponse {
    /// Cosine similarity of the two faces' embeddings.
    pub similarity: f32,
    /// Calibrated score, -log10(FMR)/6 clamped to 0..1 (null when the pack is uncalibrated).
    pub score: Option<f32>,
    /// Estimated false-match rate of a similarity this high between different people.
    pub fmr: Option<f64>,
    pub fmr_extrapolated: Option<bool>,
    #[serde(rename = "match")]
    pub is_match: Option<bool>,
    pub decision: Decision,
    /// The pack's calibration: cosine and score at each false-match rate.
    pub thresholds: Vec<ThresholdPoint>,
    pub pack: String,
    pub image_a: ImageReport,
    pub image_b: ImageReport,
}

#[derive(Serialize, ToSchema)]
pub struct DetectResponse {
    pub faces: Vec<crate::detect::Face>,
    pub width: u32,
    pub height: u32,
    pub timings_ms: crate::engine::StageTimings,
}

#[derive(Serialize, ToSchema)]
pub struct EmbedResponse {
    /// Unit-length embedding of the largest face.
    pub embedding: Vec<f32>,
    pub dim: usize,
    pub pack: String,
    pub image: ImageReport,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r =
            (self.status, Json(ErrorBody { error: ErrorDetail { code: self.code.to_string(), message: self.message } })).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        r
    }
}

/// A native client: `Authorization: Bearer <key>` or `x-api-key: <key>`, where the key is a `native`
/// client's secret (`facematch clients add --scheme native`). Holds the client id.
pub struct NativeClient(pub String);

impl FromRequestParts<AppState> for NativeClient {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid API key is required (Authorization: Bearer <key> or x-api-key)",
            )
        };
        let key = auth::bearer(&parts.headers).or_else(|| auth::header(&parts.headers, "x-api-key")).ok_or_else(unauthorized)?.to_string();
        let store = state.store.clone();
        super::store_call(move || store.client_by_secret("native", &key)).await?.ok_or_else(unauthorized).map(NativeClient)
    }
}

/// The request's images and text fields, from JSON or multipart.
pub struct Fields {
    pub images: HashMap<String, Vec<u8>>,
    pub text: HashMap<String, String>,
}

impl Fields {
    /// SHA-256 of the route and every field (names and values, in name order): what makes two
    /// requests "the same" for an `Idempotency-Key`.
    pub fn fingerprint(&self, route: &str) -> String {
        let mut images: Vec<_> = self.images.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
        images.sort();
        let mut text: Vec<_> = self.text.iter().map(|(k, v)| (k.as_str(), v.as_bytes())).collect();
        text.sort();
        fingerprint(route, images.into_iter().chain(text))
    }
}

/// SHA-256 of a route and named values, each length-prefixed (so no two lists hash alike).
pub fn fingerprint<'a>(route: &'a str, fields: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (name, value) in std::iter::once(("route", route.as_bytes())).chain(fields) {
        for part in [name.as_bytes(), value] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
    }
    hex::encode(h.finalize())
}

pub(crate) async fn read_fields(state: &AppState, req: Request, image_names: &[&str]) -> Result<Fields, ApiError> {
    read_body(req, image_names, state.config.max_upload_bytes).await
}

/// The native reader of a request body (JSON or multipart), images bounded by `max` bytes.
pub async fn read_body(req: Request, image_names: &[&str], max: usize) -> Result<Fields, ApiError> {
    let (images, text) = if form::is_multipart(req.headers()) {
        let f = form::read(req, image_names, max, text_limit).await.map_err(|e| match e {
            FormError::BodyTooLarge | FormError::FileTooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "image_too_large", e.to_string())
            }
            FormError::TextTooLong { .. } => ApiError::bad_request("field_too_long", e.to_string()),
            FormError::NotMultipart | FormError::Malformed => ApiError::bad_request("invalid_multipart", e.to_string()),
        })?;
        (f.files, f.text)
    } else {
        let is_json =
            req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.to_ascii_lowercase().contains("json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_json",
                "expected `Content-Type: application/json` or `multipart/form-data`",
            ));
        }
        let body = axum::body::Bytes::from_request(req, &()).await.map_err(|e| ApiError::new(e.status(), "invalid_json", e.body_text()))?;
        json_fields(&body, image_names, max)?
    };
    for name in image_names {
        if !images.contains_key(*name) {
            return Err(ApiError::bad_request("missing_image", format!("`{name}` is required")));
        }
    }
    Ok(Fields { images, text })
}

type FieldMaps = (HashMap<String, Vec<u8>>, HashMap<String, String>);

/// A JSON body's images (base64, decoded) and text fields. Parsed in place: image strings are
/// base64-decoded straight from the body, not copied into a JSON tree first (a large photo's body
/// would otherwise be held twice).
pub fn json_fields(body: &[u8], image_names: &[&str], max: usize) -> Result<FieldMaps, ApiError> {
    let (mut images, mut text) = (HashMap::new(), HashMap::new());
    let obj: HashMap<std::borrow::Cow<'_, str>, &serde_json::value::RawValue> =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request("invalid_json", format!("the body must be a JSON object ({e})")))?;
    for (k, raw) in obj {
        let k = k.as_ref();
        if image_names.contains(&k) {
            let owned: String;
            let s = match serde_json::from_str::<&str>(raw.get()) {
                Ok(s) => s,
                // Escapes (e.g. `\/`) need an owned copy; anything else is not a string.
                Err(_) => {
                    owned = serde_json::from_str::<String>(raw.get())
                        .map_err(|_| ApiError::bad_request("invalid_field", format!("{k}: must be a base64 string")))?;
                    &owned
                }
            };
            let bytes = decode_base64_image(s, max).map_err(|e| {
                let mut a = ApiError::from(e);
                a.message = format!("{k}: {}", a.message);
                a
            })?;
            images.insert(k.to_string(), bytes);
        } else {
            text.insert(k.to_string(), text_value(k, raw)?);
        }
    }
    Ok((images, text))
}

/// A non-image JSON field as text. A field of the wrong type is refused, never read as absent: a
/// caller who sent `"fmr": [1e-6]` must not get a decision at the default.
fn text_value(k: &str, raw: &serde_json::value::RawValue) -> Result<String, ApiError> {
    let wrong = || {
        let expected = if k == "record" { "a JSON object" } else { "a string or a number" };
        ApiError::bad_request("invalid_field", format!("{k}: must be {expected}"))
    };
    let v: Value = serde_json::from_str(raw.get()).map_err(|_| wrong())?;
    let s = match &v {
        Value::Object(_) if k == "record" => v.to_string(),
        _ if k == "record" => return Err(wrong()),
        Value::String(s) => s.clone(),
        Value::Number(n) if n.as_f64().is_some_and(f64::is_finite) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return Err(wrong()),
    };
    if s.len() > text_limit(k) {
        return Err(ApiError::bad_request("field_too_long", format!("{k}: at most {} bytes", text_limit(k))));
    }
    Ok(s)
}

pub(crate) fn used_face(a: &Analysis) -> Option<UsedFace> {
    a.chosen.map(|c| UsedFace { bbox: c.face.bbox, landmarks: c.face.landmarks, score: c.face.score, low_confidence: c.low_confidence })
}

fn image_report(a: &Analysis, prominent: usize) -> ImageReport {
    ImageReport {
        width: a.width,
        height: a.height,
        faces: a.faces.clone(),
        face_count: a.face_count(),
        prominent_faces: prominent,
        used_face: used_face(a),
        timings_ms: a.timings,
    }
}

/// The analysis of an uploaded image (to `depth`) and the embedding of its largest face; 422
/// `no_face` without one.
pub(crate) async fn embed_upload(state: &AppState, bytes: Vec<u8>, name: &str, depth: Depth) -> Result<(Analysis, Vec<f32>), ApiError> {
    let mut a = analyse(&state.engine, bytes, depth).await.map_err(|e| ApiError::for_image(&e, name))?;
    match a.embedding.take() {
        Some(e) => Ok((a, e)),
        None => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "no_face", format!("{name}: no face was found in the image"))),
    }
}

/// The photos' field names.
const IMAGE_NAMES: [&str; 2] = ["image_a", "image_b"];

/// The native dialect of a failed comparison: the engine error's status and code, the photo named.
impl From<CompareError> for ApiError {
    fn from(e: CompareError) -> ApiError {
        ApiError::for_image(&e.error, e.slot.name((IMAGE_NAMES[0], IMAGE_NAMES[1])))
    }
}

/// The pack's calibration as a table: cosine and score at each false-match rate.
pub fn threshold_table(manifest: &crate::manifest::Manifest) -> Vec<ThresholdPoint> {
    let points = manifest.calibration.iter().flat_map(|k| k.points.iter());
    points
        .map(|p| ThresholdPoint { fmr: p.fmr, cosine: p.cosine, score: score_of_fmr(p.fmr), extrapolated: p.extrapolated, tar: p.tar })
        .collect()
}

/// The decision threshold on the calibrated score: `fmr` (a false-match rate) or `threshold` (a
/// score) from the request, else the server's default.
pub fn decision_threshold(fields: &Fields, default: f32) -> Result<f32, ApiError> {
    let parse = |k: &str| -> Result<Option<f64>, ApiError> {
        match fields.text.get(k) {
            None => Ok(None),
            Some(s) => {
                s.trim().parse::<f64>().map(Some).map_err(|_| ApiError::bad_request("invalid_field", format!("{k}: must be a number")))
            }
        }
    };
    if let Some(fmr) = parse("fmr")? {
        if !(fmr > 0.0 && fmr < 1.0) {
            return Err(ApiError::bad_request("invalid_field", "fmr: must lie strictly between 0 and 1"));
        }
        return Ok(score_of_fmr(fmr));
    }
    if let Some(t) = parse("threshold")? {
        if !(0.0..=1.0).contains(&t) {
            return Err(ApiError::bad_request("invalid_field", "threshold: a calibrated score between 0 and 1"));
        }
        return Ok(t as f32);
    }
    Ok(default)
}

/// Compare the largest face of two images.
#[utoipa::path(post, path = "/v1/compare", tag = "native",
    request_body(content((CompareRequest = "application/json"), (CompareRequest = "multipart/form-data"))),
    security(("api_key" = [])),
    responses(
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 200, description = "Both images hold a face", body = CompareResponse),
        (status = 400, description = "Missing image, bad base64, undecodable image, bad field", body = ErrorBody),
        (status = 413, description = "An image or the body is too large", body = ErrorBody),
        (status = 422, description = "No face in an image (`no_face`)", body = ErrorBody),
        (status = 503, description = "Busy: the inference queue is full (Retry-After: 1)", body = ErrorBody),
    ))]
pub async fn compare(State(state): State<AppState>, _: NativeClient, req: Request) -> Result<Json<CompareResponse>, ApiError> {
    let mut fields = read_fields(&state, req, &IMAGE_NAMES).await?;
    let threshold = decision_threshold(&fields, state.config.match_threshold)?;
    let a = fields.images.remove(IMAGE_NAMES[0]).unwrap_or_default();
    let b = fields.images.remove(IMAGE_NAMES[1]).unwrap_or_default();
    let pair = service::compare(&state, a, b).await?;
    let scored = pair.require_faces()?;
    let similarity = scored.similarity;
    let cal = scored.calibrated;
    let manifest = &state.engine.pack().manifest;
    let thresholds = threshold_table(manifest);
    Ok(Json(CompareResponse {
        similarity,
        score: cal.map(|k| k.score),
        fmr: cal.map(|k| k.fmr),
        fmr_extrapolated: cal.map(|k| k.extrapolated),
        is_match: cal.map(|k| k.score >= threshold),
        decision: Decision { threshold_score: threshold, threshold_fmr: fmr_of_score(threshold) },
        thresholds,
        pack: manifest.name.clone(),
        image_a: image_report(&pair.a.analysis, pair.a.prominent),
        image_b: image_report(&pair.b.analysis, pair.b.prominent),
    }))
}

/// Detect faces: boxes, scores and five landmarks, largest first.
#[utoipa::path(post, path = "/v1/detect", tag = "native",
    request_body(content((ImageRequest = "application/json"), (ImageRequest = "multipart/form-data"))),
    security(("api_key" = [])),
    responses(
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 200, description = "Faces found (possibly none)", body = DetectResponse),
        (status = 400, description = "Missing image, bad base64, undecodable image", body = ErrorBody),
        (status = 413, description = "Too large", body = ErrorBody),
        (status = 503, description = "Busy", body = ErrorBody),
    ))]
pub async fn detect(State(state): State<AppState>, _: NativeClient, req: Request) -> Result<Json<DetectResponse>, ApiError> {
    let mut fields = read_fields(&state, req, &["image"]).await?;
    let a = analyse(&state.engine, fields.images.remove("image").unwrap_or_default(), Depth::Faces)
        .await
        .map_err(|e| ApiError::for_image(&e, "image"))?;
    Ok(Json(DetectResponse { faces: a.faces, width: a.width, height: a.height, timings_ms: a.timings }))
}

/// Embed the largest face (unit-length vector of the pack's embedder).
#[utoipa::path(post, path = "/v1/embed", tag = "native",
    request_body(content((ImageRequest = "application/json"), (ImageRequest = "multipart/form-data"))),
    security(("api_key" = [])),
    responses(
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 200, description = "The largest face's embedding", body = EmbedResponse),
        (status = 400, description = "Missing image, bad base64, undecodable image", body = ErrorBody),
        (status = 413, description = "Too large", body = ErrorBody),
        (status = 422, description = "No face", body = ErrorBody),
        (status = 503, description = "Busy", body = ErrorBody),
    ))]
pub async fn embed(State(state): State<AppState>, _: NativeClient, req: Request) -> Result<Json<EmbedResponse>, ApiError> {
    let mut fields = read_fields(&state, req, &["image"]).await?;
    // The report counts prominent faces, which needs the others' likeness.
    let (a, embedding) = embed_upload(&state, fields.images.remove("image").unwrap_or_default(), "image", Depth::Likeness).await?;
    let image = image_report(&a, state.engine.prominent_faces(&a, state.config.prominent_face_share));
    Ok(Json(EmbedResponse { dim: embedding.len(), embedding, pack: state.engine.pack().manifest.name.clone(), image }))
}

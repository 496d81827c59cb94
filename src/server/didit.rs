//! Didit Face Match (`didit-face-match.md` for v2, NOTES.md for v3).
//! v2: `POST /v2/face-match/`, `Authorization: Bearer` from `POST /auth/v2/token/` (Basic client
//! credentials, `grant_type=client_credentials`); multipart `user_image`, `ref_image`, `options`
//! (JSON string: `face_match_score_decline_threshold`, and facematch's
//! `face_match_score_review_threshold` for `In Review`). v3: `POST /v3/face-match/`, `x-api-key`;
//! the threshold as a form field plus `rotate_image`, `save_api_request`, `vendor_data`, `metadata`.
//! Errors `{"detail": "..."}`: 400 request, 401 wrong / revoked / expired credentials, 403 none sent.
use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::form::{self, FormError};
use super::service::{self, CompareError, Pair};
use super::{auth, crops, AppState};
use crate::engine::Analysis;
use crate::error::ErrorKind;
use crate::score::vendor;
use crate::store::{iso_now, StoreError};

pub const TOKEN_TTL_SECS: i64 = 24 * 3600;
pub const API_KEY_TTL_SECS: i64 = 10 * 365 * 24 * 3600;
const FORMATS: &str = "Invalid image format. Supported formats: JPEG, PNG, WebP.";

/// Didit's multipart request (v2: `options` JSON; v3: the threshold and flags as fields).
#[derive(ToSchema)]
#[allow(dead_code)] // documentation of the request
pub struct DiditFaceMatchRequest {
    /// JPEG, PNG or WebP.
    #[schema(value_type = String, format = Binary)]
    user_image: Vec<u8>,
    #[schema(value_type = String, format = Binary)]
    ref_image: Vec<u8>,
    /// v2: JSON string `{"face_match_score_decline_threshold": 0-100 (default 30),
    /// "face_match_score_review_threshold": 0-100}`.
    options: Option<String>,
    /// v3 only: 0-100, default 30.
    face_match_score_decline_threshold: Option<String>,
    /// v3 only.
    rotate_image: Option<bool>,
    save_api_request: Option<bool>,
    vendor_data: Option<String>,
    /// v3 only: a JSON object.
    metadata: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DiditWarning {
    /// `LOW_FACE_MATCH_SIMILARITY`, `NO_REFERENCE_IMAGE`, `MULTIPLE_FACES_DETECTED`, `LOW_IMAGE_RESOLUTION`, ...
    pub risk: String,
    #[schema(value_type = Option<Object>)]
    pub additional_data: Option<Value>,
    pub log_type: String,
    pub short_description: String,
    pub long_description: String,
}

#[derive(Serialize, ToSchema)]
pub struct DiditV2FaceMatch {
    /// `Approved`, `In Review` or `Declined`.
    pub status: String,
    /// 0-100, two decimals (rounded down); 30 stands for the deployment's decision point (README,
    /// "Vendor scores"); null when a face is missing.
    pub score: Option<f64>,
    /// URL of the aligned user face crop (expires after 60 minutes).
    pub source_image: Option<String>,
    pub target_image: Option<String>,
    pub warnings: Vec<DiditWarning>,
}

#[derive(Serialize, ToSchema)]
pub struct DiditV2Response {
    pub request_id: String,
    pub face_match: DiditV2FaceMatch,
    /// ISO 8601.
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct DiditEntity {
    pub bbox: [i64; 4],
    pub confidence: f32,
}

#[derive(Serialize, ToSchema)]
pub struct DiditImageEntities {
    pub entities: Vec<DiditEntity>,
    pub best_angle: i64,
}

#[derive(Serialize, ToSchema)]
pub struct DiditV3FaceMatch {
    pub status: String,
    /// 0-100; null when a face is missing (0 when `save_api_request` is false).
    #[schema(value_type = Option<f64>)]
    pub score: Value,
    pub user_image: DiditImageEntities,
    pub ref_image: DiditImageEntities,
    pub warnings: Vec<DiditWarning>,
}

#[derive(Serialize, ToSchema)]
pub struct DiditV3Response {
    pub request_id: String,
    pub face_match: DiditV3FaceMatch,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct DiditTokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
}

#[derive(Serialize, ToSchema)]
pub struct DiditErrorBody {
    pub detail: String,
}

pub struct DiditError(StatusCode, String);

impl IntoResponse for DiditError {
    fn into_response(self) -> Response {
        (self.0, Json(DiditErrorBody { detail: self.1 })).into_response()
    }
}

/// A request the framework refused before the handler ran, in Didit's shape.
pub fn refused(status: StatusCode, message: String) -> DiditError {
    DiditError(status, message)
}

/// A path under Didit's prefixes that no route serves (Django REST framework's 404).
pub fn not_found() -> DiditError {
    detail(StatusCode::NOT_FOUND, "Not found.")
}

fn detail(status: StatusCode, m: impl Into<String>) -> DiditError {
    DiditError(status, m.into())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, StoreError> + Send + 'static) -> Result<T, DiditError> {
    super::store_call(f).await.map_err(|_| detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error."))
}

/// `POST /auth/v2/token/`: `Authorization: Basic base64(client_id:client_secret)`, form
/// `grant_type=client_credentials` → `{"access_token", "token_type", "expires_in"}` (24 h).
#[utoipa::path(post, path = "/auth/v2/token/", tag = "didit",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`grant_type=client_credentials`"),
    params(("Authorization" = String, Header, description = "`Basic base64(client_id:client_secret)`")),
    responses((status = 200, body = DiditTokenResponse), (status = 400, body = DiditErrorBody), (status = 401, body = DiditErrorBody)))]
pub async fn token(State(state): State<AppState>, req: Request) -> Response {
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .map(str::trim)
        .map(str::to_string);
    let axum::Form(form): axum::Form<HashMap<String, String>> = match axum::Form::from_request(req, &()).await {
        Ok(f) => f,
        Err(_) => return detail(StatusCode::BAD_REQUEST, "grant_type must be client_credentials.").into_response(),
    };
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return detail(StatusCode::BAD_REQUEST, "grant_type must be client_credentials.").into_response();
    }
    let creds = basic
        .filter(|b| b.len() <= 1024)
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(a, b)| (a.to_string(), b.to_string())));
    let Some((id, secret)) = creds else {
        return detail(StatusCode::UNAUTHORIZED, "Invalid client credentials.").into_response();
    };
    let store = state.store.clone();
    let result = blocking(move || {
        if !store.check_client("didit", &id, &secret)? {
            return Ok(None);
        }
        store.issue_token("didit", &id, "access", TOKEN_TTL_SECS).map(Some)
    })
    .await;
    match result {
        Ok(Some(t)) => {
            Json(DiditTokenResponse { access_token: t, token_type: "Bearer".into(), expires_in: TOKEN_TTL_SECS }).into_response()
        }
        Ok(None) => detail(StatusCode::UNAUTHORIZED, "Invalid client credentials.").into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Version {
    V2,
    V3,
}

fn invalid_credentials() -> DiditError {
    detail(StatusCode::UNAUTHORIZED, "Invalid or expired credentials.")
}

/// Checks a credential of `kind` against the store.
async fn check(state: &AppState, kind: &'static str, value: &str) -> Result<(), DiditError> {
    let (store, value) = (state.store.clone(), value.to_string());
    match blocking(move || store.check_token("didit", kind, &value)).await? {
        Some(_) => Ok(()),
        None => Err(invalid_credentials()),
    }
}

/// A v2 caller: `Authorization: Bearer <access token>`; missing or wrong → 401, as the v2 doc says.
pub struct DiditV2Client;

impl FromRequestParts<AppState> for DiditV2Client {
    type Rejection = DiditError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, DiditError> {
        let token = auth::bearer(&parts.headers)
            .ok_or_else(|| detail(StatusCode::UNAUTHORIZED, "Authentication credentials were not provided."))?;
        check(state, "access", token).await.map(|_| DiditV2Client)
    }
}

/// A v3 caller: `x-api-key`; none sent → 403, wrong → 401 (v3's published rules).
pub struct DiditV3Client;

impl FromRequestParts<AppState> for DiditV3Client {
    type Rejection = DiditError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, DiditError> {
        let key = auth::header(&parts.headers, "x-api-key")
            .ok_or_else(|| detail(StatusCode::FORBIDDEN, "Authentication credentials were not provided."))?;
        check(state, "api_key", key).await.map(|_| DiditV3Client)
    }
}

fn allowed_format(b: &[u8], v: Version) -> bool {
    match image::guess_format(b) {
        Ok(image::ImageFormat::Jpeg | image::ImageFormat::Png | image::ImageFormat::WebP) => true,
        Ok(image::ImageFormat::Tiff) => v == Version::V3,
        _ => false,
    }
}

/// The photos' field names.
const IMAGES: (&str, &str) = ("user_image", "ref_image");

struct Photos {
    user: Vec<u8>,
    reference: Vec<u8>,
}

fn too_large(max: usize) -> DiditError {
    detail(StatusCode::BAD_REQUEST, format!("Image file too large. Maximum size is {}MB.", max / (1024 * 1024)))
}

async fn read_form(state: &AppState, req: Request, v: Version) -> Result<(Photos, form::Form), DiditError> {
    let max = state.config.max_upload_bytes;
    let mut form = form::read(req, &[IMAGES.0, IMAGES.1], max, |_| form::MAX_TEXT_FIELD).await.map_err(|e| match e {
        FormError::NotMultipart => detail(StatusCode::BAD_REQUEST, "user_image and ref_image are required (multipart/form-data)."),
        FormError::Malformed => detail(StatusCode::BAD_REQUEST, "Malformed multipart body."),
        FormError::BodyTooLarge | FormError::FileTooLarge { .. } => too_large(max),
        FormError::TextTooLong { field, .. } => detail(StatusCode::BAD_REQUEST, format!("{field} is too long.")),
    })?;
    let mut photo = |name: &str| -> Result<Vec<u8>, DiditError> {
        let b = form.files.remove(name).ok_or_else(|| detail(StatusCode::BAD_REQUEST, format!("{name} is required.")))?;
        if !allowed_format(&b, v) {
            return Err(detail(
                StatusCode::BAD_REQUEST,
                if v == Version::V3 { "Invalid image format. Supported formats: TIFF, JPEG, PNG, WebP." } else { FORMATS },
            ));
        }
        Ok(b)
    };
    let user = photo(IMAGES.0)?;
    let reference = photo(IMAGES.1)?;
    Ok((Photos { user, reference }, form))
}

fn threshold_in(v: &Value, name: &str) -> Result<Option<f64>, DiditError> {
    let bad = || detail(StatusCode::BAD_REQUEST, format!("{name} must be a number between 0 and 100."));
    let x = match v {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    x.filter(|x| (0.0..=100.0).contains(x)).map(Some).ok_or_else(bad)
}

fn warning(risk: &str, short: &str, long: &str) -> DiditWarning {
    DiditWarning {
        risk: risk.into(),
        additional_data: None,
        log_type: "warning".into(),
        short_description: short.into(),
        long_description: long.into(),
    }
}

pub(crate) fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(u) = &state.config.public_url {
        return u.trim_end_matches('/').to_string();
    }
    let host =
        headers.get(header::HOST).and_then(|h| h.to_str().ok()).filter(|h| h.len() < 256 && !h.contains(['/', ' '])).unwrap_or("localhost");
    format!("http://{host}")
}

/// Didit's dialect of a failed comparison (a photo without a face is not one: that is a 200
/// `Declined` with `NO_REFERENCE_IMAGE`).
impl From<CompareError> for DiditError {
    fn from(e: CompareError) -> DiditError {
        let name = e.slot.name(IMAGES);
        match e.error.kind() {
            ErrorKind::Busy => detail(StatusCode::TOO_MANY_REQUESTS, "Request was throttled. Expected available in 1 second."),
            ErrorKind::Internal => {
                tracing::error!(error = %e.error, "didit: comparison failed");
                detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error.")
            }
            ErrorKind::InvalidImage | ErrorKind::NoFace => detail(StatusCode::BAD_REQUEST, format!("{name}: {}", e.error)),
        }
    }
}

/// The decline and review thresholds on Didit's 0-100 scale.
struct Thresholds {
    decline: f64,
    review: Option<f64>,
}

struct Outcome {
    status: &'static str,
    score: Option<f64>,
    warnings: Vec<DiditWarning>,
    pair: Pair,
}

fn resolution_warnings(state: &AppState, pair: &Pair, warnings: &mut Vec<DiditWarning>) -> Result<(), DiditError> {
    let min = state.config.didit_min_side;
    for (slot, side) in pair.sides() {
        let (a, name) = (&side.analysis, slot.name(IMAGES));
        if a.width.min(a.height) >= min {
            continue;
        }
        if state.config.didit_enforce_min_side {
            return Err(detail(StatusCode::BAD_REQUEST, format!("{name}: minimum resolution is {min}x{min} pixels.")));
        }
        warnings.push(warning(
            "LOW_IMAGE_RESOLUTION",
            "Image below the recommended resolution",
            &format!("{name} is {}x{} pixels, below the recommended {min}x{min}.", a.width, a.height),
        ));
    }
    Ok(())
}

async fn run(state: &AppState, photos: Photos, t: Thresholds, v: Version) -> Result<Outcome, DiditError> {
    let pair = service::compare(state, photos.user, photos.reference).await?;
    let mut warnings = Vec::new();
    resolution_warnings(state, &pair, &mut warnings)?;
    for (slot, side) in pair.sides() {
        if side.prominent > 1 {
            warnings.push(warning(
                "MULTIPLE_FACES_DETECTED",
                "Multiple faces detected",
                &format!("{} shows {} people; the largest face was used.", slot.name(IMAGES), side.prominent),
            ));
        }
    }
    let Some(scored) = pair.scored else {
        warnings.push(warning(
            "NO_REFERENCE_IMAGE",
            "No face to compare",
            "A face could not be found in one of the images, so no similarity could be computed.",
        ));
        return Ok(Outcome { status: "Declined", score: None, warnings, pair });
    };
    // Decided on the score as printed (rounded down). v2: "below" the threshold declines;
    // v3: "at or below".
    let score = vendor::DIDIT.wire(scored.score, state.config.match_threshold);
    let declined = if v == Version::V2 { score < t.decline } else { score <= t.decline };
    let status = if declined {
        warnings.push(warning(
            "LOW_FACE_MATCH_SIMILARITY",
            "Low face match similarity",
            "The facial features of the provided image don't closely match the reference image, suggesting a potential identity mismatch.",
        ));
        "Declined"
    } else if t.review.is_some_and(|r| score < r) {
        "In Review"
    } else {
        "Approved"
    };
    Ok(Outcome { status, score: Some(score), warnings, pair })
}

fn crop_url(state: &AppState, base: &str, a: &Analysis) -> Option<String> {
    a.aligned.as_ref().and_then(crops::jpeg).map(|j| format!("{base}/didit/images/{}.jpg", state.crops.put(j)))
}

/// Didit v2 face match (also without the trailing slash).
#[utoipa::path(post, path = "/v2/face-match/", tag = "didit",
    request_body(content = DiditFaceMatchRequest, content_type = "multipart/form-data"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Approved, In Review or Declined (also when a face is missing)", body = DiditV2Response),
        (status = 400, body = DiditErrorBody), (status = 401, description = "Missing, invalid or expired token", body = DiditErrorBody),
        (status = 429, description = "Busy", body = DiditErrorBody),
    ))]
pub async fn face_match_v2(State(state): State<AppState>, _: DiditV2Client, req: Request) -> Result<Json<DiditV2Response>, DiditError> {
    let base = base_url(&state, req.headers());
    let (photos, form) = read_form(&state, req, Version::V2).await?;
    let options: Value = match form.text("options").filter(|s| !s.is_empty()) {
        Some(s) => serde_json::from_str(s)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| detail(StatusCode::BAD_REQUEST, "options must be a JSON object."))?,
        None => json!({}),
    };
    let decline = threshold_in(&options["face_match_score_decline_threshold"], "face_match_score_decline_threshold")?
        .unwrap_or(vendor::DIDIT.default_threshold);
    let review = threshold_in(&options["face_match_score_review_threshold"], "face_match_score_review_threshold")?;
    let o = run(&state, photos, Thresholds { decline, review }, Version::V2).await?;
    Ok(Json(DiditV2Response {
        request_id: uuid::Uuid::new_v4().to_string(),
        face_match: DiditV2FaceMatch {
            status: o.status.into(),
            score: o.score,
            source_image: crop_url(&state, &base, &o.pair.a.analysis),
            target_image: crop_url(&state, &base, &o.pair.b.analysis),
            warnings: o.warnings,
        },
        created_at: iso_now(),
    }))
}

fn entities(a: &Analysis) -> DiditImageEntities {
    // facematch estimates no age or gender: `bbox` and `confidence` only.
    DiditImageEntities {
        entities: a.faces.iter().map(|f| DiditEntity { bbox: f.bbox.map(|x| x.round() as i64), confidence: f.score }).collect(),
        best_angle: 0,
    }
}

/// Didit v3 face match (`x-api-key`; also without the trailing slash).
#[utoipa::path(post, path = "/v3/face-match/", tag = "didit",
    request_body(content = DiditFaceMatchRequest, content_type = "multipart/form-data"),
    security(("didit_api_key" = [])),
    responses(
        (status = 200, body = DiditV3Response),
        (status = 400, body = DiditErrorBody), (status = 401, description = "Wrong, revoked or expired key", body = DiditErrorBody),
        (status = 403, description = "No key sent", body = DiditErrorBody),
        (status = 429, description = "Busy", body = DiditErrorBody),
    ))]
pub async fn face_match_v3(State(state): State<AppState>, _: DiditV3Client, req: Request) -> Result<Json<DiditV3Response>, DiditError> {
    let (photos, form) = read_form(&state, req, Version::V3).await?;
    let flag = |k: &str, default: bool| -> Result<bool, DiditError> {
        match form.text(k).map(str::to_ascii_lowercase) {
            None => Ok(default),
            Some(s) if s == "true" || s == "1" => Ok(true),
            Some(s) if s == "false" || s == "0" => Ok(false),
            Some(_) => Err(detail(StatusCode::BAD_REQUEST, format!("{k} must be a boolean."))),
        }
    };
    let save = flag("save_api_request", true)?;
    flag("rotate_image", false)?;
    if let Some(m) = form.text("metadata").filter(|m| !m.is_empty()) {
        if !serde_json::from_str::<Value>(m).is_ok_and(|v| v.is_object()) {
            return Err(detail(StatusCode::BAD_REQUEST, "metadata must be a JSON object."));
        }
    }
    let decline = threshold_in(
        &form.text("face_match_score_decline_threshold").map(|s| json!(s)).unwrap_or(Value::Null),
        "face_match_score_decline_threshold",
    )?
    .unwrap_or(vendor::DIDIT.default_threshold);
    let o = run(&state, photos, Thresholds { decline, review: None }, Version::V3).await?;
    let score = match (o.score, save) {
        (Some(s), _) => json!(s),
        (None, true) => Value::Null,
        (None, false) => json!(0),
    };
    Ok(Json(DiditV3Response {
        request_id: uuid::Uuid::new_v4().to_string(),
        face_match: DiditV3FaceMatch {
            status: o.status.into(),
            score,
            user_image: entities(&o.pair.a.analysis),
            ref_image: entities(&o.pair.b.analysis),
            warnings: o.warnings,
        },
        created_at: iso_now(),
    }))
}

//! VideoSDK Face Match: `POST /ai/v1/face-verification/verify` (`videosdk-face-match.md`, NOTES.md).
//! `Authorization: <JWT>` with no prefix: HS256, signed with the API secret of the API key named in
//! its `apikey` claim; signature and expiry are checked. JSON `img1`, `img2` as
//! `data:image/...;base64,...` (bare base64 accepted). 200 `{"verified": bool}`; errors
//! `{"message": "..."}` (401 credentials, 400 request, 413 size, 429 busy, 500).
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::error::ApiError;
use super::AppState;
use crate::engine::Comparison;
use crate::image_input::decode_base64_image;

#[derive(ToSchema)]
#[allow(dead_code)] // documentation of the request
pub struct VideoSdkVerifyRequest {
    /// `data:image/jpeg;base64,...` (bare base64 accepted).
    img1: String,
    img2: String,
}

#[derive(Serialize, ToSchema)]
pub struct VideoSdkVerifyResponse {
    pub verified: bool,
}

#[derive(Serialize, ToSchema)]
pub struct VideoSdkErrorBody {
    pub message: String,
}

pub struct VideoSdkError(StatusCode, String);

impl IntoResponse for VideoSdkError {
    fn into_response(self) -> Response {
        (self.0, Json(VideoSdkErrorBody { message: self.1 })).into_response()
    }
}

impl From<ApiError> for VideoSdkError {
    fn from(e: ApiError) -> Self {
        match e.status {
            StatusCode::SERVICE_UNAVAILABLE => VideoSdkError(StatusCode::TOO_MANY_REQUESTS, "too many requests, retry shortly".into()),
            s => VideoSdkError(s, e.message),
        }
    }
}

#[derive(serde::Deserialize)]
struct Claims {
    apikey: String,
}

fn unauthorized(m: &str) -> VideoSdkError {
    VideoSdkError(StatusCode::UNAUTHORIZED, m.to_string())
}

async fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), VideoSdkError> {
    let raw = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    let token = raw.ok_or_else(|| unauthorized("Authorization token is missing"))?;
    // The doc sends the JWT bare; a `Bearer ` prefix is tolerated.
    let token = token.strip_prefix("Bearer ").unwrap_or(token).trim().to_string();
    if token.len() > 4096 {
        return Err(unauthorized("Invalid token"));
    }
    // Read the API key from the unverified claims only to find its secret; nothing is trusted
    // until the signature checks out below.
    let mut peek = Validation::new(Algorithm::HS256);
    peek.insecure_disable_signature_validation();
    peek.validate_exp = false;
    peek.required_spec_claims.clear();
    let apikey = jsonwebtoken::decode::<Claims>(&token, &DecodingKey::from_secret(&[]), &peek)
        .map_err(|_| unauthorized("Invalid token"))?
        .claims
        .apikey;
    let store = state.store.clone();
    let key = apikey.clone();
    let secret = super::store_call(move || store.signing_secret("videosdk", &key))
        .await
        .map_err(|_| VideoSdkError(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error".into()))?
        .ok_or_else(|| unauthorized("Invalid token"))?;
    let mut v = Validation::new(Algorithm::HS256);
    v.required_spec_claims = ["exp".to_string()].into_iter().collect();
    v.leeway = 30;
    jsonwebtoken::decode::<Claims>(&token, &DecodingKey::from_secret(secret.as_bytes()), &v).map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::ExpiredSignature => unauthorized("Token expired"),
        _ => unauthorized("Invalid token"),
    })?;
    Ok(())
}

/// VideoSDK face verification. `Authorization: <JWT>` (no `Bearer`): HS256 with the API secret,
/// `apikey` claim, `exp` checked.
#[utoipa::path(post, path = "/ai/v1/face-verification/verify", tag = "videosdk",
    request_body(content = VideoSdkVerifyRequest, content_type = "application/json"),
    security(("videosdk_jwt" = [])),
    responses(
        (status = 200, body = VideoSdkVerifyResponse),
        (status = 400, body = VideoSdkErrorBody),
        (status = 401, body = VideoSdkErrorBody),
        (status = 413, body = VideoSdkErrorBody),
        (status = 429, description = "Busy", body = VideoSdkErrorBody),
        (status = 500, body = VideoSdkErrorBody),
    ))]
pub async fn verify(State(state): State<AppState>, req: Request) -> Result<Json<VideoSdkVerifyResponse>, VideoSdkError> {
    authorize(&state, req.headers()).await?;
    let Json(body): Json<Value> = Json::from_request(req, &()).await.map_err(|e| VideoSdkError(e.status(), "Invalid JSON body".into()))?;
    let max = state.config.max_upload_bytes;
    let mut images = Vec::new();
    for name in ["img1", "img2"] {
        let field =
            body.get(name).and_then(Value::as_str).ok_or_else(|| VideoSdkError(StatusCode::BAD_REQUEST, format!("{name} is required")))?;
        let bytes = decode_base64_image(field, max).map_err(|e| {
            let a = ApiError::from(e);
            VideoSdkError(a.status, format!("{name}: {}", a.message))
        })?;
        images.push(bytes);
    }
    let b = images.pop().unwrap_or_default();
    let a = images.pop().unwrap_or_default();
    let engine = &state.engine;
    let (ra, rb) = super::analyse_pair(engine, a, b).await;
    let ra = ra.map_err(|e| VideoSdkError::from(ApiError::for_image(&e, "img1")))?;
    let rb = rb.map_err(|e| VideoSdkError::from(ApiError::for_image(&e, "img2")))?;
    for (r, name) in [(&ra, "img1"), (&rb, "img2")] {
        if r.embedding.is_none() {
            return Err(VideoSdkError(StatusCode::BAD_REQUEST, format!("{name}: no face detected")));
        }
    }
    let c = Comparison::of(ra, rb);
    let s = super::calibrated_score(engine, &c);
    Ok(Json(VideoSdkVerifyResponse { verified: s >= state.config.match_threshold }))
}

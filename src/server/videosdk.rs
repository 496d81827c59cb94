//! VideoSDK Face Match: `POST /ai/v1/face-verification/verify` (`videosdk-face-match.md`, NOTES.md).
//! `Authorization: <JWT>` with no prefix: HS256, signed with the API secret of the API key named in
//! its `apikey` claim; signature and expiry are checked. JSON `img1`, `img2` as
//! `data:image/...;base64,...` (bare base64 accepted). 200 `{"verified": bool}`; errors
//! `{"message": "..."}` (401 credentials, 400 request, 413 size, 429 busy, 500).
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::service::{self, CompareError};
use super::{auth, AppState};
use crate::error::{Error, ErrorKind};
use crate::image_input::{decode_base64_image, InputError};

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

/// VideoSDK's dialect of a failed comparison.
impl From<CompareError> for VideoSdkError {
    fn from(e: CompareError) -> Self {
        let name = e.slot.name(IMAGES);
        match (e.error.kind(), &e.error) {
            (ErrorKind::Busy, _) => VideoSdkError(StatusCode::TOO_MANY_REQUESTS, "too many requests, retry shortly".into()),
            (ErrorKind::Internal, _) => {
                tracing::error!(error = %e.error, "videosdk: comparison failed");
                VideoSdkError(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error".into())
            }
            (ErrorKind::NoFace, _) => VideoSdkError(StatusCode::BAD_REQUEST, format!("{name}: no face detected")),
            (_, Error::ImageTooLarge { .. }) => VideoSdkError(StatusCode::PAYLOAD_TOO_LARGE, format!("{name}: {}", e.error)),
            (ErrorKind::InvalidImage, _) => VideoSdkError(StatusCode::BAD_REQUEST, format!("{name}: {}", e.error)),
        }
    }
}

/// A request the framework refused before the handler ran, in VideoSDK's shape.
pub fn refused(status: StatusCode, message: String) -> VideoSdkError {
    VideoSdkError(status, message)
}

/// A path under VideoSDK's prefix that no route serves.
pub fn not_found() -> VideoSdkError {
    VideoSdkError(StatusCode::NOT_FOUND, "Not Found".into())
}

/// The photos' field names.
const IMAGES: (&str, &str) = ("img1", "img2");

#[derive(serde::Deserialize)]
struct Claims {
    apikey: String,
}

fn unauthorized(m: &str) -> VideoSdkError {
    VideoSdkError(StatusCode::UNAUTHORIZED, m.to_string())
}

/// A caller whose JWT (`Authorization: <JWT>`, `Bearer ` tolerated) is signed with the secret of the
/// API key its `apikey` claim names, and not expired.
pub struct VideoSdkClient;

impl FromRequestParts<AppState> for VideoSdkClient {
    type Rejection = VideoSdkError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, VideoSdkError> {
        let raw =
            auth::header(&parts.headers, header::AUTHORIZATION.as_str()).ok_or_else(|| unauthorized("Authorization token is missing"))?;
        // The doc sends the JWT bare; a `Bearer ` prefix is tolerated.
        let token = auth::bearer_in(raw).unwrap_or(raw).to_string();
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
        let secret = super::store_call(move || store.signing_secret("videosdk", &apikey))
            .await
            .map_err(|_| VideoSdkError(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error".into()))?
            .ok_or_else(|| unauthorized("Invalid token"))?;
        let mut v = Validation::new(Algorithm::HS256);
        v.required_spec_claims = ["exp".to_string()].into_iter().collect();
        v.validate_nbf = true;
        v.leeway = 30;
        jsonwebtoken::decode::<Claims>(&token, &DecodingKey::from_secret(secret.as_bytes()), &v).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => unauthorized("Token expired"),
            _ => unauthorized("Invalid token"),
        })?;
        Ok(VideoSdkClient)
    }
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
        (status = 415, body = VideoSdkErrorBody),
        (status = 429, description = "Busy", body = VideoSdkErrorBody),
        (status = 500, body = VideoSdkErrorBody),
    ))]
pub async fn verify(State(state): State<AppState>, _: VideoSdkClient, req: Request) -> Result<Json<VideoSdkVerifyResponse>, VideoSdkError> {
    let Json(body): Json<Value> = Json::from_request(req, &()).await.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => VideoSdkError(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large".into()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            VideoSdkError(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json".into())
        }
        _ => VideoSdkError(StatusCode::BAD_REQUEST, "Invalid JSON body".into()),
    })?;
    let (a, b) = images_of(&body, state.config.max_upload_bytes)?;
    let pair = service::compare(&state, a, b).await?;
    Ok(Json(VideoSdkVerifyResponse { verified: pair.require_faces()?.is_match }))
}

/// The two photos of a verify request, decoded from base64 and bounded by `max` bytes.
pub fn images_of(body: &Value, max: usize) -> Result<(Vec<u8>, Vec<u8>), VideoSdkError> {
    let image = |name: &str| {
        let field =
            body.get(name).and_then(Value::as_str).ok_or_else(|| VideoSdkError(StatusCode::BAD_REQUEST, format!("{name} is required")))?;
        decode_base64_image(field, max).map_err(|e| {
            let status = if matches!(e, InputError::TooLarge { .. }) { StatusCode::PAYLOAD_TOO_LARGE } else { StatusCode::BAD_REQUEST };
            VideoSdkError(status, format!("{name}: {e}"))
        })
    };
    Ok((image(IMAGES.0)?, image(IMAGES.1)?))
}

//! Valify Face Match (`valify-face-match.md`): `POST /api/v1.1/face/match/` and `/api/v1/face/match`
//! (trailing slash optional), JSON `first_img`, `second_img`, `bundle_key`, `lang` at top level or
//! under `data`; `Authorization: Bearer <token>` from `POST /api/o/token/`. Errors are
//! `{"message": ...}` with the doc's texts; 422 adds `error_code` (numbers in [`codes`]).
use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::service::{self, CompareError, Slot};
use super::{auth, AppState};
use crate::error::{Error, ErrorKind};
use crate::image_input::{decode_base64_image, InputError};
use crate::score::vendor;
use crate::store::{BundleUse, StoreError, ValifyTransaction};

/// facematch's numbers for Valify's 422 `error_code` (Valify does not publish its own).
pub mod codes {
    pub const NO_FACE_FIRST: i64 = 4001;
    pub const NO_FACE_SECOND: i64 = 4002;
    pub const UNDECODABLE_IMAGE: i64 = 4003;
    pub const IMAGE_TOO_SMALL: i64 = 4004;
    pub const IMAGE_TOO_LARGE: i64 = 4005;
    pub const TRIALS_EXHAUSTED: i64 = 4006;
}

/// `trials_remaining` for a bundle without a quota.
pub const UNLIMITED_TRIALS: i64 = i32::MAX as i64;
pub const TOKEN_TTL_SECS: i64 = 3600;
pub const REFRESH_TTL_SECS: i64 = 30 * 24 * 3600;

/// Valify's request as its doc's table shows it (the fields may also sit under `data`).
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: the body is read leniently (top level or under `data`)
pub struct ValifyMatchRequest {
    /// Base64 image (JPEG/PNG), at most the upload limit (5 MB by default).
    first_img: String,
    second_img: String,
    /// A bundle key (`trials_remaining` counts its quota).
    bundle_key: String,
    /// `en` or `ar`.
    lang: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ValifyMatchResult {
    pub is_similar: bool,
    /// 0..1: the calibrated score on a scale where 0.75 stands for the deployment's decision point
    /// (README, "Vendor scores").
    pub confidence: f64,
}

#[derive(Serialize, ToSchema)]
pub struct ValifyMatchResponse {
    pub result: ValifyMatchResult,
    pub transaction_id: String,
    /// Trials left on the bundle key; 2147483647 for a bundle without a quota.
    pub trials_remaining: i64,
}

/// Valify's error body; `error_code` on 422 only (4001 no face in first_img, 4002 in second_img,
/// 4003 undecodable image, 4004 image too small, 4005 image too large, 4006 no trials left).
#[derive(Serialize, ToSchema)]
pub struct ValifyErrorBody {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
}

/// OAuth2 token request (form-encoded).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ValifyTokenRequest {
    /// `password` or `client_credentials`.
    grant_type: String,
    client_id: String,
    client_secret: String,
    username: Option<String>,
    password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ValifyTokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub scope: String,
}

pub struct ValifyError {
    status: StatusCode,
    message: String,
    error_code: Option<i64>,
}

fn err(status: StatusCode, message: &str) -> ValifyError {
    ValifyError { status, message: message.to_string(), error_code: None }
}

fn bad_request() -> ValifyError {
    err(StatusCode::BAD_REQUEST, "Bad Request – invalid request received (e.g. missing Bundle key, required parameters or invalid json) | Make sure all the required parameters are included")
}

fn internal() -> ValifyError {
    err(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

fn unprocessable(code: i64, message: String) -> ValifyError {
    ValifyError { status: StatusCode::UNPROCESSABLE_ENTITY, message, error_code: Some(code) }
}

impl IntoResponse for ValifyError {
    fn into_response(self) -> Response {
        (self.status, Json(ValifyErrorBody { message: self.message, error_code: self.error_code })).into_response()
    }
}

/// A request the framework refused before the handler ran, in Valify's shape.
pub fn refused(status: StatusCode, message: String) -> ValifyError {
    ValifyError { status, message, error_code: None }
}

/// The 404 body of the doc, for paths no route serves.
pub fn not_found() -> ValifyError {
    err(StatusCode::NOT_FOUND, "Not Found")
}

/// The photos' field names.
const IMAGES: (&str, &str) = ("first_img", "second_img");

/// Valify's dialect of a failed comparison.
impl From<CompareError> for ValifyError {
    fn from(e: CompareError) -> ValifyError {
        let which = e.slot.name(IMAGES);
        match &e.error {
            Error::NoFace if e.slot == Slot::A => unprocessable(codes::NO_FACE_FIRST, format!("no face was found in {which}")),
            Error::NoFace => unprocessable(codes::NO_FACE_SECOND, format!("no face was found in {which}")),
            Error::TooSmall { .. } => unprocessable(codes::IMAGE_TOO_SMALL, format!("{which}: {}", e.error)),
            Error::ImageTooLarge { .. }
            | Error::TooManyPixels { .. }
            | Error::DimensionTooLarge { .. }
            | Error::DecodedTooLarge { .. }
            | Error::AboveLimits { .. } => unprocessable(codes::IMAGE_TOO_LARGE, format!("{which}: {}", e.error)),
            other => match other.kind() {
                ErrorKind::Busy => err(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests – the service is busy, retry shortly"),
                ErrorKind::Internal => {
                    tracing::error!(error = %other, "valify: comparison failed");
                    internal()
                }
                _ => unprocessable(codes::UNDECODABLE_IMAGE, format!("{which}: the image could not be decoded")),
            },
        }
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, StoreError> + Send + 'static) -> Result<T, ValifyError> {
    super::store_call(f).await.map_err(|_| internal())
}

fn forbidden() -> ValifyError {
    err(StatusCode::FORBIDDEN, "Forbidden – specified access_token could not be found")
}

/// A caller with a live access token: `Authorization: Bearer <token>` (the doc's header table names
/// it `Authentication`, its code sends `Authorization`: both are read). Its client id.
pub struct ValifyClient(pub String);

impl FromRequestParts<AppState> for ValifyClient {
    type Rejection = ValifyError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ValifyError> {
        let h = &parts.headers;
        let token = auth::bearer(h).or_else(|| auth::header(h, "authentication").and_then(auth::bearer_in)).ok_or_else(forbidden)?;
        let (store, token) = (state.store.clone(), token.to_string());
        blocking(move || store.check_token("valify", "access", &token)).await?.map(ValifyClient).ok_or_else(forbidden)
    }
}

/// Valify Face Match. Also served at `/api/v1.1/face/match`, `/api/v1/face/match` and
/// `/api/v1/face/match/`.
#[utoipa::path(post, path = "/api/v1.1/face/match/", tag = "valify",
    request_body(content = ValifyMatchRequest, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ValifyMatchResponse),
        (status = 400, description = "Bad Request", body = ValifyErrorBody),
        (status = 401, description = "Unknown bundle key", body = ValifyErrorBody),
        (status = 403, description = "Missing or invalid token", body = ValifyErrorBody),
        (status = 415, description = "An image is not base64", body = ValifyErrorBody),
        (status = 422, description = "No face, undecodable image, size, trials exhausted (`error_code`)", body = ValifyErrorBody),
        (status = 429, description = "Busy", body = ValifyErrorBody),
        (status = 500, body = ValifyErrorBody),
    ))]
pub async fn face_match(
    State(state): State<AppState>,
    ValifyClient(client_id): ValifyClient,
    req: Request,
) -> Result<Json<ValifyMatchResponse>, ValifyError> {
    let Json(body): Json<Value> = Json::from_request(req, &()).await.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => unprocessable(codes::IMAGE_TOO_LARGE, "the request body is too large".into()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => err(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported Media Type"),
        _ => bad_request(),
    })?;
    let ValifyRequest { first, second, bundle_key } = request_of(&body, state.config.max_upload_bytes)?;
    let store = state.store.clone();
    let key = bundle_key.clone();
    let remaining = match blocking(move || store.use_bundle_trial(&key)).await? {
        BundleUse::Unknown => return Err(err(StatusCode::UNAUTHORIZED, "Unauthorized – your Bundle key is invalid")),
        BundleUse::Exhausted => return Err(unprocessable(codes::TRIALS_EXHAUSTED, "no trials remaining for this bundle key".into())),
        BundleUse::Ok { remaining } => remaining.unwrap_or(UNLIMITED_TRIALS),
    };
    let transaction_id = crate::store::random_hex(16);
    let outcome = compare(&state, first, second).await;
    let record = ValifyTransaction {
        transaction_id: transaction_id.clone(),
        bundle_key,
        client_id,
        is_similar: outcome.as_ref().ok().map(|o| o.0),
        confidence: outcome.as_ref().ok().map(|o| o.1),
        error_code: outcome.as_ref().err().and_then(|e| e.error_code),
    };
    let store = state.store.clone();
    blocking(move || store.record_valify(&record)).await?;
    let (is_similar, confidence) = outcome?;
    Ok(Json(ValifyMatchResponse { result: ValifyMatchResult { is_similar, confidence }, transaction_id, trials_remaining: remaining }))
}

/// A match request's photos (decoded from base64) and bundle key.
pub struct ValifyRequest {
    pub first: Vec<u8>,
    pub second: Vec<u8>,
    pub bundle_key: String,
}

/// Reads a match request: fields at the top level (the doc's Python example) or under `data` (its
/// table); photos bounded by `max` bytes.
pub fn request_of(body: &Value, max: usize) -> Result<ValifyRequest, ValifyError> {
    let fields = body.get("data").filter(|d| d.is_object()).unwrap_or(body);
    let text = |k: &str| fields.get(k).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    let (Some(first), Some(second), Some(bundle_key)) = (text("first_img"), text("second_img"), text("bundle_key")) else {
        return Err(bad_request());
    };
    if bundle_key.len() > 128 || text("lang").is_some_and(|l| l.len() > 16) {
        return Err(bad_request());
    }
    let decode = |s: &str, which: &str| {
        decode_base64_image(s, max).map_err(|e| match e {
            InputError::TooLarge { .. } => unprocessable(codes::IMAGE_TOO_LARGE, format!("{which}: larger than {max} bytes")),
            _ => err(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported Media Type"),
        })
    };
    let (a, b) = (decode(first, "first_img")?, decode(second, "second_img")?);
    Ok(ValifyRequest { first: a, second: b, bundle_key: bundle_key.to_string() })
}

async fn compare(state: &AppState, a: Vec<u8>, b: Vec<u8>) -> Result<(bool, f64), ValifyError> {
    let scored = service::compare(state, a, b).await?.require_faces()?;
    Ok((scored.is_match, vendor::VALIFY.wire(scored.score, state.config.match_threshold)))
}

/// `POST /api/o/token/` (OAuth2, form-encoded): `grant_type` `client_credentials` or `password`
/// (with `username` and `password`: facematch keeps no user directory, so the client's own
/// credentials are what authenticates) or `refresh_token`.
/// OAuth2 token endpoint for Valify clients.
#[utoipa::path(post, path = "/api/o/token/", tag = "valify",
    request_body(content = ValifyTokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = ValifyTokenResponse),
        (status = 400, description = "`{\"error\": \"unsupported_grant_type\" | \"invalid_request\"}`"),
        (status = 401, description = "`{\"error\": \"invalid_client\"}`"),
    ))]
pub async fn token(State(state): State<AppState>, Form(form): Form<HashMap<String, String>>) -> Response {
    let oauth = |status: StatusCode, error: &str| (status, Json(json!({"error": error}))).into_response();
    if form.values().any(|v| v.len() > 512) {
        return oauth(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let get = |k: &str| form.get(k).map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let store = state.store.clone();
    let client = match get("grant_type").as_deref() {
        Some("refresh_token") => {
            let Some(rt) = get("refresh_token") else { return oauth(StatusCode::BAD_REQUEST, "invalid_request") };
            match blocking(move || store.check_token("valify", "refresh", &rt)).await {
                Ok(Some(c)) => c,
                Ok(None) => return oauth(StatusCode::BAD_REQUEST, "invalid_grant"),
                Err(e) => return e.into_response(),
            }
        }
        Some(g @ ("client_credentials" | "password")) => {
            if g == "password" && (get("username").is_none() || get("password").is_none()) {
                return oauth(StatusCode::BAD_REQUEST, "invalid_request");
            }
            let (Some(id), Some(secret)) = (get("client_id"), get("client_secret")) else {
                return oauth(StatusCode::UNAUTHORIZED, "invalid_client");
            };
            let idc = id.clone();
            match blocking(move || store.check_client("valify", &idc, &secret)).await {
                Ok(true) => id,
                Ok(false) => return oauth(StatusCode::UNAUTHORIZED, "invalid_client"),
                Err(e) => return e.into_response(),
            }
        }
        _ => return oauth(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    };
    let store = state.store.clone();
    let issued = blocking(move || {
        let access = store.issue_token("valify", &client, "access", TOKEN_TTL_SECS)?;
        let refresh = store.issue_token("valify", &client, "refresh", REFRESH_TTL_SECS)?;
        Ok((access, refresh))
    })
    .await;
    match issued {
        Ok((access, refresh)) => Json(ValifyTokenResponse {
            access_token: access,
            token_type: "Bearer".into(),
            expires_in: TOKEN_TTL_SECS,
            refresh_token: refresh,
            scope: "read write".into(),
        })
        .into_response(),
        Err(e) => e.into_response(),
    }
}

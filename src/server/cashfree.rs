//! Cashfree Verification API: `POST /verification/face-match` (`../shared/vendor-docs/cashfree-face-match.md`).
//! Headers `x-client-id` / `x-client-secret`; multipart `verification_id`, `first_image`,
//! `second_image`, `threshold`. Every error is `{"type", "code", "message"}` as the doc prints it;
//! codes the doc does not list (`verification_id_missing`, `x-client-secret_missing`,
//! `threshold_value_invalid`, `face_not_detected`) follow its naming and are listed in the README.
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::form::{self, FormError};
use super::service::{self, CompareError};
use super::{auth, AppState};
use crate::error::{Error, ErrorKind};
use crate::score::vendor;
use crate::store::{CashfreeRecord, StoreError};

/// Cashfree's multipart request.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation of the request
pub struct CashfreeFaceMatchRequest {
    /// Unique per request: at most 50 characters of `[A-Za-z0-9._-]`.
    verification_id: String,
    /// JPEG/JPG/PNG, at most the upload limit (5 MB by default).
    #[schema(value_type = String, format = Binary)]
    first_image: Vec<u8>,
    #[schema(value_type = String, format = Binary)]
    second_image: Vec<u8>,
    /// 0 < threshold < 1, default "0.75" (which stands for the deployment's decision point):
    /// `face_match_result` is YES when `face_match_score`, as printed, is at or above it.
    threshold: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CashfreeFaceMatchResponse {
    /// `SUCCESS` or `MULTIPLE_FACE_DETECTED`.
    pub status: String,
    pub ref_id: i64,
    pub verification_id: String,
    /// `YES` or `NO`.
    pub face_match_result: String,
    pub face_match_score: f64,
}

#[derive(Serialize, ToSchema)]
pub struct CashfreeErrorBody {
    #[serde(rename = "type")]
    pub kind: String,
    pub code: String,
    pub message: String,
}

/// A Cashfree-shaped error.
#[derive(Debug)]
pub struct CashfreeError {
    status: StatusCode,
    kind: &'static str,
    code: &'static str,
    message: String,
}

fn validation(code: &'static str, message: impl Into<String>) -> CashfreeError {
    CashfreeError { status: StatusCode::BAD_REQUEST, kind: "validation_error", code, message: message.into() }
}

impl IntoResponse for CashfreeError {
    fn into_response(self) -> Response {
        let body = CashfreeErrorBody { kind: self.kind.to_string(), code: self.code.to_string(), message: self.message };
        (self.status, Json(body)).into_response()
    }
}

fn internal_error() -> CashfreeError {
    CashfreeError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        kind: "internal_error",
        code: "verification_failed",
        message: "something went wrong".into(),
    }
}

fn too_large(max: usize) -> CashfreeError {
    validation("file_size_exceeded", format!("File size exceeded {}MB limit", max / (1024 * 1024)))
}

fn invalid_format() -> CashfreeError {
    validation("file_format_invalid", "please upload the file of valid format(jpeg/jpg/png)")
}

/// Cashfree's dialect of a failed comparison.
impl From<CompareError> for CashfreeError {
    fn from(e: CompareError) -> CashfreeError {
        let name = e.slot.name(IMAGES);
        match (e.error.kind(), &e.error) {
            (ErrorKind::Busy, _) => {
                rate_limited("too_many_requests_per_operation", "Too many requests for this operation, rate limit reached")
            }
            (ErrorKind::Internal, _) => {
                tracing::error!(error = %e.error, "cashfree: comparison failed");
                internal_error()
            }
            (ErrorKind::NoFace, _) => CashfreeError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                kind: "validation_error",
                code: "face_not_detected",
                message: format!("No face detected in {name}"),
            },
            (ErrorKind::InvalidImage, Error::ImageTooLarge { limit, .. }) => too_large(*limit),
            (ErrorKind::InvalidImage, _) => invalid_format(),
        }
    }
}

/// A request the framework refused before the handler ran, in Cashfree's shape.
pub fn refused(status: StatusCode, message: String) -> CashfreeError {
    CashfreeError { status, kind: "invalid_request_error", code: "request_invalid", message }
}

/// A path under Cashfree's prefix that no route serves.
pub fn not_found() -> CashfreeError {
    CashfreeError {
        status: StatusCode::NOT_FOUND,
        kind: "invalid_request_error",
        code: "request_url_not_found",
        message: "The requested URL was not found".into(),
    }
}

fn internal(e: StoreError) -> CashfreeError {
    tracing::error!(error = %e, "cashfree: state store");
    internal_error()
}

/// Cashfree's two 429s, from per-minute limits per client IP and per client id (0: no limit).
pub struct RateLimits {
    per_ip: Option<governor::DefaultKeyedRateLimiter<std::net::IpAddr>>,
    per_operation: Option<governor::DefaultKeyedRateLimiter<String>>,
}

impl RateLimits {
    pub fn new(per_ip: u32, per_operation: u32) -> RateLimits {
        let quota = |n: u32| std::num::NonZeroU32::new(n).map(governor::Quota::per_minute);
        RateLimits {
            per_ip: quota(per_ip).map(governor::RateLimiter::keyed),
            per_operation: quota(per_operation).map(governor::RateLimiter::keyed),
        }
    }

    fn check<K: Clone + std::hash::Hash + Eq>(l: &Option<governor::DefaultKeyedRateLimiter<K>>, key: &K) -> bool {
        let Some(l) = l else { return true };
        // Keys of callers that went quiet are dropped, so the maps stay bounded.
        if l.len() > 10_000 {
            l.retain_recent();
        }
        l.check_key(key).is_ok()
    }
}

fn rate_limited(code: &'static str, message: &str) -> CashfreeError {
    CashfreeError { status: StatusCode::TOO_MANY_REQUESTS, kind: "rate_limit_error", code, message: message.into() }
}

/// The private half of the key pair whose public half Cashfree clients encrypt `x-cf-signature`
/// with: RSA-OAEP (SHA-1, as `OPENSSL_PKCS1_OAEP_PADDING`) of `"<clientId>.<unix seconds>"`.
pub struct SignatureKey(rsa::RsaPrivateKey);

impl std::fmt::Debug for SignatureKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignatureKey(<redacted>)")
    }
}

/// How far a signature's timestamp may be from now, either way.
pub const SIGNATURE_MAX_SKEW_SECS: i64 = 300;

impl SignatureKey {
    /// Reads a PEM private key (PKCS#8 `BEGIN PRIVATE KEY` or PKCS#1 `BEGIN RSA PRIVATE KEY`).
    pub fn from_pem(pem: &str) -> Result<SignatureKey, String> {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        use rsa::pkcs8::DecodePrivateKey;
        rsa::RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem))
            .map(SignatureKey)
            .map_err(|_| "not a PEM RSA private key (PKCS#8 or PKCS#1)".to_string())
    }

    /// True when `signature` decrypts to this client's id and a timestamp within the allowed skew.
    pub fn verify(&self, client_id: &str, signature: &str, now: i64) -> bool {
        use base64::Engine as _;
        use subtle::ConstantTimeEq;
        let Ok(ct) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else { return false };
        let Ok(plain) = self.0.decrypt(rsa::Oaep::new::<sha1::Sha1>(), &ct) else { return false };
        let Ok(plain) = String::from_utf8(plain) else { return false };
        let Some((id, ts)) = plain.rsplit_once('.') else { return false };
        let Ok(ts) = ts.parse::<i64>() else { return false };
        let same: bool = (id.len() == client_id.len()) && bool::from(id.as_bytes().ct_eq(client_id.as_bytes()));
        same && (now - ts).abs() <= SIGNATURE_MAX_SKEW_SECS
    }
}

fn is_jpeg_or_png(b: &[u8]) -> bool {
    b.starts_with(&[0xFF, 0xD8, 0xFF]) || b.starts_with(b"\x89PNG\r\n\x1a\n")
}

/// The photos' field names.
const IMAGES: (&str, &str) = ("first_image", "second_image");

/// A Cashfree client whose `x-client-id` / `x-client-secret` (and `x-cf-signature`, when the server
/// has a signature key) check out, within the rate limits. Rejects in Cashfree's shape.
pub struct CashfreeClient(pub String);

impl FromRequestParts<AppState> for CashfreeClient {
    type Rejection = CashfreeError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, CashfreeError> {
        let ip = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
        if let Some(ip) = ip {
            if !RateLimits::check(&state.cashfree_limits.per_ip, &ip) {
                return Err(rate_limited("too_many_requests_per_ip", "Too many requests from the IP, rate limit reached"));
            }
        }
        let headers = &parts.headers;
        let client_id = auth::header(headers, "x-client-id")
            .ok_or_else(|| validation("x-client-id_missing", "x-client-id is missing in the request."))?
            .to_string();
        let secret = auth::header(headers, "x-client-secret")
            .ok_or_else(|| validation("x-client-secret_missing", "x-client-secret is missing in the request."))?
            .to_string();
        let (store, id) = (state.store.clone(), client_id.clone());
        let ok = super::store_call(move || store.check_client("cashfree", &id, &secret)).await.map_err(|_| internal_error())?;
        if !ok {
            return Err(CashfreeError {
                status: StatusCode::UNAUTHORIZED,
                kind: "authentication_error",
                code: "authentication_failed",
                message: "Invalid clientId and clientSecret combination".into(),
            });
        }
        if let Some(key) = &state.config.cashfree_signature_key {
            let forbidden = |message: &str| CashfreeError {
                status: StatusCode::FORBIDDEN,
                kind: "validation_error",
                code: "authentication_failed",
                message: message.into(),
            };
            let signature =
                auth::header(headers, "x-cf-signature").ok_or_else(|| forbidden("x-cf-signature missing in the request header"))?;
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let (key, id, sig) = (key.clone(), client_id.clone(), signature.to_string());
            // RSA decryption takes about a millisecond: off the async threads.
            let valid = tokio::task::spawn_blocking(move || key.verify(&id, &sig, now)).await.unwrap_or(false);
            if !valid {
                return Err(forbidden("x-cf-signature is invalid or expired"));
            }
        }
        if !RateLimits::check(&state.cashfree_limits.per_operation, &client_id) {
            return Err(rate_limited("too_many_requests_per_operation", "Too many requests for this operation, rate limit reached"));
        }
        Ok(CashfreeClient(client_id))
    }
}

/// The request's fields, checked as the doc says.
struct Checked {
    verification_id: String,
    first: Vec<u8>,
    second: Vec<u8>,
    threshold: f64,
}

async fn read_request(state: &AppState, req: Request) -> Result<Checked, CashfreeError> {
    let max = state.config.max_upload_bytes;
    // The documented text fields are short; other fields are ignored, as the vendor does, within
    // the upload limit.
    let text_limit = |name: &str| if matches!(name, "verification_id" | "threshold") { 256 } else { max };
    let mut form = form::read(req, &[IMAGES.0, IMAGES.1], max, text_limit).await.map_err(|e| match e {
        FormError::NotMultipart => validation("first_image_missing", "First image is missing in the request"),
        FormError::TextTooLong { field, .. } if field == "verification_id" => {
            validation("verification_id_length_exceeded", "verification_id can include a maximum of 50 characters.")
        }
        FormError::TextTooLong { field, .. } if field == "threshold" => {
            validation("threshold_value_invalid", "threshold must be a number between 0 and 1 (0 < x < 1)")
        }
        FormError::BodyTooLarge | FormError::FileTooLarge { .. } | FormError::TextTooLong { .. } => too_large(max),
        FormError::Malformed => invalid_format(),
    })?;
    for name in [IMAGES.0, IMAGES.1] {
        if form.files.get(name).is_some_and(|b| !b.is_empty() && !is_jpeg_or_png(b)) {
            return Err(invalid_format());
        }
    }
    let verification_id = form
        .text("verification_id")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| validation("verification_id_missing", "verification_id is missing in the request"))?
        .to_string();
    if verification_id.chars().count() > 50 {
        return Err(validation("verification_id_length_exceeded", "verification_id can include a maximum of 50 characters."));
    }
    if !verification_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')) {
        return Err(validation("verification_id_value_invalid", "verification_id can include only alphanum, dot, hyphen and underscores"));
    }
    let mut image = |name: &str, code: &'static str, message: &str| {
        form.files.remove(name).filter(|b| !b.is_empty()).ok_or_else(|| validation(code, message))
    };
    let first = image(IMAGES.0, "first_image_missing", "First image is missing in the request")?;
    let second = image(IMAGES.1, "second_image_missing", "Second image is missing in the request")?;
    let threshold = match form.text("threshold") {
        None | Some("") => vendor::CASHFREE.default_threshold,
        Some(t) => match t.parse::<f64>() {
            Ok(x) if x > 0.0 && x < 1.0 => x,
            _ => return Err(validation("threshold_value_invalid", "threshold must be a number between 0 and 1 (0 < x < 1)")),
        },
    };
    Ok(Checked { verification_id, first, second, threshold })
}

/// Cashfree Verification face match.
#[utoipa::path(post, path = "/verification/face-match", tag = "cashfree",
    request_body(content = CashfreeFaceMatchRequest, content_type = "multipart/form-data"),
    params(
        ("x-client-id" = String, Header),
        ("x-client-secret" = String, Header),
        ("x-cf-signature" = Option<String>, Header, description = "Required when the server has a signature key: base64 RSA-OAEP(SHA-1) of `<clientId>.<unix seconds>`"),
    ),
    responses(
        (status = 200, body = CashfreeFaceMatchResponse),
        (status = 400, description = "Validation errors (`file_size_exceeded`, `file_format_invalid`, `first_image_missing`, ...)", body = CashfreeErrorBody),
        (status = 401, description = "`authentication_failed`", body = CashfreeErrorBody),
        (status = 403, description = "`x-cf-signature` missing or invalid", body = CashfreeErrorBody),
        (status = 409, description = "`verification_id_already_exists` (kept across restarts)", body = CashfreeErrorBody),
        (status = 422, description = "`face_not_detected`", body = CashfreeErrorBody),
        (status = 429, description = "`too_many_requests_per_ip` / `too_many_requests_per_operation`", body = CashfreeErrorBody),
        (status = 500, description = "`verification_failed`", body = CashfreeErrorBody),
    ))]
pub async fn face_match(
    State(state): State<AppState>,
    CashfreeClient(client_id): CashfreeClient,
    req: Request,
) -> Result<Json<CashfreeFaceMatchResponse>, CashfreeError> {
    let Checked { verification_id, first, second, threshold } = read_request(&state, req).await?;
    // The id is reserved before the images are processed, so two concurrent calls with one id
    // cannot both succeed; it is released again when no result could be produced.
    let (store, vid) = (state.store.clone(), verification_id.clone());
    let ref_id = match tokio::task::spawn_blocking(move || store.reserve_cashfree_id(&vid, &client_id)).await {
        Ok(Ok(r)) => r,
        Ok(Err(StoreError::Conflict)) => {
            return Err(CashfreeError {
                status: StatusCode::CONFLICT,
                kind: "validation_error",
                code: "verification_id_already_exists",
                message: "verification ID already exists".into(),
            })
        }
        Ok(Err(e)) => return Err(internal(e)),
        Err(_) => return Err(internal(StoreError::Db("task failed".into()))),
    };
    let outcome = decide(&state, first, second, threshold).await;
    let store = state.store.clone();
    let (vid, record) = (
        verification_id.clone(),
        outcome.as_ref().ok().map(|(s, r, sc)| CashfreeRecord {
            verification_id: verification_id.clone(),
            ref_id,
            status: s.to_string(),
            result: r.to_string(),
            score: *sc,
        }),
    );
    super::store_call(move || match record {
        Some(r) => store.complete_cashfree(&r),
        None => store.release_cashfree_id(&vid),
    })
    .await
    .map_err(|_| internal_error())?;
    let (status, result, score) = outcome?;
    Ok(Json(CashfreeFaceMatchResponse {
        status: status.into(),
        ref_id,
        verification_id,
        face_match_result: result.into(),
        face_match_score: score,
    }))
}

/// (status, face_match_result, face_match_score) for the pair, or a Cashfree error.
async fn decide(
    state: &AppState,
    first: Vec<u8>,
    second: Vec<u8>,
    threshold: f64,
) -> Result<(&'static str, &'static str, f64), CashfreeError> {
    let pair = service::compare(state, first, second).await?;
    let scored = pair.require_faces()?;
    // As the doc's example: another person in a photo → MULTIPLE_FACE_DETECTED, NO, score 0.
    if pair.several_faces() {
        return Ok(("MULTIPLE_FACE_DETECTED", "NO", 0.0));
    }
    // "the images match when the analysis is or greater than the value set for threshold", on the
    // score as printed (rounded down, so it never reads higher than it is).
    let score = vendor::CASHFREE.wire(scored.score, state.config.match_threshold);
    Ok(("SUCCESS", if score >= threshold { "YES" } else { "NO" }, score))
}

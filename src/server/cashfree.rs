//! Cashfree Verification API: `POST /verification/face-match` (`../shared/vendor-docs/cashfree-face-match.md`).
//! Headers `x-client-id` / `x-client-secret`; multipart `verification_id`, `first_image`,
//! `second_image`, `threshold`. Every error is `{"type", "code", "message"}` as the doc prints it;
//! codes the doc does not list (`verification_id_missing`, `x-client-secret_missing`,
//! `threshold_value_invalid`, `face_not_detected`) follow its naming and are listed in the README.
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::error::ApiError;
use super::AppState;
use crate::engine::Comparison;
use crate::score::vendor;
use crate::store::{CashfreeRecord, StoreError};

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
        (self.status, Json(json!({"type": self.kind, "code": self.code, "message": self.message}))).into_response()
    }
}

/// Engine errors in Cashfree's words.
impl From<ApiError> for CashfreeError {
    fn from(e: ApiError) -> CashfreeError {
        match e.status {
            StatusCode::SERVICE_UNAVAILABLE => CashfreeError {
                status: StatusCode::TOO_MANY_REQUESTS,
                kind: "rate_limit_error",
                code: "too_many_requests_per_operation",
                message: "Too many requests for this operation, rate limit reached".into(),
            },
            StatusCode::PAYLOAD_TOO_LARGE => validation("file_size_exceeded", e.message),
            StatusCode::INTERNAL_SERVER_ERROR => CashfreeError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                kind: "internal_error",
                code: "verification_failed",
                message: "something went wrong".into(),
            },
            _ => validation("file_format_invalid", "please upload the file of valid format(jpeg/jpg/png)"),
        }
    }
}

fn internal(e: StoreError) -> CashfreeError {
    tracing::error!(error = %e, "cashfree: state store");
    CashfreeError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        kind: "internal_error",
        code: "verification_failed",
        message: "something went wrong".into(),
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

fn is_jpeg_or_png(b: &[u8]) -> bool {
    b.starts_with(&[0xFF, 0xD8, 0xFF]) || b.starts_with(b"\x89PNG\r\n\x1a\n")
}

pub async fn face_match(State(state): State<AppState>, req: Request) -> Result<Json<serde_json::Value>, CashfreeError> {
    let headers = req.headers().clone();
    let client_id =
        header(&headers, "x-client-id").ok_or_else(|| validation("x-client-id_missing", "x-client-id is missing in the request."))?;
    let secret = header(&headers, "x-client-secret")
        .ok_or_else(|| validation("x-client-secret_missing", "x-client-secret is missing in the request."))?;
    let (store, id, sec) = (state.store.clone(), client_id.to_string(), secret.to_string());
    let ok = tokio::task::spawn_blocking(move || store.check_client("cashfree", &id, &sec))
        .await
        .map_err(|_| internal(StoreError::Db("task failed".into())))?
        .map_err(internal)?;
    if !ok {
        return Err(CashfreeError {
            status: StatusCode::UNAUTHORIZED,
            kind: "authentication_error",
            code: "authentication_failed",
            message: "Invalid clientId and clientSecret combination".into(),
        });
    }

    let max = state.config.max_upload_bytes;
    let mut mp =
        Multipart::from_request(req, &()).await.map_err(|_| validation("first_image_missing", "First image is missing in the request"))?;
    let (mut verification_id, mut first, mut second, mut threshold) = (None, None, None, None);
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(validation("file_size_exceeded", format!("File size exceeded {}MB limit", max / (1024 * 1024))))
            }
            Err(_) => return Err(validation("file_format_invalid", "please upload the file of valid format(jpeg/jpg/png)")),
        };
        let name = field.name().unwrap_or_default().to_string();
        let bytes = field
            .bytes()
            .await
            .map_err(|_| validation("file_size_exceeded", format!("File size exceeded {}MB limit", max / (1024 * 1024))))?;
        match name.as_str() {
            "first_image" | "second_image" => {
                if bytes.len() > max {
                    return Err(validation("file_size_exceeded", format!("File size exceeded {}MB limit", max / (1024 * 1024))));
                }
                if !bytes.is_empty() && !is_jpeg_or_png(&bytes) {
                    return Err(validation("file_format_invalid", "please upload the file of valid format(jpeg/jpg/png)"));
                }
                if !bytes.is_empty() {
                    if name == "first_image" {
                        first = Some(bytes.to_vec())
                    } else {
                        second = Some(bytes.to_vec())
                    }
                }
            }
            "verification_id" | "threshold" => {
                if bytes.len() > 256 {
                    if name == "verification_id" {
                        return Err(validation(
                            "verification_id_length_exceeded",
                            "verification_id can include a maximum of 50 characters.",
                        ));
                    }
                    return Err(validation("threshold_value_invalid", "threshold must be a number between 0 and 1"));
                }
                let text = String::from_utf8_lossy(&bytes).trim().to_string();
                if name == "verification_id" {
                    verification_id = Some(text)
                } else {
                    threshold = Some(text)
                }
            }
            _ => {} // unknown fields are ignored, as the vendor does
        }
    }
    let verification_id = verification_id
        .filter(|v| !v.is_empty())
        .ok_or_else(|| validation("verification_id_missing", "verification_id is missing in the request"))?;
    if verification_id.chars().count() > 50 {
        return Err(validation("verification_id_length_exceeded", "verification_id can include a maximum of 50 characters."));
    }
    if !verification_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')) {
        return Err(validation("verification_id_value_invalid", "verification_id can include only alphanum, dot, hyphen and underscores"));
    }
    let first = first.ok_or_else(|| validation("first_image_missing", "First image is missing in the request"))?;
    let second = second.ok_or_else(|| validation("second_image_missing", "Second image is missing in the request"))?;
    let threshold = match threshold.as_deref() {
        None | Some("") => vendor::DEFAULT_THRESHOLD as f64,
        Some(t) => match t.parse::<f64>() {
            Ok(x) if x > 0.0 && x < 1.0 => x,
            _ => return Err(validation("threshold_value_invalid", "threshold must be a number between 0 and 1 (0 < x < 1)")),
        },
    };

    // The id is reserved before the images are processed, so two concurrent calls with one id
    // cannot both succeed; it is released again when no result could be produced.
    let (store, vid, cid) = (state.store.clone(), verification_id.clone(), client_id.to_string());
    let ref_id = match tokio::task::spawn_blocking(move || store.reserve_cashfree_id(&vid, &cid)).await {
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
    let outcome = run_match(&state, first, second, threshold).await;
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
    let saved = tokio::task::spawn_blocking(move || match record {
        Some(r) => store.complete_cashfree(&r),
        None => store.release_cashfree_id(&vid),
    })
    .await;
    if let Ok(Err(e)) = saved {
        return Err(internal(e));
    }
    let (status, result, score) = outcome?;
    Ok(Json(json!({
        "status": status,
        "ref_id": ref_id,
        "verification_id": verification_id,
        "face_match_result": result,
        "face_match_score": score,
    })))
}

/// (status, face_match_result, face_match_score) for the pair, or a Cashfree error.
async fn run_match(
    state: &AppState,
    first: Vec<u8>,
    second: Vec<u8>,
    threshold: f64,
) -> Result<(&'static str, &'static str, f64), CashfreeError> {
    let engine = &state.engine;
    let (a, b) = super::analyse_pair(engine, first, second).await;
    let a = a.map_err(|e| CashfreeError::from(ApiError::for_image(&e, "first_image")))?;
    let b = b.map_err(|e| CashfreeError::from(ApiError::for_image(&e, "second_image")))?;
    for (r, name) in [(&a, "first_image"), (&b, "second_image")] {
        if r.embedding.is_none() {
            return Err(CashfreeError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                kind: "validation_error",
                code: "face_not_detected",
                message: format!("No face detected in {name}"),
            });
        }
    }
    // As the doc's example: several faces → MULTIPLE_FACE_DETECTED, NO, score 0.
    if a.face_count() > 1 || b.face_count() > 1 {
        return Ok(("MULTIPLE_FACE_DETECTED", "NO", 0.0));
    }
    let c = Comparison::of(a, b);
    let s = super::calibrated_score(engine, &c);
    // "the images match when the analysis is or greater than the value set for threshold"
    let result = if s as f64 >= threshold { "YES" } else { "NO" };
    Ok(("SUCCESS", result, vendor::cashfree_score(s)))
}

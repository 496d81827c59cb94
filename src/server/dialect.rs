//! Which API a path belongs to, by its prefix, for answers made before (or instead of) a handler:
//! unknown paths, wrong methods, the framework's own refusals (a malformed query or path), and
//! load shedding. Each answer is built by the API's own file, in its own shape.
use axum::extract::Request;
use axum::http::header;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::service::{CompareError, Slot};
use super::{cashfree, didit, error::ApiError, faceki, valify, videosdk};
use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Valify,
    Didit,
    Cashfree,
    VideoSdk,
    Faceki,
    Native,
}

impl Api {
    pub fn of_path(p: &str) -> Api {
        let under = |prefixes: &[&str]| prefixes.iter().any(|x| p.starts_with(x));
        if under(&["/api/"]) {
            Api::Valify
        } else if under(&["/v2/", "/v3/", "/auth/v2/", "/didit/"]) {
            Api::Didit
        } else if under(&["/verification/"]) {
            Api::Cashfree
        } else if under(&["/ai/"]) {
            Api::VideoSdk
        } else if under(&["/facelink/", "/getToken"]) {
            Api::Faceki
        } else {
            Api::Native
        }
    }

    pub fn not_found(self, path: &str) -> Response {
        match self {
            Api::Valify => valify::not_found().into_response(),
            Api::Didit => didit::not_found().into_response(),
            Api::Cashfree => cashfree::not_found().into_response(),
            Api::VideoSdk => videosdk::not_found().into_response(),
            Api::Faceki => faceki::not_found().into_response(),
            Api::Native => ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no route for {path}")).into_response(),
        }
    }

    /// The API's answer to a request refused before its handler ran (status and a safe message).
    pub fn refused(self, status: StatusCode, message: String) -> Response {
        match self {
            Api::Valify => valify::refused(status, message).into_response(),
            Api::Didit => didit::refused(status, message).into_response(),
            Api::Cashfree => cashfree::refused(status, message).into_response(),
            Api::VideoSdk => videosdk::refused(status, message).into_response(),
            Api::Faceki => faceki::refused(status, message).into_response(),
            Api::Native => ApiError::new(status, "invalid_request", message).into_response(),
        }
    }

    /// The API's own "busy" answer.
    pub fn busy(self) -> Response {
        let e = || CompareError { slot: Slot::A, error: Error::Busy };
        match self {
            Api::Valify => valify::ValifyError::from(e()).into_response(),
            Api::Didit => didit::DiditError::from(e()).into_response(),
            Api::Cashfree => cashfree::CashfreeError::from(e()).into_response(),
            Api::VideoSdk => videosdk::VideoSdkError::from(e()).into_response(),
            Api::Faceki => faceki::FacekiError::from(Error::Busy).into_response(),
            Api::Native => ApiError::from(&Error::Busy).into_response(),
        }
    }
}

/// The longest framework refusal text carried over into a shaped error.
const MAX_REFUSAL_TEXT: usize = 1024;

/// Error answers that are not JSON (axum's own refusals: a malformed query string or path segment,
/// a wrong content type, a wrong method's empty 405) are re-made in the shape of the path's API,
/// with the same status.
pub async fn in_shape(req: Request, next: Next) -> Response {
    let api = Api::of_path(req.uri().path());
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let mut keep = resp.headers().clone();
    let text = match axum::body::to_bytes(resp.into_body(), MAX_REFUSAL_TEXT).await {
        Ok(b) if !b.is_empty() => String::from_utf8_lossy(&b).trim().to_string(),
        _ => status.canonical_reason().unwrap_or("refused").to_string(),
    };
    let mut shaped = api.refused(status, text);
    // Headers the refusal carried that still apply (Allow on a 405, Retry-After).
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = keep.remove(&name) {
            shaped.headers_mut().insert(name, v);
        }
    }
    shaped
}

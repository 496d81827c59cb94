//! Engine errors to HTTP: the status for each error class lives here, once; each API shapes its
//! own body from an [`ApiError`].
use axum::http::StatusCode;

use crate::error::{Error, ErrorKind};
use crate::image_input::InputError;

/// An error on its way to a client: status, stable code, and a message safe to show (never an
/// internal detail: those go to the log).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    /// A 500 that says nothing about its cause (which goes to the log where it arose).
    pub fn internal() -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal server error")
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// The error for one named image of a request.
    pub fn for_image(e: &Error, image: &str) -> ApiError {
        let mut a = ApiError::from(e);
        if a.status != StatusCode::INTERNAL_SERVER_ERROR && a.status != StatusCode::SERVICE_UNAVAILABLE {
            a.message = format!("{image}: {}", a.message);
        }
        a
    }
}

impl From<&Error> for ApiError {
    fn from(e: &Error) -> ApiError {
        let status = match (e.kind(), e) {
            (_, Error::ImageTooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            (ErrorKind::InvalidImage, _) => StatusCode::BAD_REQUEST,
            (ErrorKind::NoFace, _) => StatusCode::UNPROCESSABLE_ENTITY,
            (ErrorKind::Busy, _) => StatusCode::SERVICE_UNAVAILABLE,
            (ErrorKind::Internal, _) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = match e.kind() {
            ErrorKind::Internal => {
                tracing::error!(error = %e, "internal error");
                "internal server error".to_string()
            }
            ErrorKind::Busy => "the server is busy; retry shortly".to_string(),
            _ => e.to_string(),
        };
        ApiError { status, code: e.code(), message }
    }
}

impl From<InputError> for ApiError {
    fn from(e: InputError) -> ApiError {
        match e {
            InputError::TooLarge { .. } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "image_too_large", e.to_string()),
            InputError::Empty => ApiError::bad_request("empty_image", e.to_string()),
            InputError::NotBase64 | InputError::NotImageDataUri => ApiError::bad_request("invalid_base64", e.to_string()),
        }
    }
}

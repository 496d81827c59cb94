//! The one multipart reader every API uses: file fields bounded by the upload limit, text fields by
//! their own small limit, both checked as the body streams in. Each API words [`FormError`] in its
//! own error shape.
use std::collections::HashMap;

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::StatusCode;

/// Text fields are short: ids, thresholds, flags, small JSON options.
pub const MAX_TEXT_FIELD: usize = 4096;

#[derive(Debug, Default)]
pub struct Form {
    pub files: HashMap<String, Vec<u8>>,
    pub text: HashMap<String, String>,
}

impl Form {
    pub fn text(&self, name: &str) -> Option<&str> {
        self.text.get(name).map(|s| s.trim())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FormError {
    #[error("expected a multipart/form-data body")]
    NotMultipart,
    #[error("the multipart body is malformed")]
    Malformed,
    #[error("the request body is larger than the server accepts")]
    BodyTooLarge,
    #[error("{field}: larger than {limit} bytes")]
    FileTooLarge { field: String, limit: usize },
    #[error("{field}: at most {limit} bytes")]
    TextTooLong { field: String, limit: usize },
}

/// Reads a multipart body: fields named in `file_fields` as bytes of at most `max_file`, every
/// other field as text of at most `max_text(name)` bytes. A repeated field keeps its last value.
pub async fn read(req: Request, file_fields: &[&str], max_file: usize, max_text: impl Fn(&str) -> usize) -> Result<Form, FormError> {
    let mut mp = Multipart::from_request(req, &()).await.map_err(|_| FormError::NotMultipart)?;
    let mut form = Form::default();
    let failed = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            FormError::BodyTooLarge
        } else {
            FormError::Malformed
        }
    };
    while let Some(mut field) = mp.next_field().await.map_err(failed)? {
        let name = field.name().unwrap_or_default().to_string();
        let is_file = file_fields.contains(&name.as_str());
        let limit = if is_file { max_file } else { max_text(&name) };
        // Chunk by chunk, so an oversized field is refused before it is held in memory whole.
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(failed)? {
            if bytes.len() + chunk.len() > limit {
                return Err(if is_file {
                    FormError::FileTooLarge { field: name, limit }
                } else {
                    FormError::TextTooLong { field: name, limit }
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        if is_file {
            form.files.insert(name, bytes);
        } else {
            form.text.insert(name, String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    Ok(form)
}

/// True when the request says it carries multipart/form-data.
pub fn is_multipart(headers: &axum::http::HeaderMap) -> bool {
    super::auth::header(headers, axum::http::header::CONTENT_TYPE.as_str())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"))
}

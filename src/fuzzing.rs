//! Entry points of the coverage-guided fuzz targets in `fuzz/` (`scripts/fuzz`), also replayed over
//! their seeds and every input a fuzzer ever found by `tests/fuzz_inputs.rs`. Each takes arbitrary
//! bytes, as a client could send them, and must neither panic nor hang nor allocate beyond the
//! limits the server applies; what the readers answer is not checked here, only that they answer.
use axum::body::Body;
use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use serde_json::Value;

use crate::decode::{decode, DecodeLimits};
use crate::defaults::MAX_UPLOAD_BYTES;
use crate::image_input::decode_base64_image;
use crate::server::{form, native, subjects, valify, videosdk};

/// The boundary the multipart target's bodies are read with (seeds use it; the fuzzer learns it).
pub const BOUNDARY: &str = "fuzzboundary";

/// Image decoding under the server's limits: every format the server accepts.
pub fn decode_image(data: &[u8]) {
    let _ = decode(data, &DecodeLimits::default());
}

/// A base64 image field (plain, padded or not, URL-safe, or a data URI).
pub fn base64_image(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = decode_base64_image(s, MAX_UPLOAD_BYTES);
    }
}

/// The multipart reader behind every multipart route, as the native routes and the vendors' file
/// fields use it.
pub fn multipart(data: &[u8]) {
    let request = || {
        Request::builder()
            .header(CONTENT_TYPE, format!("multipart/form-data; boundary={BOUNDARY}"))
            .body(Body::from(data.to_vec()))
            .unwrap_or_default()
    };
    block_on(async {
        if let Ok(fields) = native::read_body(request(), &["image_a", "image_b"], MAX_UPLOAD_BYTES).await {
            let _ = native::decision_threshold(&fields, crate::defaults::MATCH_THRESHOLD);
        }
        let _ = form::read(request(), &["selfie_image"], 64 * 1024, |_| form::MAX_TEXT_FIELD).await;
    });
}

/// The JSON request readers: the native one (images, `fmr`/`threshold`, `record`), a subject's
/// merge patch, Valify's and VideoSDK's bodies.
pub fn json(data: &[u8]) {
    if let Ok((images, text)) = native::json_fields(data, &["image_a", "image_b"], MAX_UPLOAD_BYTES) {
        let _ = native::decision_threshold(&native::Fields { images, text }, crate::defaults::MATCH_THRESHOLD);
    }
    let Ok(body) = serde_json::from_slice::<Value>(data) else { return };
    let _ = valify::request_of(&body, MAX_UPLOAD_BYTES);
    let _ = videosdk::images_of(&body, MAX_UPLOAD_BYTES);
    if let Ok(patch) = subjects::patch_of(&body) {
        let mut record = serde_json::json!({"fullName": "A", "status": "ACCEPTED", "nested": {"a": [1, 2]}});
        crate::store::merge_patch(&mut record, patch);
    }
}

/// Runs a reader's future on this thread's own runtime (one per thread, made once).
fn block_on<F: std::future::Future>(f: F) -> Option<F::Output> {
    thread_local! {
        static RUNTIME: Option<tokio::runtime::Runtime> = tokio::runtime::Builder::new_current_thread().build().ok();
    }
    RUNTIME.with(|rt| rt.as_ref().map(|rt| rt.block_on(f)))
}

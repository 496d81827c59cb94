//! Aligned face crops served at unguessable URLs for a while (Didit's `source_image` /
//! `target_image`): random 128-bit ids, 60-minute expiry, memory only, bounded in total size
//! (oldest evicted first). Nothing is written to disk.
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;

pub const TTL: Duration = Duration::from_secs(60 * 60);
pub const MAX_TOTAL_BYTES: usize = 32 * 1024 * 1024;

#[derive(Default)]
struct Inner {
    map: HashMap<String, (Vec<u8>, Instant)>,
    order: VecDeque<String>,
    bytes: usize,
}

#[derive(Default)]
pub struct CropCache {
    inner: Mutex<Inner>,
}

impl CropCache {
    /// Stores a JPEG and returns its id.
    pub fn put(&self, jpeg: Vec<u8>) -> String {
        let id = crate::store::random_hex(16);
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        g.bytes += jpeg.len();
        g.map.insert(id.clone(), (jpeg, now + TTL));
        g.order.push_back(id.clone());
        while g.bytes > MAX_TOTAL_BYTES || g.order.front().is_some_and(|f| g.map.get(f).is_none_or(|e| e.1 <= now)) {
            let Some(old) = g.order.pop_front() else { break };
            if let Some((b, _)) = g.map.remove(&old) {
                g.bytes -= b.len();
            }
        }
        id
    }

    pub fn get(&self, id: &str) -> Option<Vec<u8>> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.map.get(id).filter(|e| e.1 > Instant::now()).map(|e| e.0.clone())
    }
}

/// Encodes an aligned crop as JPEG.
pub fn jpeg(img: &image::RgbImage) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(img).ok()?;
    Some(out)
}

/// An aligned face crop linked from a Didit response (`source_image` / `target_image`).
#[utoipa::path(get, path = "/didit/images/{id}", tag = "didit",
    params(("id" = String, Path, description = "The crop's random id followed by `.jpg`")),
    responses((status = 200, description = "JPEG", content_type = "image/jpeg"), (status = 404, description = "Unknown or expired")))]
pub async fn serve_crop(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let id = id.trim_end_matches(".jpg");
    match (id.len() == 32).then(|| state.crops.get(id)).flatten() {
        Some(bytes) => ([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "private, max-age=3600")], bytes).into_response(),
        None => (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"detail": "Not found."}))).into_response(),
    }
}

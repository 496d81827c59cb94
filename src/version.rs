//! What identifies this build: the crate version and a fingerprint of the code that turns image
//! bytes into an embedding. The fingerprint keys the eval embedding cache (a change to decoding,
//! detection or alignment never reuses stale embeddings) and goes into every eval report.
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// The sources of every stage from bytes to embedding, compiled in so the fingerprint is the
/// build's own and needs no git checkout.
const PIPELINE_SOURCES: [&str; 10] = [
    include_str!("decode.rs"),
    include_str!("detect/mod.rs"),
    include_str!("detect/nms.rs"),
    include_str!("detect/scrfd.rs"),
    include_str!("detect/yunet.rs"),
    include_str!("letterbox.rs"),
    include_str!("align.rs"),
    include_str!("embed.rs"),
    include_str!("engine.rs"),
    include_str!("manifest.rs"),
];

/// The first 16 hex digits of the SHA-256 of the crate version and the pipeline sources.
pub fn pipeline_fingerprint() -> &'static str {
    static FP: OnceLock<String> = OnceLock::new();
    FP.get_or_init(|| {
        let mut h = Sha256::new();
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        for s in PIPELINE_SOURCES {
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        }
        hex::encode(&h.finalize()[..8])
    })
}

/// `0.1.0 (pipeline 1a2b3c4d5e6f7081)`.
pub fn engine_version() -> String {
    format!("{} (pipeline {})", env!("CARGO_PKG_VERSION"), pipeline_fingerprint())
}

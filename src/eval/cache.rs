//! Per-image embedding cache for `facematch eval`, so reruns on the same photos are fast. Keyed by
//! the pack's model files and settings and by the build's pipeline code ([`crate::version`]), and
//! per image by path, size and modification time. Lives in the setup cache (never in the repository); `--no-cache` turns it off.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ImageResult;
use crate::manifest::Manifest;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    embedding: Option<Vec<f32>>,
    faces: usize,
    low_confidence: bool,
}

pub struct EmbeddingCache {
    file: PathBuf,
    entries: HashMap<String, Entry>,
    dirty: bool,
}

fn image_key(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let mtime = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
    Some(format!("{}|{}|{}", path.canonicalize().ok()?.display(), meta.len(), mtime))
}

impl EmbeddingCache {
    pub fn open(dir: &Path, manifest: &Manifest) -> EmbeddingCache {
        // Everything that changes an embedding: the files, the detection / alignment settings and
        // the code that runs them.
        let settings = serde_json::to_string(&(&manifest.detector, &manifest.embedder)).unwrap_or_default();
        let fingerprint = format!("{settings}|{}", crate::version::pipeline_fingerprint());
        let hash = hex::encode(&Sha256::digest(fingerprint.as_bytes())[..8]);
        let file = dir.join(format!("{}-{hash}.json", manifest.name));
        let entries = std::fs::read(&file).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        EmbeddingCache { file, entries, dirty: false }
    }

    pub fn get(&self, path: &Path) -> Option<ImageResult> {
        let e = self.entries.get(&image_key(path)?)?;
        Some(ImageResult { embedding: e.embedding.clone(), faces: e.faces, low_confidence: e.low_confidence, error: None })
    }

    pub fn put(&mut self, path: &Path, r: &ImageResult) {
        if r.error.is_some() {
            return; // failures are not cached: the file may be fixed
        }
        if let Some(k) = image_key(path) {
            self.entries.insert(k, Entry { embedding: r.embedding.clone(), faces: r.faces, low_confidence: r.low_confidence });
            self.dirty = true;
        }
    }

    pub fn save(&self) -> std::io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        if let Some(d) = self.file.parent() {
            std::fs::create_dir_all(d)?;
        }
        let tmp = self.file.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(&self.entries)?)?;
        std::fs::rename(tmp, &self.file)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

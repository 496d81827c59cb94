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
        Self::open_for(dir, manifest, crate::version::pipeline_fingerprint())
    }

    /// The cache of `manifest`'s settings run by pipeline code `code` (a fingerprint).
    fn open_for(dir: &Path, manifest: &Manifest, code: &str) -> EmbeddingCache {
        // Everything that changes an embedding: the files, the detection / alignment settings and
        // the code that runs them.
        let settings = serde_json::to_string(&(&manifest.detector, &manifest.embedder)).unwrap_or_default();
        let fingerprint = format!("{settings}|{code}");
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Another build of the pipeline code, or another setting, never reads this one's embeddings.
    #[test]
    fn keyed_by_code_and_settings() {
        let dir = std::env::temp_dir().join(format!("fm-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let manifest = crate::manifest::Pack::resolve(crate::manifest::DEFAULT_PACK, Path::new("/nonexistent")).unwrap().manifest;
        let image = dir.join("a.jpg");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&image, b"bytes").unwrap();
        let result = ImageResult { embedding: Some(vec![1.0, 0.0]), faces: 1, low_confidence: false, error: None };
        let mut c = EmbeddingCache::open_for(&dir, &manifest, "build-1");
        c.put(&image, &result);
        c.save().unwrap();
        assert!(EmbeddingCache::open_for(&dir, &manifest, "build-1").get(&image).is_some());
        assert!(EmbeddingCache::open_for(&dir, &manifest, "build-2").get(&image).is_none());
        let mut flip = manifest.clone();
        flip.embedder.tta = crate::manifest::Tta::Flip;
        assert!(EmbeddingCache::open_for(&dir, &flip, "build-1").get(&image).is_none());
        std::fs::remove_dir_all(&dir).ok();
    }
}

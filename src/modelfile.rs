//! Checks a model file before ONNX Runtime sees it, so that a wrong file is named and explained
//! (an HTML error page, a Git LFS pointer, a truncated download) instead of failing deep inside ORT.
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::manifest::ModelFile;

pub fn verify(path: &Path, spec: &ModelFile) -> Result<Vec<u8>> {
    let fail = |reason: String| Error::ModelFile { path: path.to_path_buf(), reason };
    let mut file = std::fs::File::open(path).map_err(|e| {
        fail(if e.kind() == std::io::ErrorKind::NotFound {
            "not found (run scripts/setup, or set --models-dir / FACEMATCH_MODELS_DIR)".to_string()
        } else {
            e.to_string()
        })
    })?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|e| fail(e.to_string()))?;
    if let Some(reason) = explain_non_model(&bytes) {
        return Err(fail(reason));
    }
    if let Some(size) = spec.size {
        if (bytes.len() as u64) < size {
            return Err(fail(format!(
                "is {} bytes but the pack expects {size}: a truncated download (run scripts/setup again)",
                bytes.len()
            )));
        }
    }
    if let Some(expected) = &spec.sha256 {
        let got = hex::encode(Sha256::digest(&bytes));
        if !got.eq_ignore_ascii_case(expected) {
            return Err(fail(format!(
                "sha256 is {got}, the pack expects {expected}: a different or damaged file (run scripts/setup again)"
            )));
        }
    }
    Ok(bytes)
}

/// Recognises files commonly saved by mistake under an `.onnx` name.
pub fn explain_non_model(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() {
        return Some("is empty (0 bytes): an interrupted download".into());
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_ascii_lowercase();
    let trimmed = head.trim_start();
    if trimmed.starts_with("version https://git-lfs") {
        return Some("is a Git LFS pointer, not the model: fetch the real file (git lfs pull) or run scripts/setup".into());
    }
    if trimmed.starts_with("<!doctype html") || trimmed.starts_with("<html") || trimmed.starts_with("<?xml") {
        return Some("is an HTML/XML page (a download link saved instead of the file), not an ONNX model".into());
    }
    if trimmed.starts_with('{') {
        return Some("is a JSON document, not an ONNX model".into());
    }
    // An ONNX ModelProto starts with field 1 (ir_version, varint): tag byte 0x08.
    if bytes[0] != 0x08 {
        return Some("does not look like an ONNX model (it does not start with an ONNX header)".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explains_common_mistakes() {
        assert!(explain_non_model(b"").unwrap().contains("empty"));
        assert!(explain_non_model(b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\n").unwrap().contains("LFS"));
        assert!(explain_non_model(b"\n<!DOCTYPE html><html>").unwrap().contains("HTML"));
        assert!(explain_non_model(b"\x08\x07\x12\x04").is_none());
    }

    #[test]
    fn names_the_file_on_checksum_and_size_errors() {
        let dir = std::env::temp_dir().join(format!("fm-modelfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.onnx");
        std::fs::write(&path, b"\x08\x07rest").unwrap();
        let spec = ModelFile { file: "m.onnx".into(), sha256: Some("00".repeat(32)), size: None };
        let err = verify(&path, &spec).unwrap_err().to_string();
        assert!(err.contains("m.onnx") && err.contains("sha256"), "{err}");
        let spec = ModelFile { file: "m.onnx".into(), sha256: None, size: Some(1000) };
        assert!(verify(&path, &spec).unwrap_err().to_string().contains("truncated"));
        let missing = verify(&dir.join("none.onnx"), &spec).unwrap_err().to_string();
        assert!(missing.contains("scripts/setup"), "{missing}");
        std::fs::remove_dir_all(&dir).ok();
    }
}

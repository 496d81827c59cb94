//! Model packs as data: a TOML manifest names the detector and embedder files, their checksums and
//! every pre-/post-processing constant, so users bring other ONNX models without code changes.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::calibration::Calibration;
use crate::error::{Error, Result};

/// Packs compiled into the binary. A user's own pack is a manifest file: give its path, or drop it in
/// the models directory as NAME.toml (built-in names always mean the built-in packs).
pub const BUILTIN_PACKS: &[(&str, &str)] =
    &[("yunet-sface", include_str!("../models/yunet-sface.toml")), ("scrfd-sface", include_str!("../models/scrfd-sface.toml"))];

/// The licence-clean default pack (MIT YuNet + Apache-2.0 SFace).
pub const DEFAULT_PACK: &str = "yunet-sface";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Human-readable licence summary of the pack's weights.
    #[serde(default)]
    pub licence: String,
    pub detector: DetectorSpec,
    pub embedder: EmbedderSpec,
    /// The score calibration of this pack with the embedder's `tta` as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    /// The calibration with flip test-time augmentation (its scores are another distribution).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration_flip: Option<Calibration>,
}

impl Manifest {
    /// Identifies the embedding space of enrolled faces: the embedder's sha256 when pinned, else its
    /// file name. A face enrolled under another id cannot be compared and must be enrolled again.
    pub fn embedding_model_id(&self) -> String {
        let id = match &self.embedder.model.sha256 {
            Some(sha) => format!("{}@sha256:{}", self.embedder.model.file, &sha[..sha.len().min(16)]),
            None => self.embedder.model.file.clone(),
        };
        // Flipped-and-summed embeddings are another space: never searched against plain ones.
        match self.embedder.tta {
            Tta::None => id,
            Tta::Flip => format!("{id}+flip"),
        }
    }

    /// The manifest as the engine runs it, with test-time augmentation `tta` (the file's own when
    /// `None`). A manifest file keeps `calibration` (measured without TTA) and `calibration_flip`;
    /// the running manifest's `calibration` is the one measured with its `tta` (none when it was
    /// not calibrated so). Applied once, when the engine loads the pack.
    pub fn running(mut self, tta: Option<Tta>) -> Manifest {
        let tta = tta.unwrap_or(self.embedder.tta);
        self.embedder.tta = tta;
        match tta {
            Tta::Flip => self.calibration = self.calibration_flip.take(),
            Tta::None => self.calibration_flip = None,
        }
        self
    }

    /// The manifest section `facematch calibrate` writes for this manifest's `tta`.
    pub fn calibration_section(&self) -> &'static str {
        match self.embedder.tta {
            Tta::None => "calibration",
            Tta::Flip => "calibration_flip",
        }
    }

    /// The calibrated score and FMR of a cosine similarity, when the pack is calibrated.
    pub fn calibrated(&self, cosine: f32) -> Option<crate::calibration::Calibrated> {
        self.calibration.as_ref().map(|c| c.calibrate(cosine))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DetectorKind {
    /// OpenCV Zoo YuNet (2023mar): one anchor per cell, cls × obj scores, named outputs.
    Yunet,
    /// InsightFace SCRFD with 5 keypoints: two anchors per cell, distance-encoded boxes.
    Scrfd,
}

/// Test-time augmentation of the embedder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Tta {
    /// The aligned face alone.
    #[default]
    None,
    /// The aligned face and its mirror image, embedded both, summed and normalized again.
    Flip,
}

impl Tta {
    pub fn is_none(&self) -> bool {
        *self == Tta::None
    }
}

impl std::fmt::Display for Tta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tta::None => "none",
            Tta::Flip => "flip",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColorOrder {
    Rgb,
    Bgr,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// Path relative to the manifest's base directory (the models directory for built-in packs).
    pub file: String,
    /// Expected sha256 of the file; checked at load. Optional for user packs.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Expected size in bytes, used to explain a truncated download.
    #[serde(default)]
    pub size: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorSpec {
    pub kind: DetectorKind,
    #[serde(flatten)]
    pub model: ModelFile,
    /// Square network input; images are letterboxed (top-left, zero pad) to it. With `free_input`,
    /// the longest side the detector sees.
    pub input_size: u32,
    /// Set when the model's input height and width are free (symbolic in the ONNX file): each image
    /// is then fed at its own aspect ratio, its longest side between `min_side` and `input_size`,
    /// padded to a multiple of the network's largest stride. Checked against the model at load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_input: Option<FreeInput>,
    /// A second look at the chosen face, on a crop around it enlarged to `face_px`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refine: Option<Refine>,
    pub color_order: ColorOrder,
    /// Input normalization: (pixel - mean) / std, on 0..255 values.
    pub mean: f32,
    pub std: f32,
    pub score_threshold: f32,
    pub nms_iou: f32,
    /// When no face reaches `score_threshold`, a comparison falls back to the best detection at or
    /// above this floor and marks it low-confidence.
    pub fallback_floor: f32,
    /// Candidates kept (by score) before NMS.
    #[serde(default = "default_top_k")]
    pub top_k: usize,
    /// The runtime this model runs on (`--backend` overrides it).
    #[serde(default, skip_serializing_if = "Backend::is_default")]
    pub backend: Backend,
}

fn default_top_k() -> usize {
    5000
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreeInput {
    /// Images whose longest side is smaller are enlarged to it (0: never enlarge).
    #[serde(default)]
    pub min_side: u32,
    /// The canvas is rounded up to this (the network's largest stride).
    #[serde(default = "default_multiple")]
    pub multiple: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refine {
    /// The face's longest box side in the second pass, in detector-input pixels.
    pub face_px: f32,
    /// The crop's side as a multiple of the face's box side.
    pub context: f32,
}

fn default_multiple() -> u32 {
    32
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedderSpec {
    #[serde(flatten)]
    pub model: ModelFile,
    /// Square aligned-crop size (112 for ArcFace-style models).
    pub input_size: u32,
    pub color_order: ColorOrder,
    pub mean: f32,
    pub std: f32,
    /// Embedding dimension (checked against the model's output).
    pub dim: usize,
    /// Five landmark positions in the aligned crop: right eye, left eye, nose, right and left mouth
    /// corner (subject's right = image left).
    pub template: [[f32; 2]; 5],
    /// Test-time augmentation (`none` by default; `--tta` overrides it).
    #[serde(default, skip_serializing_if = "Tta::is_none")]
    pub tta: Tta,
    /// The runtime this model runs on (`--backend` overrides it).
    #[serde(default, skip_serializing_if = "Backend::is_default")]
    pub backend: Backend,
}

/// A manifest together with the directory its relative file paths resolve against.
#[derive(Debug, Clone)]
pub struct Pack {
    pub manifest: Manifest,
    pub base_dir: PathBuf,
    /// Where the manifest came from (a path, or `builtin:NAME`), for messages.
    pub source: String,
}

impl Pack {
    /// Resolves `--pack`: a path to a `.toml` file; else a built-in pack; else `NAME.toml` in the
    /// models directory.
    pub fn resolve(pack: &str, models_dir: &Path) -> Result<Pack> {
        let as_path = Path::new(pack);
        if pack.ends_with(".toml") || pack.contains('/') {
            let text = std::fs::read_to_string(as_path).map_err(|e| Error::Manifest { path: pack.to_string(), reason: e.to_string() })?;
            let base = as_path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
            return Self::parse(&text, base, pack.to_string());
        }
        if let Some((name, text)) = BUILTIN_PACKS.iter().find(|(name, _)| *name == pack) {
            return Self::parse(text, models_dir.to_path_buf(), format!("builtin:{name}"));
        }
        let in_models = models_dir.join(format!("{pack}.toml"));
        match in_models.is_file() {
            true => {
                let text = std::fs::read_to_string(&in_models)
                    .map_err(|e| Error::Manifest { path: in_models.display().to_string(), reason: e.to_string() })?;
                Self::parse(&text, models_dir.to_path_buf(), in_models.display().to_string())
            }
            false => Err(Error::Manifest {
                path: pack.to_string(),
                reason: format!(
                    "no such pack (built-in packs: {}; or give a path to a .toml manifest)",
                    BUILTIN_PACKS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                ),
            }),
        }
    }

    pub fn parse(text: &str, base_dir: PathBuf, source: String) -> Result<Pack> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| Error::Manifest { path: source.clone(), reason: e.to_string() })?;
        let bad = |reason: &str| Error::Manifest { path: source.clone(), reason: reason.to_string() };
        let d = &manifest.detector;
        if d.input_size < 32 || !d.input_size.is_multiple_of(32) {
            return Err(bad("detector.input_size must be a positive multiple of 32"));
        }
        if let Some(f) = d.free_input {
            if f.multiple == 0 || !f.multiple.is_multiple_of(32) || f.min_side > d.input_size {
                return Err(bad("detector.free_input.multiple must be a positive multiple of 32 and min_side at most input_size"));
            }
        }
        if !(0.0..=1.0).contains(&d.score_threshold) || !(0.0..=1.0).contains(&d.fallback_floor) {
            return Err(bad("detector thresholds must lie in 0..1"));
        }
        if d.std == 0.0 || manifest.embedder.std == 0.0 {
            return Err(bad("std must not be zero"));
        }
        if manifest.embedder.dim == 0 || manifest.embedder.input_size < 16 {
            return Err(bad("embedder.dim and embedder.input_size must be positive"));
        }
        Ok(Pack { manifest, base_dir, source })
    }

    pub fn detector_path(&self) -> PathBuf {
        self.base_dir.join(&self.manifest.detector.model.file)
    }

    pub fn embedder_path(&self) -> PathBuf {
        self.base_dir.join(&self.manifest.embedder.model.file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_packs_parse() {
        for (name, text) in BUILTIN_PACKS {
            let pack = Pack::parse(text, PathBuf::from("/m"), name.to_string()).unwrap();
            assert_eq!(&pack.manifest.name, name);
        }
    }

    #[test]
    fn unknown_pack_and_bad_fields_are_explained() {
        let err = Pack::resolve("nope", Path::new("/nonexistent")).unwrap_err().to_string();
        assert!(err.contains("yunet-sface"), "{err}");
        let text = BUILTIN_PACKS[0].1.replace("input_size = 640", "input_size = 100");
        let err = Pack::parse(&text, PathBuf::new(), "t".into()).unwrap_err().to_string();
        assert!(err.contains("multiple of 32"), "{err}");
    }
}

#[cfg(test)]
mod tta_tests {
    use super::*;

    /// The default pack ships a calibration for each option; the running manifest uses the one of
    /// its option, and its embedding space is named apart.
    #[test]
    fn each_option_runs_with_its_own_calibration() {
        let pack = Pack::resolve(DEFAULT_PACK, Path::new("/nonexistent")).unwrap();
        let at = |m: &Manifest| m.calibration.as_ref().map(|c| c.cosine_for_score(0.5));
        let plain = pack.manifest.clone().running(None);
        let flip = pack.manifest.clone().running(Some(Tta::Flip));
        let (p, f) = (at(&plain).unwrap(), at(&flip).unwrap());
        assert!(p != f && (p - f).abs() < 0.05, "plain {p}, flip {f}");
        assert_eq!(plain.calibration_section(), "calibration");
        assert_eq!(flip.calibration_section(), "calibration_flip");
        assert!(flip.embedding_model_id().ends_with("+flip") && !plain.embedding_model_id().ends_with("+flip"));
        // A file that says `tta = "flip"` runs with flip unless told otherwise.
        let mut m = pack.manifest.clone();
        m.embedder.tta = Tta::Flip;
        assert_eq!(at(&m.clone().running(None)), Some(f));
        assert_eq!(at(&m.running(Some(Tta::None))), Some(p));
    }
}

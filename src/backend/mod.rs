//! Inference backends. Each model of a pack runs on one backend, named per model in the manifest
//! (`backend = "openvino"`) and overridden for all by `--backend`: ONNX Runtime (every model), or
//! OpenVINO (its CPU plugin fuses SFace's PReLUs into the convolutions: several times faster there,
//! slower on YuNet). Both runtimes are shared libraries from pinned PyPI wheels (scripts/setup), loaded
//! at run time and found by flag/env, then next to the executable, then in the models directory. The
//! rest of the engine sees a [`Session`]: one model, one input, its outputs as f32 slices.
pub mod onnxruntime;
pub mod openvino;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The runtime a model runs on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// ONNX Runtime 1.31.1 (libonnxruntime from the `onnxruntime` wheel).
    #[default]
    Onnxruntime,
    /// OpenVINO 2026.4.1's CPU plugin (five libraries from the `openvino` wheel).
    Openvino,
}

impl Backend {
    pub fn is_default(&self) -> bool {
        *self == Backend::default()
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Onnxruntime => "onnxruntime",
            Backend::Openvino => "openvino",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One loaded model: a single NCHW f32 input, f32 outputs. Owned by one inference thread.
pub trait Session: Send {
    /// The input's dimensions as the model declares them; -1 where a dimension is free.
    fn input_dims(&self) -> Vec<i64>;
    /// Output names, in the order [`Session::run`] hands the outputs over.
    fn output_names(&self) -> &[String];
    /// Runs the model on `input` of `shape` and hands every output to `read`, borrowed until it returns.
    fn run(&mut self, input: &[f32], shape: [usize; 4], read: &mut dyn FnMut(&[&[f32]]) -> Result<()>) -> Result<()>;
}

/// Where each runtime's library is looked for.
#[derive(Debug, Clone, Default)]
pub struct LibraryPaths {
    pub models_dir: PathBuf,
    /// Explicit ONNX Runtime library (`--ort-lib`).
    pub ort_lib: Option<PathBuf>,
    /// Explicit OpenVINO C library (`--openvino-lib`).
    pub openvino_lib: Option<PathBuf>,
}

/// The runtimes a pack needs, loaded once per process; cheap to clone into worker threads.
#[derive(Clone)]
pub struct Runtimes {
    ort: Option<ort::environment::Environment>,
    openvino: bool,
}

impl Runtimes {
    /// Loads the library of every backend in `needed`.
    pub fn load(paths: &LibraryPaths, needed: &[Backend]) -> Result<Runtimes> {
        let mut runtimes = Runtimes { ort: None, openvino: false };
        if needed.contains(&Backend::Onnxruntime) {
            let lib = onnxruntime::resolve_lib(paths.ort_lib.as_deref(), &paths.models_dir)?;
            runtimes.ort = Some(onnxruntime::environment(&lib)?);
        }
        if needed.contains(&Backend::Openvino) {
            openvino::load(&openvino::resolve_lib(paths.openvino_lib.as_deref(), &paths.models_dir)?)?;
            runtimes.openvino = true;
        }
        Ok(runtimes)
    }

    /// A session of the model in `bytes` (`path` names it in errors) on `backend`, with `intra`
    /// threads inside one inference.
    pub fn session(&self, backend: Backend, bytes: &[u8], intra: usize, path: &Path) -> Result<Box<dyn Session>> {
        let named = |reason: String| Error::ModelFile { path: path.to_path_buf(), reason };
        match backend {
            Backend::Onnxruntime => {
                let env = self.ort.as_ref().ok_or_else(|| Error::Internal("ONNX Runtime was not loaded".into()))?;
                let session = onnxruntime::session_from_bytes(env, bytes, intra)
                    .map_err(|e| named(format!("ONNX Runtime could not load it: {e}")))?;
                Ok(Box::new(onnxruntime::OrtSession::new(session).map_err(|e| named(e.to_string()))?))
            }
            Backend::Openvino => {
                if !self.openvino {
                    return Err(Error::Internal("OpenVINO was not loaded".into()));
                }
                let session =
                    openvino::OpenVinoSession::new(bytes, intra).map_err(|e| named(format!("OpenVINO could not load it: {e}")))?;
                Ok(Box::new(session))
            }
        }
    }
}

/// Resolves a runtime library: the explicit path when given (it must exist), else the first of
/// `candidates` that exists. `hint` says how to get one.
fn find_lib(runtime: &'static str, explicit: Option<&Path>, candidates: &[PathBuf], hint: &str) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return match p.is_file() {
            true => Ok(p.to_path_buf()),
            false => Err(Error::RuntimeLoad { runtime, path: p.to_path_buf(), reason: "not found".into() }),
        };
    }
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| Error::RuntimeLoad {
        runtime,
        path: candidates.last().cloned().unwrap_or_default(),
        reason: format!("not found next to the executable nor in the models directory ({hint})"),
    })
}

/// `name` next to the running executable, then `in_models` under the models directory.
fn lib_candidates(name: &str, models_dir: &Path, in_models: &Path) -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::current_exe().ok().as_deref().and_then(Path::parent) {
        candidates.push(dir.join(name));
    }
    candidates.push(models_dir.join(in_models));
    candidates
}

/// Default models directory: `$FACEMATCH_MODELS_DIR` is handled by clap; this is the fallback:
/// `models/` next to the executable when there is one (an installed bundle), else the directory
/// scripts/setup fills, `${XDG_CACHE_HOME:-~/.cache}/facematch/models`.
pub fn default_models_dir() -> PathBuf {
    if let Some(beside) = std::env::current_exe().ok().as_deref().and_then(Path::parent).map(|d| d.join("models")) {
        if beside.is_dir() {
            return beside;
        }
    }
    let cache = std::env::var_os("FACEMATCH_CACHE_DIR").map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(|| PathBuf::from(".cache"))
            .join("facematch")
    });
    cache.join("models")
}

impl Runtimes {
    /// Settles the backend of each model and loads what they need. `forced` (`--backend`) puts every
    /// model on one backend, and a runtime it names must load. Without it each model keeps its
    /// manifest's backend, except that a model the manifest puts on OpenVINO falls back to ONNX
    /// Runtime, with a warning, when no OpenVINO library is installed (and none was named): the same
    /// answers, only slower, so an ONNX-Runtime-only install keeps working.
    pub fn for_models(paths: &LibraryPaths, forced: Option<Backend>, models: &mut [&mut Backend]) -> Result<Runtimes> {
        match forced {
            Some(b) => models.iter_mut().for_each(|m| **m = b),
            None if paths.openvino_lib.is_none() && models.iter().any(|m| **m == Backend::Openvino) => {
                if let Err(e) = openvino::resolve_lib(None, &paths.models_dir) {
                    tracing::warn!("{e}: the models the pack puts on OpenVINO run on ONNX Runtime instead");
                    models.iter_mut().for_each(|m| **m = Backend::Onnxruntime);
                }
            }
            None => {}
        }
        let needed: Vec<Backend> = models.iter().map(|m| **m).collect();
        Runtimes::load(paths, &needed)
    }
}

//! Loading ONNX Runtime itself. The shared library comes from the pinned PyPI wheel (scripts/setup);
//! it is found by flag/env, then next to the executable, then in the models directory. ONNX Runtime
//! allows one environment per process, so it is created once and shared.
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, Result};

pub const ORT_LIB_NAME: &str = "libonnxruntime.so.1.31.1";

static ENVIRONMENT: OnceLock<std::result::Result<ort::environment::Environment, String>> = OnceLock::new();

/// Default models directory: `$FACEMATCH_MODELS_DIR` is handled by clap; this is the fallback that
/// matches scripts/setup: `${XDG_CACHE_HOME:-~/.cache}/facematch/models`.
pub fn default_models_dir() -> PathBuf {
    let cache = std::env::var_os("FACEMATCH_CACHE_DIR").map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(|| PathBuf::from(".cache"))
            .join("facematch")
    });
    cache.join("models")
}

/// Where the ONNX Runtime library is looked for, in order.
pub fn resolve_ort_lib(explicit: Option<&Path>, models_dir: &Path) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(Error::RuntimeLoad { path: p.to_path_buf(), reason: "not found".into() })
        };
    }
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::current_exe().ok().as_deref().and_then(Path::parent) {
        candidates.push(dir.join(ORT_LIB_NAME));
    }
    candidates.push(models_dir.join(ORT_LIB_NAME));
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| Error::RuntimeLoad {
        path: models_dir.join(ORT_LIB_NAME),
        reason: format!(
            "not found next to the executable nor in the models directory {} (run scripts/setup, or pass --ort-lib / FACEMATCH_ORT_LIB)",
            models_dir.display()
        ),
    })
}

/// Loads the library and creates the process-wide environment (once; later calls reuse it).
pub fn environment(lib: &Path) -> Result<ort::environment::Environment> {
    let env = ENVIRONMENT.get_or_init(|| {
        let builder = ort::init_from(lib).map_err(|e| format!("{e}"))?;
        builder.with_name("facematch").build().map_err(|e| format!("{e}"))
    });
    env.clone().map_err(|reason| Error::RuntimeLoad { path: lib.to_path_buf(), reason })
}

/// One session from model bytes, all graph optimizations on, `intra` intra-op threads.
pub fn session_from_bytes(env: &ort::environment::Environment, bytes: &[u8], intra: usize) -> Result<ort::session::Session> {
    use ort::session::builder::GraphOptimizationLevel;
    let mut builder = ort::session::Session::builder(env)?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(ort::Error::from)?
        .with_intra_threads(intra)
        .map_err(ort::Error::from)?
        .with_inter_threads(1)
        .map_err(ort::Error::from)?;
    Ok(builder.commit_from_memory(bytes)?)
}

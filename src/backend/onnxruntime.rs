//! ONNX Runtime. The shared library comes from the pinned PyPI wheel (scripts/setup). ONNX Runtime
//! allows one environment per process, so it is created once and shared.
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::value::TensorRef;

use super::Session;
use crate::error::{Error, Result};

pub const ORT_LIB_NAME: &str = "libonnxruntime.so.1.31.1";

static ENVIRONMENT: OnceLock<std::result::Result<ort::environment::Environment, String>> = OnceLock::new();

/// Where the ONNX Runtime library is looked for: the flag, next to the executable, the models directory.
pub fn resolve_lib(explicit: Option<&Path>, models_dir: &Path) -> Result<PathBuf> {
    let candidates = super::lib_candidates(ORT_LIB_NAME, models_dir, Path::new(ORT_LIB_NAME));
    super::find_lib("ONNX Runtime", explicit, &candidates, "run scripts/setup, or pass --ort-lib / FACEMATCH_ORT_LIB")
}

/// Loads the library and creates the process-wide environment (once; later calls reuse it).
pub fn environment(lib: &Path) -> Result<ort::environment::Environment> {
    let env = ENVIRONMENT.get_or_init(|| {
        let builder = ort::init_from(lib).map_err(|e| format!("{e}"))?;
        builder.with_name("facematch").build().map_err(|e| format!("{e}"))
    });
    env.clone().map_err(|reason| Error::RuntimeLoad { runtime: "ONNX Runtime", path: lib.to_path_buf(), reason })
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

/// An ONNX Runtime session behind [`Session`].
pub struct OrtSession {
    session: ort::session::Session,
    input: String,
    outputs: Vec<String>,
}

impl OrtSession {
    pub fn new(session: ort::session::Session) -> Result<OrtSession> {
        let input =
            session.inputs().first().map(|i| i.name().to_string()).ok_or_else(|| Error::Internal("the model has no input".into()))?;
        let outputs = session.outputs().iter().map(|o| o.name().to_string()).collect();
        Ok(OrtSession { session, input, outputs })
    }
}

impl Session for OrtSession {
    fn input_dims(&self) -> Vec<i64> {
        self.session.inputs().first().and_then(|i| i.dtype().tensor_shape()).map(|s| s.iter().copied().collect()).unwrap_or_default()
    }

    fn output_names(&self) -> &[String] {
        &self.outputs
    }

    fn run(&mut self, input: &[f32], shape: [usize; 4], read: &mut dyn FnMut(&[&[f32]]) -> Result<()>) -> Result<()> {
        let tensor = TensorRef::from_array_view((shape, input))?;
        let outputs = self.session.run(ort::inputs![self.input.as_str() => tensor])?;
        let mut tensors: Vec<&[f32]> = Vec::with_capacity(self.outputs.len());
        for name in &self.outputs {
            tensors.push(outputs[name.as_str()].try_extract_tensor::<f32>()?.1);
        }
        read(&tensors)
    }
}

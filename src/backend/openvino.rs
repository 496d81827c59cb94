//! OpenVINO's CPU plugin through the C API (`openvino` crate, runtime linking). Five libraries of the
//! pinned `openvino` wheel (the core, its C API, the CPU plugin, the ONNX frontend, TBB) sit together
//! in one directory: the core finds its plugin and frontend beside itself. ONNX models are read from
//! memory, so the bytes whose sha256 was checked are the bytes compiled.
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use openvino::{CompiledModel, Core, DeviceType, ElementType, InferRequest, RwPropertyKey, Shape, Tensor};

use super::Session;
use crate::error::{Error, Result};

/// The C API's library name in the 2026.4.1 wheel.
pub const LIB_NAME: &str = "libopenvino_c.so.2641";
/// The directory under the models directory that scripts/setup fills.
pub const DIR_NAME: &str = "openvino-2026.4.1";

static LOADED: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Where the OpenVINO C library is looked for: the flag, next to the executable, the models directory.
pub fn resolve_lib(explicit: Option<&Path>, models_dir: &Path) -> Result<PathBuf> {
    let candidates = super::lib_candidates(LIB_NAME, models_dir, &Path::new(DIR_NAME).join(LIB_NAME));
    super::find_lib("OpenVINO", explicit, &candidates, "run scripts/setup, or pass --openvino-lib / FACEMATCH_OPENVINO_LIB")
}

/// Loads the library once per process; a later call with another path is refused, not ignored. A
/// failed load is not remembered, so a corrected path can be tried again.
pub fn load(lib: &Path) -> Result<()> {
    let fail = |reason: String| Error::RuntimeLoad { runtime: "OpenVINO", path: lib.to_path_buf(), reason };
    let mut loaded = LOADED.lock().map_err(|_| fail("an earlier load panicked".into()))?;
    match loaded.as_ref() {
        Some(path) if path == lib => Ok(()),
        Some(path) => Err(fail(format!("this process already runs OpenVINO from {}", path.display()))),
        None => {
            openvino_sys::library::load_from(lib).map_err(fail)?;
            *loaded = Some(lib.to_path_buf());
            Ok(())
        }
    }
}

/// A compiled model with its one inference request.
pub struct OpenVinoSession {
    request: InferRequest,
    outputs: Vec<String>,
    dims: Vec<i64>,
    /// The input tensor, kept while the input shape repeats.
    input: Option<([usize; 4], Tensor)>,
    // Dropped after the request that uses them.
    _compiled: CompiledModel,
    _core: Core,
}

fn ov(e: impl std::fmt::Display) -> Error {
    Error::Inference { runtime: "OpenVINO", reason: e.to_string() }
}

impl OpenVinoSession {
    /// Compiles `bytes` (an ONNX model) for the CPU: one stream, `intra` threads, no core pinning
    /// (several workers share the cores; pinning would stack them on the same ones), and f32
    /// arithmetic. On a CPU with AMX or AVX-512 BF16 the plugin would otherwise run in bfloat16: 2.8x
    /// faster on SFace here, but its embeddings move (cosine 0.9999 to f32 on a face, first values
    /// 0.015 apart on a synthetic input), so the same photo would score differently on two servers and
    /// the calibration, measured in f32, would no longer hold.
    pub fn new(bytes: &[u8], intra: usize) -> Result<OpenVinoSession> {
        let mut core = Core::new().map_err(ov)?;
        let threads = intra.max(1).to_string();
        let settings = [
            (RwPropertyKey::InferenceNumThreads, threads.as_str()),
            (RwPropertyKey::NumStreams, "1"),
            (RwPropertyKey::HintEnableCpuPinning, "NO"),
            (RwPropertyKey::HintPerformanceMode, "LATENCY"),
            (RwPropertyKey::HintInferencePrecision, "f32"),
        ];
        core.set_properties(&DeviceType::CPU, settings).map_err(ov)?;
        let model = core.read_model_from_buffer(bytes, None).map_err(ov)?;
        if model.get_inputs_len().map_err(ov)? != 1 {
            return Err(ov("the model must have exactly one input"));
        }
        let input = model.get_input_by_index(0).map_err(ov)?;
        let dims =
            input.get_partial_shape().map_err(ov)?.get_dimensions().iter().map(|d| if d.is_dynamic() { -1 } else { d.get_min() }).collect();
        // Names from the model as read: a compiled output may answer with another of its tensor's
        // names (YuNet's `cls_8` comes back as `291`). The order is the same.
        let mut outputs = Vec::new();
        for i in 0..model.get_outputs_len().map_err(ov)? {
            outputs.push(model.get_output_by_index(i).and_then(|o| o.get_name()).map_err(ov)?);
        }
        let mut compiled = core.compile_model(&model, DeviceType::CPU).map_err(ov)?;
        if compiled.get_output_size().map_err(ov)? != outputs.len() {
            return Err(ov("the compiled model has another number of outputs"));
        }
        let request = compiled.create_infer_request().map_err(ov)?;
        Ok(OpenVinoSession { request, outputs, dims, input: None, _compiled: compiled, _core: core })
    }
}

/// A tensor's data as f32, refused (not panicking) when OpenVINO hands over something else.
fn floats(tensor: &Tensor) -> Result<&[f32]> {
    if tensor.get_element_type().map_err(ov)? != ElementType::F32 {
        return Err(ov("an output is not f32"));
    }
    let raw = tensor.get_raw_data().map_err(ov)?;
    // SAFETY: any bit pattern is a valid f32; `align_to` only reinterprets the aligned middle.
    let (head, data, tail) = unsafe { raw.align_to::<f32>() };
    match head.is_empty() && tail.is_empty() {
        true => Ok(data),
        false => Err(ov("an output tensor is not aligned for f32")),
    }
}

impl Session for OpenVinoSession {
    fn input_dims(&self) -> Vec<i64> {
        self.dims.clone()
    }

    fn output_names(&self) -> &[String] {
        &self.outputs
    }

    fn run(&mut self, input: &[f32], shape: [usize; 4], read: &mut dyn FnMut(&[&[f32]]) -> Result<()>) -> Result<()> {
        if self.input.as_ref().is_none_or(|(s, _)| *s != shape) {
            // The request keeps a reference to the tensor it was given: set once per input shape.
            let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
            let tensor = Tensor::new(ElementType::F32, &Shape::new(&dims).map_err(ov)?).map_err(ov)?;
            self.request.set_input_tensor(&tensor).map_err(ov)?;
            self.input = Some((shape, tensor));
        }
        let Some((_, tensor)) = self.input.as_mut() else { return Err(Error::Internal("no input tensor".into())) };
        let raw = tensor.get_raw_data_mut().map_err(ov)?;
        // SAFETY: any bit pattern is a valid f32; `align_to_mut` only reinterprets the aligned middle.
        let (head, data, tail) = unsafe { raw.align_to_mut::<f32>() };
        if !head.is_empty() || !tail.is_empty() || data.len() != input.len() {
            return Err(Error::Internal(format!("input of {} values for shape {shape:?}", input.len())));
        }
        data.copy_from_slice(input);
        self.request.infer().map_err(ov)?;
        let mut tensors = Vec::with_capacity(self.outputs.len());
        for i in 0..self.outputs.len() {
            tensors.push(self.request.get_output_tensor_by_index(i).map_err(ov)?);
        }
        let data = tensors.iter().map(floats).collect::<Result<Vec<_>>>()?;
        read(&data)
    }
}

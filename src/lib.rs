//! facematch: an offline face-matching engine. Decode → detect → align → embed → score, each stage
//! in its own module; [`engine::Engine`] owns the model sessions (ONNX Runtime or OpenVINO, [`backend`]) on its inference threads.
pub mod align;
pub mod backend;
pub mod bench;
pub mod calibration;
pub mod cli;
pub mod cmd;
pub mod confidence;
pub mod decode;
pub mod defaults;
pub mod detect;
pub mod embed;
pub mod engine;
pub mod error;
pub mod eval;
#[doc(hidden)]
pub mod fuzzing;
pub mod gallery;
pub mod image_input;
pub mod letterbox;
pub mod manifest;
pub mod modelfile;
pub mod photos;
pub mod score;
pub mod server;
pub mod store;
pub mod subjects_cmd;
pub mod version;

pub use engine::{Analysis, Comparison, Engine, EngineConfig};
pub use error::{Error, ErrorKind, Result};

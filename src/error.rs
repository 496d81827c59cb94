//! The one error type of the engine. Callers (CLI, HTTP routes) map it to their own shapes by
//! [`Error::kind`], so a new variant is handled in one place per caller.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the image is empty (0 bytes)")]
    EmptyImage,
    #[error("the image is {size} bytes, above the limit of {limit} bytes")]
    ImageTooLarge { size: usize, limit: usize },
    #[error("the data is not an image in a supported format (JPEG, PNG, WebP, BMP, GIF, TIFF)")]
    UnsupportedFormat,
    #[error("the image could not be decoded (corrupt or truncated file)")]
    Decode(#[source] image::ImageError),
    #[error("the image is truncated: the file ends before its image data does")]
    Truncated,
    #[error("the image is {width}x{height} pixels, above the limit of {limit} pixels")]
    TooManyPixels { width: u32, height: u32, limit: u64 },
    #[error("the image is {width}x{height} pixels, a side is above the limit of {limit}")]
    DimensionTooLarge { width: u32, height: u32, limit: u32 },
    #[error("the image ({width}x{height} pixels) takes {bytes} bytes decoded, above the limit of {limit} bytes")]
    DecodedTooLarge { width: u32, height: u32, bytes: u64, limit: u64 },
    #[error("the image is above the size limits (at most {max_dimension} pixels a side, {max_pixels} pixels, {max_decoded_bytes} bytes decoded)")]
    AboveLimits { max_dimension: u32, max_pixels: u64, max_decoded_bytes: u64 },
    #[error("the image is {width}x{height} pixels, below the minimum of {min} pixels a side")]
    TooSmall { width: u32, height: u32, min: u32 },
    #[error("no face was found in the image")]
    NoFace,
    #[error("model pack manifest {path}: {reason}")]
    Manifest { path: String, reason: String },
    #[error("model file {path}: {reason}")]
    ModelFile { path: PathBuf, reason: String },
    #[error("{runtime} library {path}: {reason}")]
    RuntimeLoad { runtime: &'static str, path: PathBuf, reason: String },
    #[error("ONNX Runtime: {0}")]
    Runtime(#[from] ort::Error),
    #[error("{runtime}: {reason}")]
    Inference { runtime: &'static str, reason: String },
    #[error("model {model} gave unexpected output: {reason}")]
    ModelOutput { model: String, reason: String },
    #[error("internal error: {0}")]
    Internal(String),
    /// A command's own failure (its arguments or its inputs), said in its own words.
    #[error("{0}")]
    Command(String),
    #[error("the engine is busy: all inference queues are full")]
    Busy,
    #[error("the engine has shut down")]
    Shutdown,
}

/// Coarse classes of [`Error`]: what went wrong from a client's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request's image is unusable (empty, too large, not an image, corrupt, too small).
    InvalidImage,
    /// The image decoded but holds no face.
    NoFace,
    /// Inference queues are full; the client may retry.
    Busy,
    /// Anything on the server's side (models, runtime).
    Internal,
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::EmptyImage
            | Error::ImageTooLarge { .. }
            | Error::UnsupportedFormat
            | Error::Decode(_)
            | Error::Truncated
            | Error::TooManyPixels { .. }
            | Error::DimensionTooLarge { .. }
            | Error::DecodedTooLarge { .. }
            | Error::AboveLimits { .. }
            | Error::TooSmall { .. } => ErrorKind::InvalidImage,
            Error::NoFace => ErrorKind::NoFace,
            Error::Busy => ErrorKind::Busy,
            Error::Manifest { .. }
            | Error::ModelFile { .. }
            | Error::RuntimeLoad { .. }
            | Error::Runtime(_)
            | Error::Inference { .. }
            | Error::ModelOutput { .. }
            | Error::Internal(_)
            | Error::Command(_)
            | Error::Shutdown => ErrorKind::Internal,
        }
    }

    /// A stable machine-readable code, used by the CLI's JSON errors and the native API.
    pub fn code(&self) -> &'static str {
        match self {
            Error::EmptyImage => "empty_image",
            Error::ImageTooLarge { .. } => "image_too_large",
            Error::UnsupportedFormat => "unsupported_format",
            Error::Decode(_) | Error::Truncated => "undecodable_image",
            Error::TooManyPixels { .. } | Error::DimensionTooLarge { .. } | Error::DecodedTooLarge { .. } | Error::AboveLimits { .. } => {
                "image_too_many_pixels"
            }
            Error::TooSmall { .. } => "image_too_small",
            Error::NoFace => "no_face",
            Error::Busy => "busy",
            _ => "internal",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

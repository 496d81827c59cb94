//! Command-line interface. Every flag has an environment variable.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::decode::DecodeLimits;
use crate::engine::EngineConfig;
use crate::manifest::DEFAULT_PACK;

#[derive(Debug, Parser)]
#[command(name = "facematch", version, about = "Offline face matching with real models")]
pub struct Cli {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Log filter (tracing syntax), e.g. `info` or `facematch=debug`.
    #[arg(long, global = true, env = "FACEMATCH_LOG", default_value = "warn,ort=error")]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// Directory holding the model files, manifests and the ONNX Runtime library (scripts/setup
    /// fills it). Default: ${XDG_CACHE_HOME:-~/.cache}/facematch/models.
    #[arg(long, global = true, env = "FACEMATCH_MODELS_DIR")]
    pub models_dir: Option<PathBuf>,
    /// ONNX Runtime shared library (libonnxruntime.so.1.31.1). Default: next to the executable,
    /// else in the models directory.
    #[arg(long, global = true, env = "FACEMATCH_ORT_LIB")]
    pub ort_lib: Option<PathBuf>,
    /// Model pack: a built-in name (yunet-sface, scrfd-sface), NAME.toml in the models directory,
    /// or a path to a manifest.
    #[arg(long, global = true, env = "FACEMATCH_PACK", default_value = DEFAULT_PACK)]
    pub pack: String,
    /// Inference worker threads (each owns its own model sessions). Default: min(cores, 2).
    #[arg(long, global = true, env = "FACEMATCH_WORKERS")]
    pub workers: Option<usize>,
    /// ONNX Runtime intra-op threads per session. Default: cores / workers.
    #[arg(long, global = true, env = "FACEMATCH_INTRA_THREADS")]
    pub intra_threads: Option<usize>,
    /// Requests queued for the workers before new ones are refused as busy.
    #[arg(long, global = true, env = "FACEMATCH_QUEUE_DEPTH", default_value_t = 64)]
    pub queue_depth: usize,
    /// Largest encoded image accepted, in bytes.
    #[arg(long, global = true, env = "FACEMATCH_MAX_IMAGE_BYTES", default_value_t = DecodeLimits::default().max_bytes)]
    pub max_image_bytes: usize,
    /// Largest decoded image accepted, in pixels (width x height).
    #[arg(long, global = true, env = "FACEMATCH_MAX_PIXELS", default_value_t = DecodeLimits::default().max_pixels)]
    pub max_pixels: u64,
    /// Smallest side accepted, in pixels.
    #[arg(long, global = true, env = "FACEMATCH_MIN_IMAGE_SIDE", default_value_t = DecodeLimits::default().min_dimension)]
    pub min_image_side: u32,
}

impl EngineArgs {
    pub fn models_dir(&self) -> PathBuf {
        self.models_dir.clone().unwrap_or_else(crate::runtime::default_models_dir)
    }

    pub fn engine_config(&self) -> EngineConfig {
        let mut c = EngineConfig::new(self.models_dir(), self.pack.clone());
        c.ort_lib = self.ort_lib.clone();
        if let Some(w) = self.workers {
            c.workers = w.max(1);
            let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
            c.intra_threads = (cores / c.workers).max(1);
        }
        if let Some(t) = self.intra_threads {
            c.intra_threads = t.max(1);
        }
        c.queue_depth = self.queue_depth.max(1);
        c.limits = DecodeLimits {
            max_bytes: self.max_image_bytes,
            max_pixels: self.max_pixels,
            min_dimension: self.min_image_side,
            ..DecodeLimits::default()
        };
        c
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (native routes, health, readiness) until Ctrl-C / SIGTERM.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "FACEMATCH_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Largest request body in bytes.
        #[arg(long, env = "FACEMATCH_MAX_BODY_BYTES", default_value_t = 12 * 1024 * 1024)]
        max_body_bytes: usize,
        /// Largest single uploaded image in bytes (after base64 decoding).
        #[arg(long, env = "FACEMATCH_MAX_UPLOAD_BYTES", default_value_t = 5 * 1024 * 1024)]
        max_upload_bytes: usize,
        /// Default decision threshold on the calibrated score (0.75 = FMR about 3e-5).
        #[arg(long, env = "FACEMATCH_MATCH_THRESHOLD", default_value_t = 0.75)]
        threshold: f32,
        /// Directory of the state database (facematch.sqlite): API clients, Cashfree ids.
        /// Default: ${XDG_DATA_HOME:-~/.local/share}/facematch.
        #[arg(long, env = "FACEMATCH_STATE_DIR")]
        state_dir: Option<PathBuf>,
        /// Externally visible base URL (e.g. https://kyc.example.com) for links in responses.
        #[arg(long, env = "FACEMATCH_PUBLIC_URL")]
        public_url: Option<String>,
    },
    /// Manage API credentials of the vendor schemes (secrets are shown once and stored hashed).
    Clients {
        #[arg(long, env = "FACEMATCH_STATE_DIR")]
        state_dir: Option<PathBuf>,
        #[command(subcommand)]
        action: ClientsAction,
    },
    /// Detect faces: boxes, scores and five landmarks, largest face first.
    Detect {
        image: PathBuf,
        #[arg(long, env = "FACEMATCH_JSON")]
        json: bool,
    },
    /// Embed the largest face of an image.
    Embed {
        image: PathBuf,
        #[arg(long, env = "FACEMATCH_JSON")]
        json: bool,
    },
    /// Compare the largest face of two images.
    Compare {
        a: PathBuf,
        b: PathBuf,
        #[arg(long, env = "FACEMATCH_JSON")]
        json: bool,
        /// Calibrated score (0..1, = -log10(FMR)/6) at or above which the faces match.
        /// 0.75 = FMR about 3e-5.
        #[arg(long, env = "FACEMATCH_MATCH_THRESHOLD", default_value_t = 0.75)]
        threshold: f32,
    },
    /// Calibrate the pack's scores: embed labelled images, score every cross-identity pair, and
    /// write the FMR table into the pack's manifest.
    Calibrate {
        /// A directory of identity folders (DIR/Name/*.jpg, as LFW's `lfw/`), or a CSV with
        /// `path,identity` columns.
        #[arg(long, env = "FACEMATCH_CALIBRATE_IMAGES")]
        images: PathBuf,
        /// Directory CSV paths resolve against (default: the CSV's directory).
        #[arg(long, env = "FACEMATCH_CALIBRATE_IMAGES_ROOT")]
        images_root: Option<PathBuf>,
        /// Manifest to write the calibration into. Default: the pack's manifest file, or for a
        /// built-in pack `models/NAME.toml` in the current directory (the repository's copy).
        #[arg(long, env = "FACEMATCH_CALIBRATE_OUT")]
        out: Option<PathBuf>,
        /// Name of the data set, recorded in the manifest.
        #[arg(long, env = "FACEMATCH_CALIBRATE_DATASET")]
        dataset: Option<String>,
    },
    /// Evaluate on labelled pairs (LFW pair lists or CSV image1,image2,same).
    Eval {
        /// Pair file: LFW format (`Name i j` / `Name1 i Name2 j`) or CSV with image1,image2,same.
        #[arg(long, env = "FACEMATCH_EVAL_PAIRS")]
        pairs: PathBuf,
        /// Directory the pair file's image paths resolve against (default: the pair file's directory).
        #[arg(long, env = "FACEMATCH_EVAL_IMAGES_ROOT")]
        images_root: Option<PathBuf>,
        #[arg(long, env = "FACEMATCH_JSON")]
        json: bool,
        /// Write a PNG with the ROC curve and the genuine / impostor score histograms.
        #[arg(long, env = "FACEMATCH_EVAL_PLOT")]
        plot: Option<PathBuf>,
        /// Do not read or write the per-image embedding cache (kept in the setup cache directory).
        #[arg(long, env = "FACEMATCH_EVAL_NO_CACHE")]
        no_cache: bool,
        /// Also send every pair through a face-match API: VENDOR=BASE_URL, VENDOR one of valify,
        /// didit, didit-v3, videosdk, cashfree, native (a facematch server or the real vendor).
        #[arg(long, env = "FACEMATCH_EVAL_ENDPOINT")]
        endpoint: Option<String>,
        /// Credentials for --endpoint: key=value,... (valify token,bundle_key; didit token;
        /// didit-v3 api_key; videosdk jwt; cashfree client_id,client_secret; native token).
        #[arg(long, env = "FACEMATCH_EVAL_CREDENTIALS", hide_env_values = true)]
        credentials: Option<String>,
        /// Per-pair CSV of local and vendor scores (with --endpoint).
        #[arg(long, env = "FACEMATCH_EVAL_CSV", default_value = "eval-side-by-side.csv")]
        csv: PathBuf,
        /// Local decision threshold on the calibrated score, for the agreement figures.
        #[arg(long, env = "FACEMATCH_MATCH_THRESHOLD", default_value_t = 0.75)]
        threshold: f32,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientsAction {
    /// Create a client; prints its id and secret once.
    Add {
        #[arg(long, env = "FACEMATCH_CLIENT_SCHEME")]
        scheme: String,
        #[arg(long, env = "FACEMATCH_CLIENT_ID")]
        client_id: Option<String>,
    },
    /// List clients (never secrets).
    List,
    /// Revoke a client.
    Revoke {
        #[arg(long, env = "FACEMATCH_CLIENT_SCHEME")]
        scheme: String,
        #[arg(long, env = "FACEMATCH_CLIENT_ID")]
        client_id: String,
    },
}

/// `${XDG_DATA_HOME:-~/.local/share}/facematch`.
pub fn default_state_dir() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("facematch")
}

//! Command-line interface. Every flag has an environment variable.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::decode::DecodeLimits;
use crate::engine::EngineConfig;
use crate::manifest::DEFAULT_PACK;

#[derive(Debug, Parser)]
#[command(name = "facematch", about = "Offline face matching with real models", disable_version_flag = true)]
pub struct Cli {
    /// Print the version, the model pack and the sha256 of each model file and runtime library.
    #[arg(short = 'V', long, global = true)]
    pub version: bool,
    /// TOML configuration file: keys are the long flag names (`listen = "0.0.0.0:8080"`,
    /// `queue-depth = 128`); a flag or environment variable given explicitly wins over the file.
    #[arg(long, global = true, env = "FACEMATCH_CONFIG")]
    pub config: Option<PathBuf>,
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
    /// OpenVINO C library (libopenvino_c.so.2641, with the core, CPU plugin, ONNX frontend and TBB
    /// beside it). Default: next to the executable, else openvino-2026.4.1/ in the models directory.
    #[arg(long, global = true, env = "FACEMATCH_OPENVINO_LIB")]
    pub openvino_lib: Option<PathBuf>,
    /// Run every model on this backend. Default: each model's own from the pack (the default pack:
    /// YuNet on ONNX Runtime, SFace on OpenVINO, or on ONNX Runtime when OpenVINO is not installed).
    #[arg(long, global = true, env = "FACEMATCH_BACKEND", value_enum)]
    pub backend: Option<crate::backend::Backend>,
    /// Model pack: a built-in name (yunet-sface, scrfd-sface), NAME.toml in the models directory,
    /// or a path to a manifest.
    #[arg(long, global = true, env = "FACEMATCH_PACK", default_value = DEFAULT_PACK)]
    pub pack: String,
    /// Inference worker threads (each owns its own model sessions). Default: min(cores, 2).
    #[arg(long, global = true, env = "FACEMATCH_WORKERS")]
    pub workers: Option<usize>,
    /// Threads inside one inference, per model session. Default: cores / workers.
    #[arg(long, global = true, env = "FACEMATCH_INTRA_THREADS")]
    pub intra_threads: Option<usize>,
    /// Test-time augmentation of the embedder: `flip` embeds the aligned face and its mirror (twice
    /// the embedder's time) and uses the pack's `calibration_flip`. Default: the pack's own (none).
    #[arg(long, global = true, env = "FACEMATCH_TTA", value_enum)]
    pub tta: Option<crate::manifest::Tta>,
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
        self.models_dir.clone().unwrap_or_else(crate::backend::default_models_dir)
    }

    pub fn engine_config(&self) -> EngineConfig {
        let mut c = EngineConfig::new(self.models_dir(), self.pack.clone());
        c.ort_lib = self.ort_lib.clone();
        c.openvino_lib = self.openvino_lib.clone();
        c.backend = self.backend;
        if let Some(w) = self.workers {
            c.workers = w.max(1);
            let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
            c.intra_threads = (cores / c.workers).max(1);
        }
        if let Some(t) = self.intra_threads {
            c.intra_threads = t.max(1);
        }
        c.queue_depth = self.queue_depth.max(1);
        c.tta = self.tta;
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
    /// Serve the HTTP API (vendor routes, native routes, health, metrics, OpenAPI) until Ctrl-C / SIGTERM.
    Serve(ServeArgs),
    /// Manage API credentials of the vendor schemes (secrets are shown once and stored hashed).
    Clients {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        action: ClientsAction,
    },
    /// Measure: drive a running server with concurrent clients, or run the models alone (the bound).
    Bench {
        #[command(subcommand)]
        action: BenchAction,
    },
    /// Enrolled people: bulk import, listing, and which embedding models the stored faces use.
    Subjects {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        action: SubjectsAction,
    },
    /// Move a deployment's state into PostgreSQL: every client, token, vendor record, subject and
    /// face of a SQLite state file, in one transaction, into an empty database.
    Migrate {
        /// The source: sqlite:PATH (the state directory's facematch.sqlite).
        #[arg(long, env = "FACEMATCH_MIGRATE_FROM")]
        from: String,
        /// The target: postgres://USER:PASSWORD@HOST:PORT/DATABASE (empty; the schema is created).
        #[arg(long, env = "FACEMATCH_MIGRATE_TO", hide_env_values = true)]
        to: String,
        #[arg(long, env = "FACEMATCH_JSON")]
        json: bool,
    },
    /// Check an installed bundle: every file its SHA256SUMS lists, and the pack's models against the
    /// sha256 this binary pins. Fails naming each file that differs.
    VerifyBundle {
        /// The bundle directory. Default: the directory of this executable.
        #[arg(long, env = "FACEMATCH_BUNDLE_DIR")]
        dir: Option<PathBuf>,
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
        #[arg(long, env = "FACEMATCH_MATCH_THRESHOLD", default_value_t = crate::defaults::MATCH_THRESHOLD)]
        threshold: f32,
    },
    /// Calibrate the pack's scores: embed labelled images, score every cross-identity pair, and
    /// write the FMR table into the pack's manifest.
    Calibrate(CalibrateArgs),
    /// Evaluate on labelled pairs (LFW pair lists or CSV image1,image2,same).
    Eval(EvalArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CalibrateArgs {
    /// A labelled set: a directory of identity folders (DIR/Name/*.jpg, as LFW's `lfw/`), or a
    /// CSV with `path,identity` columns and any attribute columns (`sex`, `ethnicity`, `age`,
    /// …). Repeat (or separate with commas) for several sets; pairs are formed within each set.
    #[arg(long, env = "FACEMATCH_CALIBRATE_IMAGES", value_delimiter = ',', required = true)]
    pub images: Vec<PathBuf>,
    /// Directory CSV paths resolve against (default: the CSV's directory).
    #[arg(long, env = "FACEMATCH_CALIBRATE_IMAGES_ROOT")]
    pub images_root: Option<PathBuf>,
    /// Manifest to write the calibration into. Default: the pack's manifest file, or for a
    /// built-in pack `models/NAME.toml` in the current directory (the repository's copy).
    #[arg(long, env = "FACEMATCH_CALIBRATE_OUT")]
    pub out: Option<PathBuf>,
    /// Name of the data set, recorded in the manifest.
    #[arg(long, env = "FACEMATCH_CALIBRATE_DATASET")]
    pub dataset: Option<String>,
    /// Embed every image again instead of reading the embeddings this pack and build cached.
    #[arg(long, env = "FACEMATCH_CALIBRATE_NO_CACHE")]
    pub no_cache: bool,
}

#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    /// Pair file: LFW format (`Name i j` / `Name1 i Name2 j`), CSV with image1,image2,same, or a
    /// labelled set's CSV (`path,identity[,sex,ethnicity,age,…]`): every pair of it, reported per
    /// group of people.
    #[arg(long, env = "FACEMATCH_EVAL_PAIRS")]
    pub pairs: PathBuf,
    /// Directory the pair file's image paths resolve against (default: the pair file's directory).
    /// For an LFW list: the folder holding the `Name/` folders, or the one holding `lfw/Name/`.
    #[arg(long, env = "FACEMATCH_EVAL_IMAGES_ROOT")]
    pub images_root: Option<PathBuf>,
    #[arg(long, env = "FACEMATCH_JSON")]
    pub json: bool,
    /// Write a PNG with the ROC curve and the genuine / impostor score histograms.
    #[arg(long, env = "FACEMATCH_EVAL_PLOT")]
    pub plot: Option<PathBuf>,
    /// Do not read or write the per-image embedding cache (kept in the setup cache directory).
    #[arg(long, env = "FACEMATCH_EVAL_NO_CACHE")]
    pub no_cache: bool,
    /// Also send every pair through a face-match API: VENDOR=BASE_URL, VENDOR one of valify,
    /// didit, didit-v3, videosdk, cashfree, native (a facematch server or the real vendor).
    #[arg(long, env = "FACEMATCH_EVAL_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Credentials for --endpoint: key=value,... (valify token,bundle_key; didit token;
    /// didit-v3 api_key; videosdk jwt; cashfree client_id,client_secret; native token).
    #[arg(long, env = "FACEMATCH_EVAL_CREDENTIALS", hide_env_values = true)]
    pub credentials: Option<String>,
    /// Per-pair CSV of local and vendor scores (with --endpoint).
    #[arg(long, env = "FACEMATCH_EVAL_CSV", default_value = "eval-side-by-side.csv")]
    pub csv: PathBuf,
    /// Local decision threshold on the calibrated score, for the agreement figures.
    #[arg(long, env = "FACEMATCH_MATCH_THRESHOLD", default_value_t = crate::defaults::MATCH_THRESHOLD)]
    pub threshold: f32,
    /// Count pairs with an image that cannot be read or decoded as rejected and go on. Without
    /// it, any such pair stops the run with a non-zero exit and the failed paths.
    #[arg(long, env = "FACEMATCH_EVAL_ALLOW_MISSING")]
    pub allow_missing: bool,
    /// Per-pair CSV: image1, image2, same, fold, cosine, score, fmr, decision, faces1, faces2, error.
    #[arg(long, env = "FACEMATCH_EVAL_SCORES")]
    pub scores: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "FACEMATCH_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Largest request body in bytes.
    #[arg(long, env = "FACEMATCH_MAX_BODY_BYTES", default_value_t = crate::defaults::MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Largest single uploaded image in bytes (after base64 decoding).
    #[arg(long, env = "FACEMATCH_MAX_UPLOAD_BYTES", default_value_t = crate::defaults::MAX_UPLOAD_BYTES)]
    pub max_upload_bytes: usize,
    /// Default decision threshold on the calibrated score (0.75 = FMR about 3e-5). Each vendor's
    /// default threshold stands for this point on its own scale (README, "Vendor scores").
    #[arg(long, env = "FACEMATCH_MATCH_THRESHOLD", default_value_t = crate::defaults::MATCH_THRESHOLD, value_parser = parse_share)]
    pub threshold: f32,
    #[command(flatten)]
    pub store: StoreArgs,
    /// How often each server reads the shared database's gallery log (PostgreSQL only): an
    /// enrollment or deletion on one server is searchable (or gone) on every other within this
    /// interval plus one query.
    #[arg(long, env = "FACEMATCH_GALLERY_SYNC_MS", default_value_t = crate::defaults::GALLERY_SYNC_MS, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub gallery_sync_ms: u64,
    /// Externally visible base URL (e.g. https://kyc.example.com) for links in responses.
    #[arg(long, env = "FACEMATCH_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Credentials to provision at start, SCHEME:CLIENT_ID:SECRET (repeat the flag, or separate
    /// with commas in the variable). The secret is stored hashed; an existing client keeps its
    /// secret unless this one differs, which replaces it.
    #[arg(long = "client", env = "FACEMATCH_CLIENTS", value_delimiter = ',', hide_env_values = true)]
    pub clients: Vec<String>,
    /// Didit: the documented minimum photo side, in pixels.
    #[arg(long, env = "FACEMATCH_DIDIT_MIN_SIDE", default_value_t = crate::defaults::DIDIT_MIN_SIDE)]
    pub didit_min_side: u32,
    /// Didit: refuse photos below the minimum side with 400 (default: compare them and add a warning).
    #[arg(long, env = "FACEMATCH_DIDIT_ENFORCE_MIN_SIDE")]
    pub didit_enforce_min_side: bool,
    /// False-match rate of a whole 1:N search (FACEKI face-check, /v1/identify): the chance that a
    /// person who is not enrolled matches someone. Each comparison is held to this divided by the
    /// number of enrolled faces.
    #[arg(long, env = "FACEMATCH_IDENTIFY_FMR", default_value_t = crate::defaults::IDENTIFY_FMR)]
    pub identify_fmr: f64,
    /// Keep enrolled photos, encrypted at rest with the key in this file (64 hex characters, e.g.
    /// `openssl rand -hex 32`). Without it no photo is ever stored.
    #[arg(long, env = "FACEMATCH_PHOTO_KEY")]
    pub photo_key: Option<PathBuf>,
    /// Cashfree: requests per minute allowed from one IP address (0: no limit); beyond it, 429
    /// `too_many_requests_per_ip`.
    #[arg(long, env = "FACEMATCH_CASHFREE_RATE_PER_IP", default_value_t = 0)]
    pub cashfree_rate_per_ip: u32,
    /// Cashfree: face-match requests per minute allowed per client id (0: no limit); beyond it, 429
    /// `too_many_requests_per_operation`.
    #[arg(long, env = "FACEMATCH_CASHFREE_RATE_PER_OPERATION", default_value_t = 0)]
    pub cashfree_rate_per_operation: u32,
    /// "Several faces" (Cashfree's MULTIPLE_FACE_DETECTED, Didit's MULTIPLE_FACES_DETECTED, native
    /// `prominent_faces`) counts a second face only when its box covers at least this share of the
    /// chosen face's (0.25: half as wide); document ghost portraits and cut-off background heads
    /// stay below it.
    #[arg(long, env = "FACEMATCH_PROMINENT_FACE_SHARE", default_value_t = crate::defaults::PROMINENT_FACE_SHARE, value_parser = parse_share)]
    pub prominent_face_share: f32,
    /// Seconds a connection may take to send a request's headers, counted from its start or from its
    /// last answer: idle keep-alive sockets and slow headers are closed after this.
    #[arg(long, env = "FACEMATCH_HEADER_TIMEOUT_SECS", default_value_t = crate::defaults::HEADER_TIMEOUT_SECS)]
    pub header_timeout_secs: u64,
    /// Longest pause, in seconds, while a request body is read (then 408).
    #[arg(long, env = "FACEMATCH_BODY_TIMEOUT_SECS", default_value_t = crate::defaults::BODY_TIMEOUT_SECS)]
    pub body_timeout_secs: u64,
    /// Open connections at most; more are closed at once. Lowered at start to fit under the
    /// open-file limit (whose soft value is raised to the hard one).
    #[arg(long, env = "FACEMATCH_MAX_CONNECTIONS", default_value_t = crate::defaults::MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Cashfree two-factor "Public Key" mode: the PEM RSA private key whose public half the clients
    /// encrypt `x-cf-signature` with. When set, the header is required and checked.
    #[arg(long, env = "FACEMATCH_CASHFREE_SIGNATURE_KEY")]
    pub cashfree_signature_key: Option<PathBuf>,
}

impl ServeArgs {
    pub fn server_config(&self) -> crate::server::ServerConfig {
        crate::server::ServerConfig {
            max_body_bytes: self.max_body_bytes,
            max_upload_bytes: self.max_upload_bytes,
            match_threshold: self.threshold,
            public_url: self.public_url.clone(),
            didit_min_side: self.didit_min_side,
            didit_enforce_min_side: self.didit_enforce_min_side,
            cashfree_rate_per_ip: self.cashfree_rate_per_ip,
            cashfree_rate_per_operation: self.cashfree_rate_per_operation,
            cashfree_signature_key: None,
            identify_fmr: self.identify_fmr,
            photo_key: None,
            prominent_face_share: self.prominent_face_share,
            conn: crate::server::listen::ConnLimits {
                header_timeout: std::time::Duration::from_secs(self.header_timeout_secs.max(1)),
                body_timeout: std::time::Duration::from_secs(self.body_timeout_secs.max(1)),
                max_connections: self.max_connections.max(1),
            },
            gallery_sync: std::time::Duration::from_millis(self.gallery_sync_ms),
        }
    }
}

/// A share between 0 and 1.
fn parse_share(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!("{s:?} is not a number between 0 and 1")),
    }
}

/// A credential given on the command line: `SCHEME:CLIENT_ID:SECRET`.
pub fn parse_client_spec(spec: &str) -> Result<(String, String, String), String> {
    let mut it = spec.trim().splitn(3, ':');
    match (it.next(), it.next(), it.next()) {
        (Some(s), Some(id), Some(secret)) if !s.is_empty() && !id.is_empty() && secret.len() >= 16 => {
            if !crate::store::SCHEMES.contains(&s) {
                return Err(format!("--client: unknown scheme `{s}` ({})", crate::store::SCHEMES.join(", ")));
            }
            Ok((s.to_string(), id.to_string(), secret.to_string()))
        }
        // The secret itself is never echoed.
        _ => Err("--client takes SCHEME:CLIENT_ID:SECRET with a secret of at least 16 characters".into()),
    }
}

/// Where the state lives (API clients, tokens, vendor records, enrolled subjects).
#[derive(Debug, Clone, Default, Args)]
pub struct StoreArgs {
    /// Directory of the SQLite state file (facematch.sqlite), used when --database-url is not set.
    /// Default: ${XDG_DATA_HOME:-~/.local/share}/facematch.
    #[arg(long, env = "FACEMATCH_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// The state database: sqlite:PATH, or postgres://USER:PASSWORD@HOST:PORT/DATABASE to share one
    /// PostgreSQL between several servers (README, "Several servers"). Default: the SQLite file in
    /// --state-dir.
    #[arg(long, env = "FACEMATCH_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

impl StoreArgs {
    pub fn location(&self) -> Result<crate::store::Location, String> {
        let dir = self.state_dir.clone().unwrap_or_else(default_state_dir);
        crate::store::Location::parse(self.database_url.as_deref(), &dir)
    }
}

/// Parses the command line after applying the configuration file (`--config` or
/// `FACEMATCH_CONFIG`): each key of the file becomes the flag's environment variable unless that
/// variable is already set, so the order is flag > environment > file > default.
pub fn parse() -> Result<Parsed, String> {
    use clap::Parser;
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let path = config_path(&args).or_else(|| std::env::var_os("FACEMATCH_CONFIG").map(PathBuf::from));
    if let Some(path) = path {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        for (var, value) in config_env(&text).map_err(|e| format!("{}: {e}", path.display()))? {
            if std::env::var_os(&var).is_none() {
                // Single-threaded here: nothing else reads the environment yet.
                std::env::set_var(var, value);
            }
        }
    }
    if wants_version(&args) {
        // `--version` needs no subcommand: only the flags that say which pack and files are read.
        let engine = VersionCli::parse_from(args.iter().filter(|a| !matches!(a.to_str(), Some("-V" | "--version")))).engine;
        return Ok(Parsed::Version(engine));
    }
    Ok(Parsed::Run(Box::new(Cli::parse_from(args))))
}

/// What the command line asks for.
pub enum Parsed {
    Run(Box<Cli>),
    /// `--version` / `-V`, with the engine flags that locate the pack.
    Version(EngineArgs),
}

#[derive(Debug, Parser)]
#[command(name = "facematch", disable_version_flag = true, ignore_errors = true)]
struct VersionCli {
    #[command(flatten)]
    engine: EngineArgs,
}

fn wants_version(args: &[std::ffi::OsString]) -> bool {
    args.iter().skip(1).take_while(|a| *a != "--").any(|a| matches!(a.to_str(), Some("-V" | "--version")))
}

fn config_path(args: &[std::ffi::OsString]) -> Option<PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if a == "--" {
            break;
        }
        if a == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = a.strip_prefix("--config=") {
            return Some(PathBuf::from(v));
        }
    }
    None
}

/// The (environment variable, value) pairs a configuration file sets. Keys are long flag names
/// (dashes or underscores); an unknown key is an error, so a typo does not pass silently.
pub fn config_env(text: &str) -> Result<Vec<(String, String)>, String> {
    use clap::CommandFactory;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.message().to_string())?;
    let mut flags = std::collections::BTreeMap::new();
    fn collect(cmd: &clap::Command, flags: &mut std::collections::BTreeMap<String, String>) {
        for a in cmd.get_arguments() {
            if let (Some(long), Some(env)) = (a.get_long(), a.get_env()) {
                flags.insert(long.to_string(), env.to_string_lossy().to_string());
            }
        }
        for sub in cmd.get_subcommands() {
            collect(sub, flags);
        }
    }
    collect(&Cli::command(), &mut flags);
    flags.remove("config");
    let mut out = Vec::new();
    for (key, value) in table {
        let long = key.replace('_', "-");
        let var =
            flags.get(&long).ok_or_else(|| format!("unknown setting `{key}` (settings are the long flag names of `facematch --help`)"))?;
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    toml::Value::String(s) => Ok(s),
                    toml::Value::Integer(i) => Ok(i.to_string()),
                    _ => Err(format!("`{key}`: list items must be strings or integers")),
                })
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
            _ => return Err(format!("`{key}`: tables and dates are not settings")),
        };
        out.push((var.clone(), value));
    }
    Ok(out)
}

#[derive(Debug, Clone, Args)]
pub struct BenchInputs {
    /// `lfw` (LFW View 1 DevTest pairs, 250x250 JPEGs) or `large` (the 3000x2171 Solvay JPEG vs newton.png).
    #[arg(long, env = "FACEMATCH_BENCH_INPUTS", default_value = "lfw")]
    pub inputs: String,
    /// LFW pair list for `--inputs lfw`.
    #[arg(long, env = "FACEMATCH_BENCH_PAIRS", default_value = "../shared/eval/lfw-view1/pairsDevTest.txt")]
    pub pairs_file: PathBuf,
    /// Distinct pairs cycled through.
    #[arg(long, env = "FACEMATCH_BENCH_PAIR_COUNT", default_value_t = 100)]
    pub pair_count: usize,
    /// How long to measure, in seconds.
    #[arg(long, env = "FACEMATCH_BENCH_SECONDS", default_value_t = 20.0)]
    pub seconds: f64,
    #[arg(long, env = "FACEMATCH_JSON")]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum BenchAction {
    /// Drive a running server's /v1/compare (or Cashfree's route) with N concurrent clients over
    /// loopback; reports throughput, p50/p95/p99 latency, errors and the server's peak RSS.
    Load {
        #[arg(long, env = "FACEMATCH_BENCH_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
        /// `native` (/v1/compare, JSON base64; also the Python reference) or `cashfree` (multipart).
        #[arg(long, env = "FACEMATCH_BENCH_ROUTE", default_value = "native")]
        route: String,
        #[arg(long, env = "FACEMATCH_BENCH_CONCURRENCY", default_value_t = 16)]
        concurrency: usize,
        /// Stop after this many requests (or when the time is up).
        #[arg(long, env = "FACEMATCH_BENCH_MAX_REQUESTS", default_value_t = 100_000)]
        max_requests: usize,
        /// Native API key.
        #[arg(long, env = "FACEMATCH_BENCH_KEY", hide_env_values = true)]
        key: Option<String>,
        /// Cashfree credentials, CLIENT_ID:SECRET.
        #[arg(long, env = "FACEMATCH_BENCH_CASHFREE", hide_env_values = true)]
        cashfree: Option<String>,
        /// The server's process id, for its peak resident memory.
        #[arg(long, env = "FACEMATCH_BENCH_SERVER_PID")]
        server_pid: Option<u32>,
        #[command(flatten)]
        inputs: BenchInputs,
    },
    /// The model-only bound: the pack's sessions (as many as --workers, with --intra-threads each)
    /// run back to back on pre-made input tensors of the same pairs.
    ModelOnly {
        #[command(flatten)]
        inputs: BenchInputs,
    },
}

#[derive(Debug, Subcommand)]
pub enum SubjectsAction {
    /// Enroll people from a folder of identity folders (DIR/Name/*.jpg), a folder of photos (one
    /// person each), or a CSV (`path` column; optional `subject`, `fullName`, `documentId`,
    /// `status`, `record`). A running server sees them after a restart.
    Import {
        source: PathBuf,
        /// Photos enrolled per person (the first ones, in name order).
        #[arg(long, env = "FACEMATCH_IMPORT_FACES_PER_SUBJECT", default_value_t = 1)]
        faces_per_subject: usize,
        #[arg(long, env = "FACEMATCH_JSON")]
        json: bool,
    },
    /// List enrolled people (id, name, document id, status, faces).
    List {
        #[arg(long, env = "FACEMATCH_SUBJECTS_LIMIT", default_value_t = 100)]
        limit: i64,
    },
    /// Stored faces per embedding model, and whether the current pack can search them.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum ClientsAction {
    /// Issue what a first start issues (a client for each scheme that has none, Didit's v3 API key,
    /// a Valify bundle key), printed here once: a service started afterwards prints no secret to
    /// its log.
    Init,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keys_are_flag_names_and_map_to_their_variables() {
        let env = config_env(
            "listen = \"0.0.0.0:9000\"\nqueue_depth = 128\ndidit-enforce-min-side = true\nclient = [\"cashfree:a:0123456789abcdef\"]\n",
        )
        .unwrap();
        assert!(env.contains(&("FACEMATCH_LISTEN".into(), "0.0.0.0:9000".into())));
        assert!(env.contains(&("FACEMATCH_QUEUE_DEPTH".into(), "128".into())));
        assert!(env.contains(&("FACEMATCH_DIDIT_ENFORCE_MIN_SIDE".into(), "true".into())));
        assert!(env.contains(&("FACEMATCH_CLIENTS".into(), "cashfree:a:0123456789abcdef".into())));
        let err = config_env("listn = \"x\"").unwrap_err();
        assert!(err.contains("unknown setting `listn`"), "{err}");
        assert!(config_env("[table]\nx = 1").is_err());
        assert!(config_env("config = \"x\"").is_err(), "a config file cannot name another");
    }

    #[test]
    fn client_specs_are_checked_without_echoing_the_secret() {
        assert_eq!(
            parse_client_spec("valify:acme:0123456789abcdef:x").unwrap(),
            ("valify".into(), "acme".into(), "0123456789abcdef:x".into())
        );
        let e = parse_client_spec("valify:acme:short").unwrap_err();
        assert!(!e.contains("short"));
        assert!(parse_client_spec("nope:acme:0123456789abcdef").is_err());
    }
}

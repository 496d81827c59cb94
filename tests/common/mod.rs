//! Shared helpers for the integration tests: real models (scripts/setup must have run; scripts/test
//! does it) and real photos (the setup cache's samples; ../shared/eval when present).
#![allow(dead_code)]
use std::path::PathBuf;
use std::sync::OnceLock;

use facematch::{Engine, EngineConfig};

pub fn cache_dir() -> PathBuf {
    facematch::backend::default_models_dir().parent().map(PathBuf::from).unwrap_or_default()
}

pub fn models_dir() -> PathBuf {
    std::env::var_os("FACEMATCH_MODELS_DIR").map(PathBuf::from).unwrap_or_else(facematch::backend::default_models_dir)
}

pub fn sample(name: &str) -> PathBuf {
    let p = cache_dir().join("samples").join(name);
    assert!(p.is_file(), "{} is missing: run scripts/setup (scripts/test runs it)", p.display());
    p
}

/// `../shared/eval` relative to the crate root, or `None` (with a message) when it is absent.
pub fn shared_eval() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/eval");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("SKIPPED: ../shared/eval is absent: this test needs the labelled eval photos");
        None
    }
}

pub fn engine(pack: &str) -> Engine {
    let mut c = EngineConfig::new(models_dir(), pack);
    c.workers = 2;
    c.intra_threads = 1;
    Engine::new(c).unwrap_or_else(|e| panic!("engine with pack {pack}: {e} (run scripts/setup)"))
}

/// One engine per pack for the whole test binary (sessions are costly to create).
pub fn shared_engine(pack: &str) -> &'static Engine {
    static YUNET: OnceLock<Engine> = OnceLock::new();
    static SCRFD: OnceLock<Engine> = OnceLock::new();
    match pack {
        "yunet-sface" => YUNET.get_or_init(|| engine(pack)),
        "scrfd-sface" => SCRFD.get_or_init(|| engine(pack)),
        other => panic!("unknown pack {other}"),
    }
}

pub fn read(p: &std::path::Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A multipart/form-data body: text fields and files, as a browser or `requests` sends them.
pub enum Part<'a> {
    Text(&'a str, &'a str),
    File(&'a str, &'a [u8]),
}

pub fn multipart(parts: &[Part]) -> (String, Vec<u8>) {
    let boundary = "----facematchTestBoundary7MA4YWxk";
    let mut body = Vec::new();
    for p in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match p {
            Part::Text(n, v) => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{n}\"\r\n\r\n{v}\r\n").as_bytes()),
            Part::File(n, bytes) => {
                body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{n}\"; filename=\"{n}.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n")
                        .as_bytes(),
                );
                body.extend_from_slice(bytes);
                body.extend_from_slice(b"\r\n");
            }
        }
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The photo mirrored left-right, as JPEG: the same person, different pixels.
pub fn mirrored_jpeg(bytes: &[u8]) -> Vec<u8> {
    let img = image::load_from_memory(bytes).unwrap().fliph().to_rgb8();
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Jpeg).unwrap();
    out
}

/// Sorted keys of a JSON object.
pub fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    k.sort();
    k
}

/// The default-pack engine shared by one test binary's HTTP tests.
pub fn engine_arc() -> std::sync::Arc<Engine> {
    static ENGINE: OnceLock<std::sync::Arc<Engine>> = OnceLock::new();
    ENGINE.get_or_init(|| std::sync::Arc::new(engine("yunet-sface"))).clone()
}

/// A plain near-white square PNG: a real image without a face.
pub fn blank_png(side: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(side, side, image::Rgb([250, 250, 250]));
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

/// The native API key the HTTP tests provision ([`with_native_key`]).
pub const NATIVE_KEY: &str = "test-native-api-key-0123456789";
pub const NATIVE_BEARER: &str = "Bearer test-native-api-key-0123456789";

/// Provisions [`NATIVE_KEY`] as a `native` client of the store.
pub fn with_native_key<S: facematch::store::Store + ?Sized>(store: &S) {
    store.provision_client("native", "tests", NATIVE_KEY).unwrap();
}

/// The address a spawned `facematch serve` listens on, read from its stderr ("serving on
/// http://ADDR"); waits up to a minute. Takes the child's stderr.
pub fn listening_url(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let stderr = child.stderr.take().expect("spawn the server with stderr piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("serving on ").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_string());
            }
        }
    });
    rx.recv_timeout(std::time::Duration::from_secs(60)).expect("the server did not start listening")
}

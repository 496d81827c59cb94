//! Shared helpers for the integration tests: real models (scripts/setup must have run; scripts/test
//! does it) and real photos (the setup cache's samples; ../shared/eval when present).
#![allow(dead_code)]
use std::path::PathBuf;
use std::sync::OnceLock;

use facematch::{Engine, EngineConfig};

pub fn cache_dir() -> PathBuf {
    facematch::runtime::default_models_dir().parent().map(PathBuf::from).unwrap_or_default()
}

pub fn models_dir() -> PathBuf {
    std::env::var_os("FACEMATCH_MODELS_DIR").map(PathBuf::from).unwrap_or_else(facematch::runtime::default_models_dir)
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

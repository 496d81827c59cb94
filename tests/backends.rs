//! The two inference backends on real faces: the pack as shipped (YuNet on ONNX Runtime, SFace on
//! OpenVINO) against every model on ONNX Runtime, and every model on OpenVINO; the choice of backend
//! (`--backend`, the manifest, the fallback when OpenVINO is not installed) and its refusals.
mod common;

use common::*;
use facematch::backend::Backend;
use facematch::engine::Depth;
use facematch::score::cosine;
use facematch::{Engine, EngineConfig};

fn engine_on(backend: Option<Backend>) -> Engine {
    let mut c = EngineConfig::new(models_dir(), "yunet-sface");
    (c.workers, c.intra_threads, c.backend) = (1, 1, backend);
    Engine::new(c).unwrap_or_else(|e| panic!("engine on {backend:?}: {e} (run scripts/setup)"))
}

/// Real photos: the setup cache's portraits and, when ../shared/eval is present, the first 40 LFW
/// View 1 DevTest pairs' photos.
fn photos() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> =
        ["newton.png", "gauss.png", "solvay_conference_1927.jpg"].iter().map(|n| (n.to_string(), read(&sample(n)))).collect();
    if let Some(eval) = shared_eval() {
        let pairs = facematch::eval::pairs::load(&eval.join("lfw-view1/pairsDevTest.txt"), None).unwrap().pairs;
        for p in pairs.iter().take(20).chain(pairs.iter().skip(500).take(20)) {
            for path in [&p.a, &p.b] {
                v.push((path.display().to_string(), read(path)));
            }
        }
    }
    v
}

#[test]
fn the_backends_give_the_same_answers_on_real_faces() {
    let shipped = engine_on(None);
    let m = &shipped.pack().manifest;
    assert_eq!((m.detector.backend, m.embedder.backend), (Backend::Onnxruntime, Backend::Openvino), "the default pack's backends");
    let ort = engine_on(Some(Backend::Onnxruntime));
    let ov = engine_on(Some(Backend::Openvino));
    assert_eq!(ov.pack().manifest.detector.backend, Backend::Openvino);
    let (mut worst_same_detector, mut worst_all_openvino) = (1.0f32, 1.0f32);
    let mut embeddings = Vec::new();
    for (name, bytes) in photos() {
        let [a, b, c] = [&shipped, &ort, &ov].map(|e| e.analyse(bytes.clone(), Depth::Embedding).unwrap());
        assert_eq!(a.face_count(), b.face_count(), "{name}");
        let (ea, eb, ec) = (a.embedding.unwrap(), b.embedding.unwrap(), c.embedding.unwrap());
        // Same detector, so the same crop: only the embedder's arithmetic differs.
        worst_same_detector = worst_same_detector.min(cosine(&ea, &eb));
        // YuNet on OpenVINO too: landmarks a fraction of a pixel apart move the crop.
        worst_all_openvino = worst_all_openvino.min(cosine(&ea, &ec));
        embeddings.push((ea, eb));
    }
    eprintln!("worst cosine, shipped against all-ONNX-Runtime: {worst_same_detector:.8}; against all-OpenVINO: {worst_all_openvino:.6}");
    assert!(worst_same_detector > 0.99999, "{worst_same_detector}");
    assert!(worst_all_openvino > 0.999, "{worst_all_openvino}");
    // Pairwise similarities, the numbers scores and decisions are made of, agree to 1e-5.
    let mut worst = 0.0f32;
    for (i, (a1, b1)) in embeddings.iter().enumerate() {
        for (a2, b2) in &embeddings[i + 1..] {
            worst = worst.max((cosine(a1, a2) - cosine(b1, b2)).abs());
        }
    }
    eprintln!("largest similarity difference over {} pairs: {worst:.2e}", embeddings.len() * (embeddings.len() - 1) / 2);
    assert!(worst < 1e-5, "{worst}");
}

#[test]
fn a_named_backend_that_cannot_load_is_refused() {
    let mut c = EngineConfig::new(models_dir(), "yunet-sface");
    (c.workers, c.backend, c.openvino_lib) = (1, Some(Backend::Openvino), Some("/nonexistent/libopenvino_c.so.2641".into()));
    let err = Engine::new(c).err().expect("must fail").to_string();
    assert!(err.contains("OpenVINO library /nonexistent/libopenvino_c.so.2641") && err.contains("not found"), "{err}");
    // An explicit library is never replaced by a fallback, with or without --backend.
    let mut c = EngineConfig::new(models_dir(), "yunet-sface");
    (c.workers, c.openvino_lib) = (1, Some("/nonexistent/libopenvino_c.so.2641".into()));
    assert!(Engine::new(c).is_err());
}

/// A models directory without OpenVINO (an ONNX-Runtime-only install): the pack's OpenVINO model runs
/// on ONNX Runtime, with the same answers; `--backend openvino` is refused there.
#[test]
fn without_openvino_the_pack_runs_on_onnx_runtime() {
    let dir = std::env::temp_dir().join(format!("fm-ort-only-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(models_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::os::unix::fs::symlink(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    let mut c = EngineConfig::new(dir.clone(), "yunet-sface");
    c.workers = 1;
    let engine = Engine::new(c.clone()).unwrap();
    assert_eq!(engine.pack().manifest.embedder.backend, Backend::Onnxruntime);
    let newton = engine.analyse(read(&sample("newton.png")), Depth::Embedding).unwrap().embedding.unwrap();
    let shipped = shared_engine("yunet-sface").analyse(read(&sample("newton.png")), Depth::Embedding).unwrap().embedding.unwrap();
    assert!(cosine(&newton, &shipped) > 0.99999);
    c.backend = Some(Backend::Openvino);
    let err = Engine::new(c).err().expect("must fail").to_string();
    assert!(err.contains("OpenVINO library") && err.contains("scripts/setup"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

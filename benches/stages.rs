//! Per-stage timings of the pipeline with criterion, on real models and photos:
//! decode, letterbox, detector (letterbox + inference + decoding), detector inference alone,
//! alignment warp, embedder, embedder inference alone, each model on the pack's backend; and, as
//! baselines in the same run, each model's inference on the other backend (`*_onnxruntime`,
//! `*_openvino`) and the embedder on ONNX Runtime with SFace's graph before the PRelu rewrite
//! (`embedder_inference_prelu`, when scripts/setup's intermediate
//! `face_recognition_sface_2021dec_noinit.onnx` is present).
//! Run: `cargo bench --bench stages` (after scripts/setup). Inputs: an LFW 250x250 JPEG from
//! ../shared/eval (when present) and the setup cache's Solvay photo (3000x2171 JPEG).
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use facematch::align::align;
use facematch::backend::{self, Backend, LibraryPaths, Runtimes};
use facematch::decode::{decode, DecodeLimits};
use facematch::detect::Detector;
use facematch::embed::Embedder;
use facematch::letterbox::letterbox;
use facematch::EngineConfig;

fn inputs() -> Vec<(String, Vec<u8>)> {
    let cache = backend::default_models_dir().parent().map(PathBuf::from).unwrap_or_default();
    let mut v = Vec::new();
    let lfw = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/eval/lfw-view1/lfw/Aaron_Peirsol/Aaron_Peirsol_0001.jpg");
    match std::fs::read(&lfw) {
        Ok(b) => v.push(("lfw_250".to_string(), b)),
        Err(_) => eprintln!("SKIPPED lfw_250: ../shared/eval is absent"),
    }
    let solvay = cache.join("samples/solvay_conference_1927.jpg");
    v.push(("solvay_3000".to_string(), std::fs::read(&solvay).expect("run scripts/setup first")));
    v
}

fn stages(c: &mut Criterion) {
    let models = std::env::var_os("FACEMATCH_MODELS_DIR").map(PathBuf::from).unwrap_or_else(backend::default_models_dir);
    let (pack, _) = EngineConfig::new(models.clone(), "yunet-sface").load_pack().expect("pack");
    let both = [Backend::Onnxruntime, Backend::Openvino];
    let runtimes = Runtimes::load(&LibraryPaths { models_dir: models.clone(), ..Default::default() }, &both).expect("runtimes");
    let intra = std::env::var("FACEMATCH_INTRA_THREADS").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let (d, spec) = (pack.manifest.detector.clone(), pack.manifest.embedder.clone());
    let det_bytes = facematch::modelfile::verify(&pack.detector_path(), &d.model).unwrap();
    let emb_bytes = facematch::modelfile::verify(&pack.embedder_path(), &spec.model).unwrap();
    let detector_on =
        |b: Backend| Detector::new(runtimes.session(b, &det_bytes, intra, &pack.detector_path()).unwrap(), d.clone()).unwrap();
    let embedder_on =
        |b: Backend| Embedder::new(runtimes.session(b, &emb_bytes, intra, &pack.embedder_path()).unwrap(), spec.clone()).unwrap();
    let (mut detector, mut embedder) = (detector_on(d.backend), embedder_on(spec.backend));
    let other = |b: Backend| if b == Backend::Openvino { Backend::Onnxruntime } else { Backend::Openvino };
    let (mut detector_other, mut embedder_other) = (detector_on(other(d.backend)), embedder_on(other(spec.backend)));
    // The same weights with PRelu as published: the rewrite's baseline (scripts/onnx_edit.py).
    let prelu_path = models.join("face_recognition_sface_2021dec_noinit.onnx");
    let mut prelu = std::fs::read(&prelu_path)
        .ok()
        .map(|b| Embedder::new(runtimes.session(Backend::Onnxruntime, &b, intra, &prelu_path).unwrap(), spec.clone()).unwrap());
    let limits = DecodeLimits::default();
    for (name, bytes) in inputs() {
        let img = decode(&bytes, &limits).unwrap();
        let face = detector.detect(&img).unwrap().faces[0];
        let crop = align(&img, &face.landmarks, &spec.template, spec.input_size).unwrap();
        let mut g = c.benchmark_group(name);
        g.sample_size(20);
        g.bench_function("decode", |b| b.iter(|| decode(&bytes, &limits).unwrap()));
        let mut buf = Vec::new();
        g.bench_function("letterbox", |b| {
            b.iter(|| letterbox(&img, d.input_size, d.free_input, d.color_order, d.mean, d.std, &mut buf).unwrap())
        });
        g.bench_function("detect", |b| b.iter(|| detector.detect(&img).unwrap()));
        // Every pass `detect` makes (the first, and the second look where it runs).
        let passes = detector.prepare(&img).unwrap();
        g.bench_function("detector_inference", |b| {
            b.iter(|| passes.iter().map(|(t, dims)| detector.run_tensor(t, *dims).unwrap()).sum::<usize>())
        });
        g.bench_function("align", |b| b.iter(|| align(&img, &face.landmarks, &spec.template, spec.input_size).unwrap()));
        g.bench_function("embed", |b| b.iter(|| embedder.embed(&crop).unwrap()));
        let tensor = embedder.prepare(&crop);
        g.bench_function("embedder_inference", |b| b.iter(|| embedder.run_tensor(&tensor).unwrap()));
        g.bench_function(format!("embedder_inference_{}", other(spec.backend)), |b| b.iter(|| embedder_other.run_tensor(&tensor).unwrap()));
        g.bench_function(format!("detector_inference_{}", other(d.backend)), |b| {
            b.iter(|| passes.iter().map(|(t, dims)| detector_other.run_tensor(t, *dims).unwrap()).sum::<usize>())
        });
        if let Some(baseline) = prelu.as_mut() {
            g.bench_function("embedder_inference_prelu", |b| b.iter(|| baseline.run_tensor(&tensor).unwrap()));
        }
        g.finish();
    }
}

criterion_group!(benches, stages);
criterion_main!(benches);

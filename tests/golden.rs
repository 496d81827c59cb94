//! Golden outputs from OpenCV's own FaceDetectorYN + FaceRecognizerSF (tests/fixtures/golden_opencv.json,
//! made by scripts/golden_fixture), compared with tolerances.
mod common;

use common::*;
use facematch::align::align;
use facematch::backend::{Backend, LibraryPaths, Runtimes};
use facematch::embed::Embedder;
use facematch::manifest::Pack;
use facematch::score::cosine;
use serde_json::Value;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/golden_opencv.json")).unwrap()
}

fn points(v: &Value) -> [[f32; 2]; 5] {
    let mut out = [[0.0; 2]; 5];
    for (i, p) in v.as_array().unwrap().iter().enumerate() {
        out[i] = [p[0].as_f64().unwrap() as f32, p[1].as_f64().unwrap() as f32];
    }
    out
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

/// Isolates align + embed: OpenCV's landmarks in, our crop and SFace session, OpenCV's feature out.
/// On each backend, and the two backends against each other.
#[test]
fn alignment_and_embedding_match_opencv_given_its_landmarks() {
    let pack = Pack::resolve("yunet-sface", &models_dir()).unwrap();
    let both = [Backend::Onnxruntime, Backend::Openvino];
    let runtimes = Runtimes::load(&LibraryPaths { models_dir: models_dir(), ..Default::default() }, &both).unwrap();
    let bytes = facematch::modelfile::verify(&pack.embedder_path(), &pack.manifest.embedder.model).unwrap();
    let spec = pack.manifest.embedder.clone();
    let mut by_backend = Vec::new();
    for backend in both {
        let session = runtimes.session(backend, &bytes, 1, &pack.embedder_path()).unwrap();
        let mut embedder = Embedder::new(session, spec.clone()).unwrap();
        let mut embeddings = Vec::new();
        for (name, g) in fixture()["images"].as_object().unwrap() {
            let img = image::open(sample(name)).unwrap().to_rgb8();
            let crop = align(&img, &points(&g["landmarks"]), &spec.template, spec.input_size).unwrap();
            let ours = embedder.embed(&crop).unwrap();
            let sim = cosine(&ours, &floats(&g["embedding"]));
            eprintln!("{backend} {name}: cosine to OpenCV's embedding (same landmarks) = {sim:.6}");
            // Measured 0.999965-0.999967 on both backends: OpenCV's warp is fixed-point, ours float.
            assert!(sim > 0.9999, "{backend} {name}: {sim}");
            embeddings.push(ours);
        }
        by_backend.push(embeddings);
    }
    for (a, b) in by_backend[0].iter().zip(&by_backend[1]) {
        let sim = cosine(a, b);
        eprintln!("onnxruntime against openvino, same crop: cosine {sim:.8}");
        assert!(sim > 0.99999, "the backends disagree: cosine {sim}");
    }
}

#[test]
fn end_to_end_matches_opencv() {
    let engine = shared_engine("yunet-sface");
    for (name, g) in fixture()["images"].as_object().unwrap() {
        let a = engine.analyse(read(&sample(name)), facematch::engine::Depth::Embedding).unwrap();
        assert_eq!(a.face_count() as u64, g["faces"].as_u64().unwrap(), "{name}");
        let chosen = a.chosen.unwrap().face;
        let theirs = points(&g["landmarks"]);
        let eye_dist = (theirs[1][0] - theirs[0][0]).hypot(theirs[1][1] - theirs[0][1]);
        for (p, q) in chosen.landmarks.iter().zip(theirs) {
            let d = (p[0] - q[0]).hypot(p[1] - q[1]);
            // Within 5 % of the inter-eye distance: OpenCV runs YuNet on its own DNN engine and
            // resizes in fixed point; we run ONNX Runtime and a SIMD float resize.
            assert!(d < 0.05 * eye_dist, "{name}: landmark off by {d} px (eyes {eye_dist} px apart)");
        }
        assert!((chosen.score - g["score"].as_f64().unwrap() as f32).abs() < 0.02, "{name}");
        let sim = cosine(a.embedding.as_ref().unwrap(), &floats(&g["embedding"]));
        eprintln!("{name}: end-to-end cosine to OpenCV = {sim:.6}");
        // Given identical landmarks the embeddings agree to > 0.9999 (test above); the gap here is the
        // landmarks. With one detector pass it was 0.998-0.999. The pack's second look crops around the
        // first pass's box, and a box a fraction of a pixel apart (OpenCV's DNN against ONNX Runtime)
        // can round to a crop one pixel apart, which YuNet, not shift-invariant to the pixel, answers
        // with landmarks 1-2 px apart on a 280 px face: measured 0.987 (gauss) and 0.999 (newton).
        assert!(sim > 0.98, "{name}: {sim}");
    }
}

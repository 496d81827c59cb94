//! Accuracy on LFW View 1 DevTest (1,000 pairs; ../shared/eval/lfw-view1), every pack. The floors
//! are the measured values minus a small margin (README: "Accuracy").
mod common;

use common::*;

fn devtest(pack: &str, floor: f64) {
    let Some(eval) = shared_eval() else { return };
    let pairs = facematch::eval::pairs::load(&eval.join("lfw-view1/pairsDevTest.txt"), None).unwrap().pairs;
    assert_eq!(pairs.len(), 1000);
    let engine = shared_engine(pack);
    let (scores, images) = facematch::eval::score_pairs(engine, &pairs, None, &|_, _| {});
    let r = facematch::eval::report(&pairs, &scores, &images, 0, engine.pack().manifest.calibration.as_ref()).unwrap();
    println!(
        "{pack}: LFW View 1 DevTest best-threshold accuracy {:.2}% at cosine {:.4}; AUC {:.4}; no face {}; low-confidence {}",
        r.accuracy * 100.0,
        r.best_threshold,
        r.auc,
        r.images_no_face,
        r.images_low_confidence
    );
    assert_eq!(r.images_failed, 0);
    assert!(r.accuracy >= floor, "{pack}: accuracy {:.4} below the floor {floor}", r.accuracy);
}

#[test]
fn lfw_devtest_yunet_sface() {
    // Measured 98.80 % (the Python/OpenCV reference with one 640x640 detector pass: 98.7 %).
    devtest("yunet-sface", 0.985);
}

#[test]
fn lfw_devtest_scrfd_sface() {
    devtest("scrfd-sface", 0.980);
}

//! Evaluation on labelled pairs: embeds every distinct image once, scores each pair, and reports
//! accuracy, ROC AUC, EER and TAR at fixed FMRs.
pub mod cache;
pub mod endpoint;
pub mod groups;
pub mod labelled;
pub mod metrics;
pub mod pairs;
pub mod plot;
pub mod sidebyside;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::engine::Engine;
use crate::score::cosine;
use metrics::TarAtFmr;
use pairs::Pair;

/// The outcome for one distinct image.
#[derive(Debug, Clone)]
pub struct ImageResult {
    pub embedding: Option<Vec<f32>>,
    pub faces: usize,
    pub low_confidence: bool,
    pub error: Option<String>,
}

/// Embeds the given images on all engine workers at once; `progress` is called after each image.
pub fn embed_images(engine: &Engine, paths: &[PathBuf], progress: &(dyn Fn(usize) + Sync)) -> Vec<ImageResult> {
    let (tx, rx) = crossbeam_channel::unbounded::<(usize, crate::Result<crate::Analysis>)>();
    let mut results: Vec<Option<ImageResult>> = vec![None; paths.len()];
    std::thread::scope(|s| {
        s.spawn(|| {
            for (i, p) in paths.iter().enumerate() {
                let bytes = match std::fs::read(p) {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = tx.send((i, Err(crate::Error::Internal(format!("cannot read {}: {e}", p.display())))));
                        continue;
                    }
                };
                // Blocks while the queue is full, so memory stays bounded by the queue depth.
                let reply_tx = tx.clone();
                if engine.submit_blocking(bytes, crate::engine::Depth::Embedding, move |r| drop(reply_tx.send((i, r)))).is_err() {
                    let _ = tx.send((i, Err(crate::Error::Shutdown)));
                }
            }
            drop(tx);
        });
        let mut done = 0;
        for (i, r) in rx.iter() {
            results[i] = Some(match r {
                Ok(a) => ImageResult {
                    faces: a.face_count(),
                    low_confidence: a.chosen.is_some_and(|c| c.low_confidence),
                    embedding: a.embedding,
                    error: None,
                },
                Err(e) => ImageResult { embedding: None, faces: 0, low_confidence: false, error: Some(e.to_string()) },
            });
            done += 1;
            progress(done);
        }
    });
    results
        .into_iter()
        .map(|r| r.unwrap_or(ImageResult { embedding: None, faces: 0, low_confidence: false, error: Some("not processed".into()) }))
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub pairs: usize,
    pub genuine: usize,
    pub impostor: usize,
    /// Best-threshold accuracy (on all pairs).
    pub accuracy: f64,
    pub best_threshold: f32,
    /// k-fold accuracy (mean over folds, each with the threshold chosen on the others) and its
    /// standard deviation, when the list has folds.
    pub kfold_accuracy: Option<f64>,
    pub kfold_std: Option<f64>,
    /// Each fold's size, threshold and accuracy.
    pub folds: Vec<metrics::Fold>,
    pub auc: f64,
    pub eer: f64,
    pub tar_at_fmr: std::collections::BTreeMap<String, f64>,
    pub tar_at_fmr_detail: Vec<TarAtFmr>,
    /// What the calibrated score means on this data: per score, its cosine threshold, the FMR the
    /// calibration promises and the FMR and TAR measured here.
    pub calibrated: Vec<CalibratedRow>,
    pub images: usize,
    /// Images where no face reached even the fallback floor (their pairs score -1).
    pub images_no_face: usize,
    /// Images whose face came from the low-confidence fallback.
    pub images_low_confidence: usize,
    pub images_failed: usize,
    /// Pairs with an image that could not be read or decoded (scored -1, as a rejection).
    pub pairs_failed: usize,
    /// Per group of people (labelled sets only): the measured FMR against the promise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<groups::GroupRow>,
}

/// The distinct images of a pair list in the order [`score_pairs`] embeds and returns them.
fn distinct_images(pairs: &[Pair]) -> (HashMap<PathBuf, usize>, Vec<PathBuf>) {
    let mut index: HashMap<PathBuf, usize> = HashMap::new();
    let mut paths = Vec::new();
    for p in pairs {
        for path in [&p.a, &p.b] {
            index.entry(path.clone()).or_insert_with(|| {
                paths.push(path.clone());
                paths.len() - 1
            });
        }
    }
    (index, paths)
}

/// Looks up an image's result among those [`score_pairs`] returned for the same pairs.
pub fn image_results<'a>(pairs: &[Pair], images: &'a [ImageResult]) -> impl Fn(&Path) -> Option<&'a ImageResult> {
    let (index, _) = distinct_images(pairs);
    move |p: &Path| index.get(p).and_then(|&i| images.get(i))
}

/// Cosine score per pair (-1 when either image has no usable face) and the distinct-image results.
/// With a cache, images already embedded by this pack are not embedded again.
pub fn score_pairs(
    engine: &Engine,
    pairs: &[Pair],
    cache: Option<&mut cache::EmbeddingCache>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> (Vec<f32>, Vec<ImageResult>) {
    let (index, paths) = distinct_images(pairs);
    let images = embed_cached(engine, &paths, cache, progress);
    let scores = pairs
        .iter()
        .map(|p| match (&images[index[&p.a]].embedding, &images[index[&p.b]].embedding) {
            (Some(a), Some(b)) => cosine(a, b),
            _ => -1.0,
        })
        .collect();
    (scores, images)
}

/// [`embed_images`] for the images the cache does not hold (all of them without a cache); the cache
/// takes the new results. `progress(done, total)` counts cached images as done.
pub fn embed_cached(
    engine: &Engine,
    paths: &[PathBuf],
    mut cache: Option<&mut cache::EmbeddingCache>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Vec<ImageResult> {
    let total = paths.len();
    let mut images: Vec<Option<ImageResult>> = paths.iter().map(|p| cache.as_deref().and_then(|c| c.get(p))).collect();
    let missing: Vec<usize> = (0..total).filter(|&i| images[i].is_none()).collect();
    let cached = total - missing.len();
    let todo: Vec<PathBuf> = missing.iter().map(|&i| paths[i].clone()).collect();
    let fresh = embed_images(engine, &todo, &|done| progress(cached + done, total));
    for (&i, r) in missing.iter().zip(fresh) {
        if let Some(c) = cache.as_deref_mut() {
            c.put(&paths[i], &r);
        }
        images[i] = Some(r);
    }
    images.into_iter().flatten().collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct CalibratedRow {
    pub score: f32,
    pub cosine: f32,
    pub fmr_calibrated: f64,
    pub fmr_measured: f64,
    pub tar: f64,
}

/// Scores at FMR 1e-3, 2.5e-4, 1e-4, 3e-5 (the default decision), 1e-5 and 1e-6.
pub const REPORT_SCORES: [f32; 6] = [0.5, 0.6, 2.0 / 3.0, 0.75, 5.0 / 6.0, 1.0];

pub const REPORT_FMRS: [f64; 3] = [1e-2, 1e-3, 1e-4];

/// The report of scored pairs; `failed` counts the pairs with an unreadable image. An error when
/// the list's folds cannot give a k-fold figure (a fold without genuine or impostor pairs).
pub fn report(
    pairs: &[Pair],
    scores: &[f32],
    images: &[ImageResult],
    failed: usize,
    calibration: Option<&crate::calibration::Calibration>,
) -> Result<Report, String> {
    let labelled: Vec<(f32, bool)> = scores.iter().zip(pairs).map(|(&s, p)| (s, p.same)).collect();
    let genuine: Vec<f32> = labelled.iter().filter(|x| x.1).map(|x| x.0).collect();
    let impostor: Vec<f32> = labelled.iter().filter(|x| !x.1).map(|x| x.0).collect();
    let (accuracy, best_threshold) = metrics::best_threshold(&labelled);
    let folded: Option<Vec<(f32, bool, &str)>> =
        pairs.iter().zip(scores).map(|(p, &s)| p.fold.as_deref().map(|f| (s, p.same, f))).collect();
    let folds = folded.as_deref().map(metrics::kfold).transpose()?.unwrap_or_default();
    let kfold = (!folds.is_empty()).then(|| metrics::mean_sd(&folds));
    let detail: Vec<TarAtFmr> = REPORT_FMRS.iter().map(|&f| metrics::tar_at_fmr(&genuine, &impostor, f)).collect();
    let share = |v: &[f32], t: f32| if v.is_empty() { 0.0 } else { v.iter().filter(|&&x| x >= t).count() as f64 / v.len() as f64 };
    let calibrated = calibration
        .map(|c| {
            REPORT_SCORES
                .iter()
                .map(|&s| {
                    let cosine = c.cosine_for_score(s);
                    CalibratedRow {
                        score: s,
                        cosine,
                        fmr_calibrated: c.fmr(cosine).0,
                        fmr_measured: share(&impostor, cosine),
                        tar: share(&genuine, cosine),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Report {
        groups: Vec::new(),
        calibrated,
        folds,
        pairs_failed: failed,
        pairs: pairs.len(),
        genuine: genuine.len(),
        impostor: impostor.len(),
        accuracy,
        best_threshold,
        kfold_accuracy: kfold.map(|k| k.0),
        kfold_std: kfold.map(|k| k.1),
        auc: metrics::auc(&genuine, &impostor),
        eer: metrics::eer(&genuine, &impostor),
        tar_at_fmr: detail.iter().map(|d| (format!("{:.0e}", d.fmr).replace("e-", "e-"), d.tar)).collect(),
        tar_at_fmr_detail: detail,
        images: images.len(),
        images_no_face: images.iter().filter(|i| i.error.is_none() && i.embedding.is_none()).count(),
        images_low_confidence: images.iter().filter(|i| i.low_confidence).count(),
        images_failed: images.iter().filter(|i| i.error.is_some()).count(),
    })
}

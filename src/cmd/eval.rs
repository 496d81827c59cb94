//! `facematch eval`: labelled pairs in, a report a benchmark team can check out. It fails loudly
//! (an unreadable image stops the run, unless `--allow-missing`), reports every fold, writes every
//! pair's score on request, and carries its own provenance (pack, model sha256s, engine build, pair
//! file sha256, date).
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::cli::EvalArgs;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::eval::pairs::{self, Pair};
use crate::eval::{endpoint, sidebyside, ImageResult, Report};
use crate::manifest::Manifest;

/// An image's result by its path ([`crate::eval::image_results`]).
type ImageLookup<'a> = dyn Fn(&Path) -> Option<&'a ImageResult> + 'a;

/// How many failed images are named in messages and reports.
const NAMED_FAILURES: usize = 10;

/// What produced a report: enough to tell whether two reports can be compared.
#[derive(Debug, Clone, Serialize)]
pub struct Provenance {
    pub pack: String,
    pub detector: ModelId,
    pub embedder: ModelId,
    /// Test-time augmentation of the embedder (`none`, `flip`).
    pub tta: String,
    /// Crate version and the fingerprint of the pipeline code ([`crate::version`]).
    pub engine_version: String,
    pub pairs_file: String,
    pub pairs_sha256: String,
    /// Where the images were read from.
    pub images: String,
    pub calibration_dataset: Option<String>,
    pub date: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelId {
    pub file: String,
    pub sha256: Option<String>,
}

/// An image that could not be read or decoded, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub path: String,
    pub reason: String,
}

pub fn run(engine: &Engine, args: &EvalArgs, cache_dir: &Path) -> Result<()> {
    let fail = |m: String| Error::Command(m);
    let list = pairs::load(&args.pairs, args.images_root.as_deref()).map_err(|e| fail(e.to_string()))?;
    eprintln!("eval: {} pairs; {}", list.pairs.len(), list.resolved);
    let manifest = &engine.pack().manifest;
    let provenance = provenance(manifest, &args.pairs, &list.resolved)?;
    let mut cache = (!args.no_cache).then(|| crate::eval::cache::EmbeddingCache::open(cache_dir, manifest));
    let (scores, images) = embed_with_progress(engine, &list.pairs, cache.as_mut());
    if let Some(c) = &cache {
        if let Err(e) = c.save() {
            eprintln!("eval: warning: embedding cache not saved: {e}");
        }
    }
    let by_path = crate::eval::image_results(&list.pairs, &images);
    let (failed_pairs, failures) = failures(&list.pairs, &by_path);
    if let Some(path) = &args.scores {
        write_scores(path, &list.pairs, &scores, &by_path, manifest, args.threshold)
            .map_err(|e| fail(format!("{}: {e}", path.display())))?;
        eprintln!("eval: per-pair scores written to {}", path.display());
    }
    if failed_pairs > 0 {
        let named: Vec<String> = failures.iter().take(NAMED_FAILURES).map(|f| format!("  {}: {}", f.path, f.reason)).collect();
        let msg = format!(
            "{failed_pairs} of {} pairs could not be scored: {} images could not be read or decoded ({}), first:\n{}",
            list.pairs.len(),
            failures.len(),
            list.resolved,
            named.join("\n")
        );
        if !args.allow_missing {
            return Err(fail(format!("{msg}\n(--allow-missing counts such pairs as rejected and goes on)")));
        }
        eprintln!("eval: warning: {msg}\neval: --allow-missing: those pairs are scored -1 (rejected)");
    }
    let mut report = crate::eval::report(&list.pairs, &scores, &images, failed_pairs, manifest.calibration.as_ref())
        .map_err(|e| fail(format!("{}: {e}", args.pairs.display())))?;
    if let Some(cal) = &manifest.calibration {
        // The FMR-1e-3 point and the deployment's decision, per group of people.
        report.groups = crate::eval::groups::report(&list.pairs, &scores, cal, &[0.5, args.threshold]);
    }
    if let Some(p) = &args.plot {
        let side = |same: bool| scores.iter().zip(&list.pairs).filter(|(_, q)| q.same == same).map(|(s, _)| *s).collect::<Vec<f32>>();
        let title = format!("{} on {}", manifest.name, args.pairs.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default());
        crate::eval::plot::write_png(p, &title, &side(true), &side(false))?;
        eprintln!("eval: plot written to {}", p.display());
    }
    let vendor = match &args.endpoint {
        Some(spec) => Some(side_by_side(spec, args, &list.pairs, &scores, manifest)?),
        None => None,
    };
    if args.json {
        // The local report's fields stay at the top level; provenance and the vendor are added.
        let mut out = serde_json::to_value(&report).unwrap_or_default();
        if let Some(map) = out.as_object_mut() {
            map.insert("provenance".into(), json!(provenance));
            map.insert("failures".into(), json!(failures.iter().take(NAMED_FAILURES).collect::<Vec<_>>()));
            if let Some(v) = &vendor {
                map.insert("vendor".into(), json!(v));
            }
        }
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        print_provenance(&provenance);
        print_report(&report);
        if let Some(v) = &vendor {
            print_vendor(v, &args.csv);
        }
    }
    Ok(())
}

fn provenance(manifest: &Manifest, pairs_file: &Path, resolved: &str) -> Result<Provenance> {
    let bytes = std::fs::read(pairs_file).map_err(|e| Error::Command(format!("{}: {e}", pairs_file.display())))?;
    let id = |m: &crate::manifest::ModelFile| ModelId { file: m.file.clone(), sha256: m.sha256.clone() };
    Ok(Provenance {
        pack: manifest.name.clone(),
        detector: id(&manifest.detector.model),
        embedder: id(&manifest.embedder.model),
        tta: manifest.embedder.tta.to_string(),
        engine_version: crate::version::engine_version(),
        pairs_file: pairs_file.display().to_string(),
        pairs_sha256: hex::encode(Sha256::digest(&bytes)),
        images: resolved.to_string(),
        calibration_dataset: manifest.calibration.as_ref().map(|c| c.dataset.clone()),
        date: crate::store::iso_now(),
    })
}

fn embed_with_progress(
    engine: &Engine,
    pairs: &[Pair],
    cache: Option<&mut crate::eval::cache::EmbeddingCache>,
) -> (Vec<f32>, Vec<ImageResult>) {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} images, {per_sec}, eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message("embedding");
    let out = crate::eval::score_pairs(engine, pairs, cache, &|done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    out
}

/// The number of pairs with a failed image, and each failed image once (in pair order).
fn failures(pairs: &[Pair], by_path: &ImageLookup) -> (usize, Vec<Failure>) {
    let mut seen = std::collections::HashSet::new();
    let mut list = Vec::new();
    let mut failed = 0;
    for p in pairs {
        let mut bad = false;
        for path in [&p.a, &p.b] {
            if let Some(reason) = by_path(path).and_then(|r| r.error.clone()) {
                bad = true;
                if seen.insert(path.clone()) {
                    list.push(Failure { path: path.display().to_string(), reason });
                }
            }
        }
        failed += usize::from(bad);
    }
    (failed, list)
}

/// One row per pair: what was measured and what the deployment's threshold decides.
fn write_scores(
    path: &Path,
    pairs: &[Pair],
    cosines: &[f32],
    by_path: &ImageLookup,
    manifest: &Manifest,
    threshold: f32,
) -> std::result::Result<(), csv::Error> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(["image1", "image2", "same", "fold", "cosine", "score", "fmr", "decision", "faces1", "faces2", "error"])?;
    for (p, &c) in pairs.iter().zip(cosines) {
        let (a, b) = (by_path(&p.a), by_path(&p.b));
        let error: Vec<String> = [a, b].iter().flatten().filter_map(|r| r.error.clone()).collect();
        let embedded = a.is_some_and(|r| r.embedding.is_some()) && b.is_some_and(|r| r.embedding.is_some());
        let calibrated = embedded.then(|| manifest.calibrated(c)).flatten();
        let decision = match (error.is_empty(), embedded, calibrated) {
            (false, _, _) => "error",
            (true, false, _) => "no_face",
            (true, true, Some(k)) if k.score >= threshold => "match",
            (true, true, Some(_)) => "no_match",
            (true, true, None) => "uncalibrated",
        };
        let faces = |r: Option<&ImageResult>| r.map(|r| r.faces.to_string()).unwrap_or_default();
        w.write_record([
            p.a.display().to_string(),
            p.b.display().to_string(),
            u8::from(p.same).to_string(),
            p.fold.clone().unwrap_or_default(),
            if embedded { format!("{c:.6}") } else { String::new() },
            calibrated.map(|k| format!("{:.4}", k.score)).unwrap_or_default(),
            calibrated.map(|k| format!("{:.3e}", k.fmr)).unwrap_or_default(),
            decision.to_string(),
            faces(a),
            faces(b),
            error.join("; "),
        ])?;
    }
    w.flush()?;
    Ok(())
}

fn side_by_side(spec: &str, args: &EvalArgs, pairs: &[Pair], cosines: &[f32], manifest: &Manifest) -> Result<sidebyside::Summary> {
    let bad = |m: String| Error::Command(m);
    let (name, url) = spec.split_once('=').ok_or_else(|| bad("--endpoint takes VENDOR=BASE_URL".into()))?;
    let vendor: endpoint::Vendor = name.parse().map_err(bad)?;
    let creds = args.credentials.as_deref().map(endpoint::parse_credentials).unwrap_or_default();
    let ep = endpoint::Endpoint::new(vendor, url, creds).map_err(|e| bad(e.to_string()))?;
    let local_score: Vec<f32> = cosines.iter().map(|&c| manifest.calibrated(c).map_or(c, |k| k.score)).collect();
    let local_match: Vec<bool> = cosines.iter().map(|&c| manifest.calibrated(c).map_or(c >= 0.5, |k| k.score >= args.threshold)).collect();
    let bar = indicatif::ProgressBar::new(pairs.len() as u64);
    let rows = sidebyside::run(&ep, pairs, &|i| bar.set_position(i as u64));
    bar.finish_and_clear();
    if let Some(first) = rows.iter().find_map(|r| r.error.as_ref()) {
        eprintln!(
            "eval: warning: {name}: {} of {} pairs failed; first error: {first}",
            rows.iter().filter(|r| r.error.is_some()).count(),
            rows.len()
        );
    }
    sidebyside::write_csv(&args.csv, pairs, &rows, cosines, &local_score, &local_match)
        .map_err(|e| bad(format!("{}: {e}", args.csv.display())))?;
    Ok(sidebyside::summarize(name, pairs, &rows, &local_score, &local_match))
}

fn print_provenance(p: &Provenance) {
    let sha = |m: &ModelId| m.sha256.as_deref().map(|s| format!("{}…", &s[..s.len().min(12)])).unwrap_or_else(|| "unpinned".into());
    println!(
        "pack {} (detector {} {}, embedder {} {}, tta {}), engine {}",
        p.pack,
        p.detector.file,
        sha(&p.detector),
        p.embedder.file,
        sha(&p.embedder),
        p.tta,
        p.engine_version
    );
    println!("pairs {} (sha256 {}…), {}; {}", p.pairs_file, &p.pairs_sha256[..12], p.images, p.date);
}

fn print_report(report: &Report) {
    println!("pairs {} ({} genuine, {} impostor)", report.pairs, report.genuine, report.impostor);
    if report.pairs_failed > 0 {
        println!("pairs with an unreadable image, counted as rejected: {}", report.pairs_failed);
    }
    println!("best-threshold accuracy {:.2}% at cosine {:.4}", report.accuracy * 100.0, report.best_threshold);
    if let (Some(k), Some(sd)) = (report.kfold_accuracy, report.kfold_std) {
        println!("{}-fold accuracy {:.2}% ± {:.2}", report.folds.len(), k * 100.0, sd * 100.0);
        for f in &report.folds {
            println!(
                "  fold {}: {:.2}% ({} pairs: {} genuine, {} impostor; cosine threshold {:.4})",
                f.fold,
                f.accuracy * 100.0,
                f.pairs,
                f.genuine,
                f.impostor,
                f.threshold
            );
        }
    }
    println!("AUC {:.4}  EER {:.2}%", report.auc, report.eer * 100.0);
    for d in &report.tar_at_fmr_detail {
        let note = if d.measurable { "" } else { ", too few impostors to measure" };
        println!("TAR@FMR={:.0e}: {:.2}% (cosine threshold {:.4}, {} impostors{note})", d.fmr, d.tar * 100.0, d.threshold, d.impostors);
    }
    if !report.calibrated.is_empty() {
        println!("calibrated score -> cosine -> FMR (calibration) -> FMR measured here -> TAR here");
        for r in &report.calibrated {
            println!("  {:.2} -> {:.4} -> {:.1e} -> {:.4} -> {:.2}%", r.score, r.cosine, r.fmr_calibrated, r.fmr_measured, r.tar * 100.0);
        }
    }
    println!(
        "images {} (no face {}, low-confidence {}, failed {})",
        report.images, report.images_no_face, report.images_low_confidence, report.images_failed
    );
    print_groups(&report.groups);
}

fn print_groups(rows: &[crate::eval::groups::GroupRow]) {
    use crate::eval::groups::{INTERVAL, MIN_IMPOSTORS};
    if rows.is_empty() {
        return;
    }
    println!(
        "\nper group: at each calibrated score, impostors accepted, the FMR measured ({:.0} % interval) against the promise, and TAR",
        INTERVAL * 100.0
    );
    println!(
        "{:<26} {:>5} {:>7} {:>9} {:>14} {:>9} {:>22} {:>7} {:>9}",
        "group", "score", "cosine", "promised", "accepted", "measured", "interval", "ratio", "TAR"
    );
    for r in rows {
        let note = if r.impostor_pairs < MIN_IMPOSTORS { "  (too few impostor pairs to resolve)" } else { "" };
        println!(
            "{:<26} {:>5.2} {:>7.4} {:>9.1e} {:>14} {:>9.1e} {:>22} {:>7} {:>9}{note}",
            r.group,
            r.score,
            r.cosine,
            r.fmr_promised,
            format!("{}/{}", r.impostors_accepted, r.impostor_pairs),
            r.fmr_measured,
            format!("[{:.1e}, {:.1e}]", r.fmr_low, r.fmr_high),
            r.ratio.map(|x| format!("{x:.1}x")).unwrap_or_else(|| "-".into()),
            r.tar.map(|t| format!("{:.2}%", t * 100.0)).unwrap_or_else(|| "-".into()),
        );
    }
}

fn print_vendor(v: &sidebyside::Summary, csv: &Path) {
    println!("\nside by side with {} ({} pairs, {} errors); per-pair CSV: {}", v.vendor, v.pairs, v.errors, csv.display());
    let pct = |x: Option<f64>| x.map(|v| format!("{:.2}%", v * 100.0)).unwrap_or_else(|| "n/a".into());
    println!(
        "  decision agreement {}; decision accuracy: local {:.2}%, vendor {}",
        pct(v.decision_agreement),
        v.local_decision_accuracy * 100.0,
        pct(v.vendor_decision_accuracy)
    );
    println!(
        "  rank correlation (Spearman) {}",
        v.rank_correlation.map(|r| format!("{r:.4}")).unwrap_or_else(|| "n/a (vendor gives no score)".into())
    );
    for (l, r) in v.local_tar_at_fmr.iter().zip(v.vendor_tar_at_fmr.iter().map(Some).chain(std::iter::repeat(None))) {
        println!(
            "  TAR@FMR={:.0e}: local {:.2}%, vendor {}",
            l.fmr,
            l.tar * 100.0,
            r.map(|r| format!("{:.2}%", r.tar * 100.0)).unwrap_or_else(|| "n/a".into())
        );
    }
}

/// The default location of the eval embedding cache: beside the models, in the setup cache.
pub fn default_cache_dir(models_dir: &Path) -> PathBuf {
    models_dir.parent().map(|p| p.join("eval-cache")).unwrap_or_default()
}

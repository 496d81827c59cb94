//! `facematch eval` as a benchmark team runs it, through the real binary on real photos: an
//! unreadable image stops the run loudly (naming it), an LFW root is accepted with or without its
//! `lfw/`, folds numbered 1..10 give ten folds, and `--scores` writes every pair.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use serde_json::Value;

fn eval(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_facematch"))
        .args(["--models-dir", models_dir().to_str().unwrap(), "--workers", "2", "--intra-threads", "1", "eval", "--no-cache"])
        .args(args)
        .output()
        .unwrap()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: stdout {} stderr {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fm-eval-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The first `n` genuine and `n` impostor pairs of LFW View 1 DevTest, as CSV rows with absolute
/// paths (pairsDevTest lists 500 genuine pairs first, then 500 impostor pairs).
fn lfw_rows(eval: &Path, n: usize) -> Vec<(String, String, bool)> {
    let list = facematch::eval::pairs::load(&eval.join("lfw-view1/pairsDevTest.txt"), None).unwrap().pairs;
    let genuine = list.iter().filter(|p| p.same).take(n);
    let impostor = list.iter().filter(|p| !p.same).take(n);
    genuine.chain(impostor).map(|p| (p.a.display().to_string(), p.b.display().to_string(), p.same)).collect()
}

#[test]
fn an_unreadable_image_stops_the_run_and_is_named() {
    let dir = temp_dir("missing");
    let newton = sample("newton.png");
    let gauss = sample("gauss.png");
    let missing = dir.join("no-such-photo.jpg");
    let garbage = dir.join("garbage.jpg");
    std::fs::write(&garbage, b"this is not a JPEG").unwrap();
    let csv = dir.join("pairs.csv");
    std::fs::write(
        &csv,
        format!(
            "image1,image2,same\n{n},{n},1\n{n},{g},0\n{n},{m},1\n{g},{b},0\n",
            n = newton.display(),
            g = gauss.display(),
            m = missing.display(),
            b = garbage.display()
        ),
    )
    .unwrap();
    let out = eval(&["--pairs", csv.to_str().unwrap(), "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "must fail: {stderr}");
    assert!(out.stdout.is_empty(), "no report may be printed: {}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr.contains("2 of 4 pairs could not be scored"), "{stderr}");
    assert!(stderr.contains("no-such-photo.jpg") && stderr.contains("garbage.jpg"), "{stderr}");
    assert!(stderr.contains("--allow-missing"), "{stderr}");

    // --allow-missing: the run goes on, says how many, and the report counts them.
    let scores = dir.join("scores.csv");
    let out = eval(&["--pairs", csv.to_str().unwrap(), "--json", "--allow-missing", "--scores", scores.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = json_of(&out);
    assert_eq!((r["pairs"].as_u64(), r["pairs_failed"].as_u64(), r["images_failed"].as_u64()), (Some(4), Some(2), Some(2)), "{r}");
    assert_eq!(r["failures"].as_array().unwrap().len(), 2);
    let p = &r["provenance"];
    assert_eq!(p["pack"], "yunet-sface");
    assert_eq!(p["embedder"]["sha256"].as_str().map(str::len), Some(64));
    assert_eq!(p["pairs_sha256"].as_str().map(str::len), Some(64));
    assert!(p["engine_version"].as_str().unwrap().contains("pipeline "), "{p}");
    assert_eq!(p["tta"], "none");

    // The scores file: one row per pair, the documented columns, each failure's reason.
    let text = std::fs::read_to_string(&scores).unwrap();
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = rows.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(header, ["image1", "image2", "same", "fold", "cosine", "score", "fmr", "decision", "faces1", "faces2", "error"]);
    let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 4);
    let decision: Vec<&str> = rows.iter().map(|r| &r[7]).collect();
    assert_eq!(decision, ["match", "no_match", "error", "error"], "{text}");
    assert!(rows[0][4].parse::<f32>().unwrap() > 0.99 && rows[0][5].parse::<f32>().unwrap() >= 0.75);
    assert!(rows[1][6].parse::<f64>().unwrap() > 1e-3, "newton vs gauss is a common score: {}", &rows[1][6]);
    assert!(rows[2][10].contains("no-such-photo.jpg") || rows[2][10].contains("cannot read"), "{text}");
    assert_eq!((&rows[0][8], &rows[0][9]), ("1", "1"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_lfw_root_works_with_or_without_its_lfw_folder() {
    let Some(eval_dir) = shared_eval() else { return };
    let dir = temp_dir("lfwroot");
    // A 2-pair LFW list (one genuine, one impostor) from DevTest's first lines.
    let text = std::fs::read_to_string(eval_dir.join("lfw-view1/pairsDevTest.txt")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let impostor = lines.iter().find(|l| l.split_whitespace().count() == 4).unwrap();
    let list = dir.join("pairs.txt");
    std::fs::write(&list, format!("1\n{}\n{}\n", lines[1], impostor)).unwrap();
    let outer = eval_dir.join("lfw-view1");
    let inner = outer.join("lfw");
    let mut cosines = Vec::new();
    for root in [&outer, &inner] {
        let out = eval(&["--pairs", list.to_str().unwrap(), "--images-root", root.to_str().unwrap(), "--json"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", root.display());
        assert!(stderr.contains(&format!("LFW images read from {}", inner.display())), "{stderr}");
        let r = json_of(&out);
        assert_eq!((r["pairs_failed"].as_u64(), r["images_failed"].as_u64()), (Some(0), Some(0)), "{r}");
        cosines.push(r["best_threshold"].as_f64().unwrap());
    }
    assert_eq!(cosines[0], cosines[1]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn folds_numbered_from_one_give_ten_folds() {
    let Some(eval_dir) = shared_eval() else { return };
    let dir = temp_dir("folds");
    let rows = lfw_rows(&eval_dir, 20);
    let mut reports = Vec::new();
    for base in [1, 0] {
        let csv = dir.join(format!("folds{base}.csv"));
        let body: String =
            rows.iter().enumerate().map(|(i, (a, b, same))| format!("{a},{b},{},{}\n", u8::from(*same), i % 10 + base)).collect();
        std::fs::write(&csv, format!("image1,image2,same,fold\n{body}")).unwrap();
        let out = eval(&["--pairs", csv.to_str().unwrap(), "--json"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        reports.push(json_of(&out));
    }
    for r in &reports {
        let folds = r["folds"].as_array().unwrap();
        assert_eq!(folds.len(), 10, "{r}");
        assert!(folds.iter().all(|f| f["pairs"] == 4 && f["genuine"] == 2 && f["impostor"] == 2), "{r}");
        let mean = folds.iter().map(|f| f["accuracy"].as_f64().unwrap()).sum::<f64>() / 10.0;
        assert!((r["kfold_accuracy"].as_f64().unwrap() - mean).abs() < 1e-12, "{r}");
        // LFW-class pairs: the k-fold mean is near the best-threshold accuracy, not dragged down
        // by an empty fold counted as 0 % (the old 11-fold figure).
        assert!(r["kfold_accuracy"].as_f64().unwrap() >= 0.85, "{r}");
    }
    let labels = |r: &Value| r["folds"].as_array().unwrap().iter().map(|f| f["fold"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(labels(&reports[0]), (1..=10).map(|i| i.to_string()).collect::<Vec<_>>());
    assert_eq!(reports[0]["kfold_accuracy"], reports[1]["kfold_accuracy"]);

    // A fold without impostor pairs cannot give an accuracy: refused, naming the fold.
    let csv = dir.join("lopsided.csv");
    let body: String = rows.iter().map(|(a, b, same)| format!("{a},{b},{},{}\n", u8::from(*same), if *same { "x" } else { "y" })).collect();
    std::fs::write(&csv, format!("image1,image2,same,fold\n{body}")).unwrap();
    let out = eval(&["--pairs", csv.to_str().unwrap(), "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("fold `x`"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

/// `calibrate` with two labelled sets (identity folders, and a CSV with an attribute column): pairs
/// within each set only, a population report with certified thresholds, and the section written
/// into the given manifest naming both sets.
#[test]
fn calibrate_takes_several_sets_and_reports_populations() {
    let dir = temp_dir("calibrate");
    let newton = read(&sample("newton.png"));
    for (person, name, bytes) in
        [("A", "1.jpg", mirrored_jpeg(&newton)), ("A", "2.png", newton.clone()), ("B", "1.png", read(&sample("gauss.png")))]
    {
        std::fs::create_dir_all(dir.join("folders").join(person)).unwrap();
        std::fs::write(dir.join("folders").join(person).join(name), bytes).unwrap();
    }
    let csv = dir.join("people.csv");
    std::fs::write(
        &csv,
        format!(
            "path,identity,sex\n{},newton,male\n{},gauss,male\n{},solvay,male\n",
            sample("newton.png").display(),
            sample("gauss.png").display(),
            sample("solvay_conference_1927.jpg").display()
        ),
    )
    .unwrap();
    let manifest = dir.join("pack.toml");
    std::fs::write(&manifest, include_str!("../models/yunet-sface.toml")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_facematch"))
        .args(["--models-dir", models_dir().to_str().unwrap(), "calibrate", "--out", manifest.to_str().unwrap()])
        .args(["--images", dir.join("folders").to_str().unwrap(), "--images", csv.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // Folders: A-B twice (2 impostor pairs, 1 genuine); CSV: 3 impostor pairs, all `same sex`.
    assert!(stdout.contains("5 impostor pairs, 1 genuine pairs, 6 images, 5 identities"), "{stdout}");
    assert!(stdout.contains("  all (5 pairs, 5 people): 1e-3:"), "{stdout}");
    assert!(stdout.contains("  same sex (3 pairs, 3 people): 1e-3:") && stdout.contains("cannot certify"), "{stdout}");
    // Five impostor pairs certify no tail: the table falls back to point estimates, and says so.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the table holds point estimates, which certify nothing"), "{stderr}");
    let written: toml::Value = toml::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let command = written["calibration"]["command"].as_str().unwrap();
    assert!(command.contains("--images") && command.contains("people.csv") && command.contains("folders"), "{command}");
    assert_eq!(written["calibration"]["impostor_pairs"].as_integer(), Some(5));
    assert!(written["calibration"].get("confidence").is_none(), "a point-estimate table claims no confidence");
    std::fs::remove_dir_all(&dir).ok();
}

/// FRLL's first `people` people as a labelled CSV (`path,identity,sex,ethnicity,age`, both photos of
/// each; an age of "NA" left empty), and each person's sex.
fn frll_set(shared: &Path, people: usize) -> (String, Vec<String>) {
    let frll = shared.join("frll_london");
    let info = std::fs::read_to_string(frll.join("london_info.csv")).unwrap();
    let header: Vec<&str> = info.lines().next().unwrap().split(',').map(|c| c.trim_matches('"')).collect();
    let col = |name: &str| header.iter().position(|c| *c == name).unwrap();
    let (mut csv, mut sexes) = (String::from("path,identity,sex,ethnicity,age\n"), Vec::new());
    for line in info.lines().skip(1).take(people) {
        let f: Vec<&str> = line.split(',').map(|c| c.trim_matches('"')).collect();
        let (id, sex, eth, age) = (f[col("face_id")], f[col("face_gender")], f[col("face_eth")], f[col("face_age")]);
        let age = if age.parse::<u32>().is_ok() { age } else { "" };
        sexes.push(sex.to_string());
        for photo in ["03", "08"] {
            csv += &format!("{}/{id}/{id}_{photo}.jpg,{id},{sex},{eth},{age}\n", frll.display());
        }
    }
    (csv, sexes)
}

/// A labelled set (`path,identity,sex,…`) as the pair list: every pair of its photos is scored,
/// and the report gives each group of people the FMR measured at the calibrated 1e-3 point and at
/// the decision, with its exact interval, against the promise, and the genuine acceptance.
#[test]
fn a_labelled_set_is_reported_per_group() {
    let Some(shared) = shared_eval() else {
        eprintln!("skipped: ../shared/eval is absent");
        return;
    };
    // The first eight people: both photos each, with their self-reported attributes.
    let (csv, sexes) = frll_set(&shared, 8);
    let dir = temp_dir("groups");
    let list = dir.join("people.csv");
    std::fs::write(&list, csv).unwrap();
    let out = eval(&["--pairs", list.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = json_of(&out);
    // 16 photos: 120 pairs, 8 of them genuine.
    assert_eq!((report["pairs"].as_u64(), report["genuine"].as_u64(), report["impostor"].as_u64()), (Some(120), Some(8), Some(112)));
    let groups = report["groups"].as_array().unwrap();
    let row = |group: &str, score: f64| {
        groups
            .iter()
            .find(|r| r["group"] == group && (r["score"].as_f64().unwrap() - score).abs() < 1e-6)
            .unwrap_or_else(|| panic!("{group} {score}: {groups:?}"))
    };
    let females = sexes.iter().filter(|s| s.as_str() == "female").count() as u64;
    let males = 8 - females;
    // Impostor pairs within a sex: 2 photos each side, 4 image pairs per couple of people.
    let within = |n: u64| 4 * n * n.saturating_sub(1) / 2;
    for score in [0.5, 0.75] {
        let all = row("all", score);
        assert_eq!(all["impostor_pairs"].as_u64(), Some(112));
        assert_eq!(all["genuine_pairs"].as_u64(), Some(8));
        // Studio portraits of one sitting: every genuine pair passes the 1e-3 point.
        if score == 0.5 {
            assert_eq!(all["tar"].as_f64(), Some(1.0), "{all}");
        }
        let (k, n) = (all["impostors_accepted"].as_u64().unwrap(), 112);
        assert_eq!(all["fmr_measured"].as_f64(), Some(k as f64 / n as f64));
        let (low, high) = (all["fmr_low"].as_f64().unwrap(), all["fmr_high"].as_f64().unwrap());
        assert!(low <= k as f64 / 112.0 && high > k as f64 / 112.0 && high < 0.06, "{all}");
        assert!(all["fmr_promised"].as_f64().unwrap() <= 1.01e-3, "{all}");
        if females > 1 {
            assert_eq!(row("sex=female", score)["impostor_pairs"].as_u64(), Some(within(females)));
        }
        if males > 1 {
            assert_eq!(row("sex=male", score)["impostor_pairs"].as_u64(), Some(within(males)));
        }
        if females > 0 && males > 0 {
            assert_eq!(row("sex mixed", score)["impostor_pairs"].as_u64(), Some(4 * females * males));
            assert_eq!(row("sex mixed", score)["tar"], Value::Null);
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `calibrate` on a labelled set with attributes writes a conservative table: certified thresholds,
/// the worst matched population's differential applied, the populations behind it recorded, and the
/// thresholds beyond the data marked as extrapolated. Real FRLL portraits (all 102 people).
#[test]
fn calibrate_writes_a_conservative_table_from_matched_populations() {
    let Some(shared) = shared_eval() else {
        eprintln!("skipped: ../shared/eval is absent");
        return;
    };
    let (csv, _) = frll_set(&shared, 102);
    let dir = temp_dir("conservative");
    let list = dir.join("frll.csv");
    std::fs::write(&list, csv).unwrap();
    let manifest = dir.join("pack.toml");
    std::fs::write(&manifest, include_str!("../models/yunet-sface.toml")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_facematch"))
        .args(["--models-dir", models_dir().to_str().unwrap(), "calibrate", "--no-cache", "--out", manifest.to_str().unwrap()])
        .args(["--images", list.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&manifest).unwrap();
    let cal: facematch::calibration::Calibration = toml::from_str::<toml::Value>(&text).unwrap()["calibration"].clone().try_into().unwrap();
    // 204 portraits of 102 people: 20,706 pairs, 102 genuine.
    assert_eq!((cal.impostor_pairs, cal.genuine_pairs, cal.identities), (20_604, 102, 102));
    assert_eq!(cal.confidence, Some(0.95));
    let names: Vec<&str> = cal.populations.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["all", "same age", "same ethnicity", "same sex"], "the three-way match is reported, not stored");
    // 20,604 pairs certify FMR 2e-4 at best (it takes 14,977); 10,216 same-sex pairs 5e-4.
    assert_eq!(cal.populations[0].certifies_down_to, Some(2e-4));
    let d = cal.differential.clone().expect("matched FRLL impostors pass the all-pairs thresholds more often");
    assert!(d.ratio > 1.0 && names.contains(&d.population.as_str()), "{d:?}");
    let at = |f: f64| cal.points.iter().find(|p| p.fmr == f).unwrap();
    assert!(!at(2e-2).extrapolated && at(1e-5).extrapolated);
    assert!(cal.points.windows(2).all(|w| w[0].cosine < w[1].cosine && w[0].fmr > w[1].fmr));
    assert!(stdout.contains(&format!("matched impostors: `{}`", d.population)), "{stdout}");
    assert!(stdout.contains("same sex+ethnicity+age") && stdout.contains("[reported, not stored]"), "{stdout}");
    // Each stored FMR is read off the reference at FMR / differential, certified: the reference's
    // own rate at the 1e-3 threshold is at most 1e-3 / differential.
    assert!(at(1e-3).impostors_above as f64 / 20_604.0 <= 1e-3 / d.ratio, "{:?} {d:?}", at(1e-3));
    assert!((cal.calibrate(at(1e-3).cosine).fmr - 1e-3).abs() < 1e-9);
    std::fs::remove_dir_all(&dir).ok();
}

//! The calibrated promise per group of people: for pair lists whose images carry attributes (a
//! labelled set's every pair), the false-match rate measured in each group against the FMR the
//! calibration promises, with exact confidence intervals, and the genuine acceptance beside it.
//! One group per attribute value both people share (`sex=female`), one for pairs that differ on it
//! (`sex mixed`), and `all matched` for pairs that share every attribute.
use std::collections::BTreeMap;

use serde::Serialize;

use super::pairs::Pair;
use crate::calibration::Calibration;
use crate::confidence;

/// Two-sided confidence of the intervals (each bound one-sided at 97.5 %).
pub const INTERVAL: f64 = 0.95;

/// Groups with fewer impostor pairs than this are listed but their FMR called unresolved.
pub const MIN_IMPOSTORS: usize = 100;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GroupRow {
    pub group: String,
    /// Calibrated score of the threshold, the cosine it stands for, and the FMR it promises.
    pub score: f32,
    pub cosine: f32,
    pub fmr_promised: f64,
    pub impostor_pairs: usize,
    pub impostors_accepted: usize,
    pub fmr_measured: f64,
    /// 95 % Clopper–Pearson interval of the measured FMR.
    pub fmr_low: f64,
    pub fmr_high: f64,
    /// Measured FMR over the promise (absent when nothing was promised or measured).
    pub ratio: Option<f64>,
    pub genuine_pairs: usize,
    pub tar: Option<f64>,
}

/// The group names a pair belongs to (none when its images carry no attributes).
pub fn groups_of(pair: &Pair) -> Vec<String> {
    let (a, b) = (&pair.attributes[0], &pair.attributes[1]);
    if a.is_empty() || b.is_empty() {
        return Vec::new();
    }
    let mut out = vec!["all".to_string()];
    let mut all_same = true;
    for (k, va) in a {
        match b.iter().find(|(k2, _)| k2 == k) {
            Some((_, vb)) if vb == va => out.push(format!("{k}={va}")),
            Some(_) => {
                all_same = false;
                out.push(format!("{k} mixed"));
            }
            None => all_same = false,
        }
    }
    if all_same && a.len() > 1 && a.len() == b.len() {
        out.push("all matched".into());
    }
    out
}

/// Rows per group and per calibrated score in `at`, from the pairs' cosine scores.
pub fn report(pairs: &[Pair], scores: &[f32], calibration: &Calibration, at: &[f32]) -> Vec<GroupRow> {
    let mut by_group: BTreeMap<String, (Vec<f32>, Vec<f32>)> = BTreeMap::new();
    for (p, &s) in pairs.iter().zip(scores) {
        for g in groups_of(p) {
            let e = by_group.entry(g).or_default();
            if p.same {
                e.0.push(s)
            } else {
                e.1.push(s)
            }
        }
    }
    let mut rows = Vec::new();
    for (group, (genuine, impostor)) in &by_group {
        for &score in at {
            let cosine = calibration.cosine_for_score(score);
            let fmr_promised = calibration.fmr(cosine).0;
            let (n, k) = (impostor.len(), impostor.iter().filter(|&&s| s >= cosine).count());
            let tail = (1.0 - INTERVAL) / 2.0;
            let fmr_measured = if n > 0 { k as f64 / n as f64 } else { 0.0 };
            rows.push(GroupRow {
                group: group.clone(),
                score,
                cosine,
                fmr_promised,
                impostor_pairs: n,
                impostors_accepted: k,
                fmr_measured,
                fmr_low: confidence::lower(k as u64, n as u64, 1.0 - tail),
                fmr_high: confidence::upper(k as u64, n as u64, 1.0 - tail),
                ratio: (n > 0 && fmr_promised > 0.0).then(|| fmr_measured / fmr_promised),
                genuine_pairs: genuine.len(),
                tar: (!genuine.is_empty()).then(|| genuine.iter().filter(|&&s| s >= cosine).count() as f64 / genuine.len() as f64),
            });
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn pair(same: bool, a: &[(&str, &str)], b: &[(&str, &str)]) -> Pair {
        let attrs = |x: &[(&str, &str)]| x.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Pair { a: PathBuf::from("a"), b: PathBuf::from("b"), same, fold: None, attributes: [attrs(a), attrs(b)] }
    }

    #[test]
    fn groups_by_shared_and_mixed_values() {
        let p = pair(false, &[("sex", "f"), ("eth", "w")], &[("sex", "f"), ("eth", "b")]);
        assert_eq!(groups_of(&p), vec!["all", "sex=f", "eth mixed"]);
        let q = pair(false, &[("sex", "m"), ("eth", "w")], &[("sex", "m"), ("eth", "w")]);
        assert_eq!(groups_of(&q), vec!["all", "sex=m", "eth=w", "all matched"]);
        assert!(groups_of(&pair(false, &[], &[])).is_empty());
    }

    /// Measured FMR, its exact interval and TAR per group, at the cosine the calibration gives a score.
    #[test]
    fn measures_each_group_against_the_promise() {
        let mut s: Vec<f32> = (0..1_000_000).map(|i| 0.5 - i as f32 / 1_000_000.0).collect();
        s.sort_by(|a, b| b.total_cmp(a));
        let about = crate::calibration::Provenance { dataset: String::new(), command: String::new(), images: 0, identities: 0 };
        let cal = crate::calibration::from_impostors(&s, 1, about);
        let t = cal.cosine_for_score(0.5); // FMR 1e-3: cosine 0.499
        let f = [("sex", "f")];
        let m = [("sex", "m")];
        // 1,000 f-f impostors, 4 of them above the threshold; 200 m-m with none; 10 genuine f, 9 above.
        let mut pairs = Vec::new();
        let mut scores = Vec::new();
        for i in 0..1000 {
            pairs.push(pair(false, &f, &f));
            scores.push(if i < 4 { t + 0.01 } else { 0.0 });
        }
        for _ in 0..200 {
            pairs.push(pair(false, &m, &m));
            scores.push(0.0);
        }
        for i in 0..10 {
            pairs.push(pair(true, &f, &f));
            scores.push(if i < 9 { 0.9 } else { 0.1 });
        }
        let rows = report(&pairs, &scores, &cal, &[0.5]);
        let row = |g: &str| rows.iter().find(|r| r.group == g).unwrap().clone();
        let ff = row("sex=f");
        assert_eq!((ff.impostor_pairs, ff.impostors_accepted, ff.genuine_pairs), (1000, 4, 10));
        assert!((ff.fmr_measured - 4e-3).abs() < 1e-12 && (ff.ratio.unwrap() - 4.0).abs() < 0.05, "{ff:?}");
        assert!(ff.fmr_low > 1e-3 && ff.fmr_low < 4e-3 && ff.fmr_high > 8e-3 && ff.fmr_high < 1.1e-2, "{ff:?}");
        assert_eq!(ff.tar, Some(0.9));
        let mm = row("sex=m");
        assert_eq!((mm.impostors_accepted, mm.fmr_low, mm.tar), (0, 0.0, None));
        assert!((mm.fmr_high - 0.0183).abs() < 5e-4, "{mm:?}"); // 1 - 0.025^(1/200)
        assert_eq!(row("all").impostor_pairs, 1200);
    }
}

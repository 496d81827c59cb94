//! Calibration: what a cosine similarity means, as the false-match rate (FMR) measured on impostor
//! pairs (different people). The calibrated score is `s = clamp(-log10(FMR) / 6, 0, 1)`: s = 0.5
//! means one impostor pair in 1,000 scores as high, s = 1 means FMR ≤ 1e-6.
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::confidence::next_up;

/// FMRs at which thresholds are stored (from 1 down to 1e-6).
pub const TABLE_FMRS: [f64; 16] = [0.5, 0.2, 0.1, 5e-2, 2e-2, 1e-2, 5e-3, 2e-3, 1e-3, 5e-4, 2e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// What the impostor pairs came from.
    pub dataset: String,
    /// The command that reproduces this calibration.
    #[serde(default)]
    pub command: String,
    pub images: usize,
    pub identities: usize,
    pub impostor_pairs: u64,
    pub genuine_pairs: u64,
    /// Thresholds, ascending in cosine / descending in FMR.
    pub points: Vec<CalPoint>,
    /// Straight line in (cosine, log10 FMR) fitted to the measured tail, used beyond the last
    /// measured point: an extrapolation, not a measurement.
    pub tail_fit: TailFit,
    /// Confidence of the upper bounds the thresholds certify (absent: point estimates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// The largest differential of a matched population, which every stored FMR allows for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub differential: Option<Differential>,
    /// The impostor populations each threshold was checked against (absent: all pairs only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub populations: Vec<PopulationRecord>,
}

/// One impostor population behind a conservative calibration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PopulationRecord {
    /// `all`, or `same ATTR` (pairs of different people who share that attribute's value).
    pub name: String,
    pub impostor_pairs: u64,
    /// People in those pairs.
    pub identities: usize,
    /// The smallest stored FMR this population certifies by itself.
    pub certifies_down_to: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CalPoint {
    pub fmr: f64,
    /// Smallest cosine at which at most `fmr` of the impostor pairs score at or above it.
    pub cosine: f32,
    /// Impostor pairs at or above `cosine` (the evidence behind this FMR).
    pub impostors_above: u64,
    /// True when too few impostors exist to measure this FMR and the value comes from `tail_fit`.
    pub extrapolated: bool,
    /// Share of the calibration set's genuine pairs (same person) at or above `cosine`: what this
    /// FMR costs in true accepts on that set (absent in tables written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tar: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TailFit {
    pub intercept: f64,
    pub slope: f64,
    /// The FMR range the line was fitted on.
    pub fitted_from_fmr: f64,
    pub fitted_to_fmr: f64,
}

/// A score with its meaning.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Calibrated {
    /// In [0, 1]: -log10(FMR) / 6.
    pub score: f32,
    /// False-match rate at this cosine: the share of impostor pairs expected to score as high.
    pub fmr: f64,
    /// True when the FMR lies beyond the measured impostor data (from the fitted tail).
    pub extrapolated: bool,
}

pub const MIN_FMR: f64 = 1e-6;

impl Calibration {
    /// FMR at `cosine`: log10 FMR interpolated linearly in cosine between table points; 1 below
    /// the table; beyond the last point, the tail's slope from there (never below 1e-12). The flag
    /// is true where the FMR rests on an extrapolated point rather than on measured impostors.
    pub fn fmr(&self, cosine: f32) -> (f64, bool) {
        let Some(first) = self.points.first() else { return (1.0, true) };
        let c = cosine as f64;
        if c <= first.cosine as f64 {
            // Below the 0.5-FMR point: interpolate towards FMR 1 at cosine -1.
            let (x0, y0, x1, y1) = (-1.0, 0.0, first.cosine as f64, first.fmr.log10());
            return (10f64.powf(y0 + (y1 - y0) * (c - x0) / (x1 - x0)).min(1.0), first.extrapolated);
        }
        for w in self.points.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            if c <= b.cosine as f64 {
                let (x0, x1) = (a.cosine as f64, b.cosine as f64);
                let t = if x1 > x0 { (c - x0) / (x1 - x0) } else { 1.0 };
                return (10f64.powf(a.fmr.log10() + t * (b.fmr.log10() - a.fmr.log10())), b.extrapolated);
            }
        }
        let last = &self.points[self.points.len() - 1];
        let slope = self.tail_fit.slope.min(-1e-3);
        // Continuous at the last point, and never above its FMR.
        let fit = 10f64.powf(last.fmr.log10() + slope * (c - last.cosine as f64));
        (fit.min(last.fmr).max(1e-12), true)
    }

    pub fn calibrate(&self, cosine: f32) -> Calibrated {
        let (fmr, extrapolated) = self.fmr(cosine);
        Calibrated { score: score_of_fmr(fmr), fmr, extrapolated }
    }

    /// Cosine threshold for a calibrated score (the inverse of `calibrate`, by bisection).
    pub fn cosine_for_score(&self, score: f32) -> f32 {
        let (mut lo, mut hi) = (-1.0f32, 1.0f32);
        for _ in 0..40 {
            let mid = (lo + hi) / 2.0;
            if self.calibrate(mid).score >= score {
                hi = mid
            } else {
                lo = mid
            }
        }
        hi
    }
}

/// The false-match rate a calibrated score stands for: `10^(-6 s)`.
pub fn fmr_of_score(score: f32) -> f64 {
    10f64.powf(-6.0 * score as f64)
}

pub fn score_of_fmr(fmr: f64) -> f32 {
    ((-fmr.max(1e-300).log10()) / 6.0).clamp(0.0, 1.0) as f32
}

/// Scores of every same-identity pair (the calibration set's genuine pairs).
pub fn genuine_scores(embeddings: &[Vec<f32>], identities: &[usize]) -> Vec<f32> {
    let n = embeddings.len();
    (0..n)
        .flat_map(|i| ((i + 1)..n).filter(move |&j| identities[j] == identities[i]).map(move |j| dot(&embeddings[i], &embeddings[j])))
        .collect()
}

/// All impostor scores: dot products of every pair of embeddings with different identities.
/// Returns them sorted descending, with the genuine pair count.
pub fn impostor_scores(embeddings: &[Vec<f32>], identities: &[usize]) -> (Vec<f32>, u64) {
    let n = embeddings.len();
    let dim = embeddings.first().map_or(0, Vec::len);
    // One contiguous matrix keeps the inner loop a straight dot product the compiler vectorizes.
    let flat: Vec<f32> = embeddings.iter().flat_map(|e| e.iter().copied()).collect();
    let mut scores: Vec<f32> = (0..n)
        .into_par_iter()
        .flat_map_iter(|i| {
            let a = &flat[i * dim..(i + 1) * dim];
            let flat = &flat;
            ((i + 1)..n).filter(move |&j| identities[j] != identities[i]).map(move |j| dot(a, &flat[j * dim..(j + 1) * dim]))
        })
        .collect();
    let genuine = (0..n).map(|i| ((i + 1)..n).filter(|&j| identities[j] == identities[i]).count() as u64).sum();
    scores.par_sort_unstable_by(|a, b| b.total_cmp(a));
    (scores, genuine)
}

#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent accumulators: lets LLVM use full-width SIMD without fast-math.
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// Builds the table from impostor scores sorted descending.
pub fn from_impostors(sorted_desc: &[f32], genuine_pairs: u64, about: Provenance) -> Calibration {
    let n = sorted_desc.len() as u64;
    let mut points = Vec::new();
    let mut measured: Vec<(f64, f64)> = Vec::new(); // (cosine, log10 fmr) for the fit
    for &fmr in TABLE_FMRS.iter() {
        let allowed = (fmr * n as f64).floor() as u64;
        if allowed >= 1 && allowed < n {
            // Threshold just above the (allowed+1)-th highest impostor: at most `allowed` at or above.
            let cosine = next_up(sorted_desc[allowed as usize]);
            let above = sorted_desc.partition_point(|&s| s >= cosine) as u64;
            points.push(CalPoint { fmr, cosine, impostors_above: above, extrapolated: false, tar: None });
            measured.push((cosine as f64, fmr.log10()));
        }
    }
    // Fit the tail on the measured points at FMR ≤ 1e-3 (at least three points).
    let tail: Vec<(f64, f64)> = {
        let t: Vec<(f64, f64)> = measured.iter().copied().filter(|p| p.1 <= -3.0 + 1e-9).collect();
        if t.len() >= 3 {
            t
        } else {
            measured.iter().rev().take(3).rev().copied().collect()
        }
    };
    let (intercept, slope) = fit_line(&tail);
    let tail_fit = TailFit {
        intercept,
        slope,
        fitted_from_fmr: tail.first().map_or(1.0, |p| 10f64.powf(p.1)),
        fitted_to_fmr: tail.last().map_or(1.0, |p| 10f64.powf(p.1)),
    };
    for &fmr in TABLE_FMRS.iter() {
        if !points.iter().any(|p| p.fmr == fmr) && slope < 0.0 {
            let cosine = ((fmr.log10() - intercept) / slope) as f32;
            points.push(CalPoint { fmr, cosine, impostors_above: 0, extrapolated: true, tar: None });
        }
    }
    points.sort_by(|a, b| a.cosine.total_cmp(&b.cosine));
    Calibration {
        dataset: about.dataset,
        command: about.command,
        images: about.images,
        identities: about.identities,
        impostor_pairs: n,
        genuine_pairs,
        points,
        tail_fit,
        confidence: None,
        differential: None,
        populations: Vec::new(),
    }
}

/// One impostor population's scores, sorted from highest to lowest.
pub struct ImpostorPopulation {
    pub name: String,
    pub scores_desc: Vec<f32>,
    pub identities: usize,
}

/// The conservative table. The reference population (all impostor pairs) gives the curve's shape
/// down to its own resolution, with certified thresholds (its one-sided Clopper–Pearson upper bound
/// at `confidence` is at most the FMR) and its fitted tail beyond. Each matched population (pairs of
/// different people who share an attribute) is measured against that curve wherever it has the
/// pairs to certify: at the reference's threshold for FMR f, the upper bound of its own FMR over f
/// is its differential. The largest differential (at least 1) divides every FMR before the
/// threshold is read off the reference: the stored threshold for f is the reference's for f / r.
pub fn conservative(
    reference: &ImpostorPopulation,
    matched: &[&ImpostorPopulation],
    confidence: f64,
    genuine_pairs: u64,
    about: Provenance,
) -> Result<Calibration, String> {
    use crate::confidence::{can_certify, certified_threshold};
    let scores = &reference.scores_desc;
    let certified: Vec<(f64, f32)> =
        TABLE_FMRS.iter().filter_map(|&f| certified_threshold(scores, f, confidence).map(|(c, _)| (f, c))).collect();
    let tail: Vec<(f64, f64)> = certified.iter().filter(|p| p.0 <= 1e-3 + 1e-12).map(|p| (p.1 as f64, p.0.log10())).collect();
    if tail.len() < 3 {
        return Err(format!("{} impostor pairs certify too little of the tail (three FMRs at 1e-3 or below)", scores.len()));
    }
    let (intercept, slope) = fit_line(&tail);
    if slope >= 0.0 {
        return Err("the reference's tail does not fall with the cosine".into());
    }
    // The reference's threshold for any FMR: certified where it has the pairs, else its tail line,
    // never below its last certified threshold.
    let last = certified[certified.len() - 1];
    let reference_at = |g: f64| -> (f32, bool) {
        match certified_threshold(scores, g, confidence) {
            Some((c, _)) => (c, false),
            None => (((g.log10() - intercept) / slope).max(last.1 as f64) as f32, true),
        }
    };
    let worst = worst_differential(&reference.name, &certified, matched, confidence);
    let mut points: Vec<CalPoint> = TABLE_FMRS
        .iter()
        .map(|&fmr| {
            let (cosine, extrapolated) = reference_at(fmr / worst.ratio);
            CalPoint { fmr, cosine, impostors_above: 0, extrapolated, tar: None }
        })
        .collect();
    // Strictly increasing in cosine as the FMR falls, so that interpolation stays defined.
    for i in 1..points.len() {
        if points[i].cosine <= points[i - 1].cosine {
            points[i].cosine = next_up(points[i - 1].cosine);
        }
    }
    for p in &mut points {
        p.impostors_above = scores.partition_point(|&s| s >= p.cosine) as u64;
    }
    let populations = std::iter::once(reference)
        .chain(matched.iter().copied())
        .map(|p| PopulationRecord {
            name: p.name.clone(),
            impostor_pairs: p.scores_desc.len() as u64,
            identities: p.identities,
            certifies_down_to: TABLE_FMRS.iter().copied().filter(|&f| can_certify(p.scores_desc.len() as u64, f, confidence)).last(),
        })
        .collect();
    Ok(Calibration {
        dataset: about.dataset,
        command: about.command,
        images: about.images,
        identities: about.identities,
        impostor_pairs: scores.len() as u64,
        genuine_pairs,
        points,
        // The reference's tail, raised by the differential.
        tail_fit: TailFit {
            intercept: intercept + worst.ratio.log10(),
            slope,
            fitted_from_fmr: 10f64.powf(tail[0].1),
            fitted_to_fmr: 10f64.powf(tail[tail.len() - 1].1),
        },
        confidence: Some(confidence),
        differential: (worst.ratio > 1.0).then_some(worst),
        populations,
    })
}

/// The matched population that passes the reference's certified thresholds (`(fmr, cosine)`) most
/// often, relative to their FMR, over every FMR it has the pairs to certify (ratio 1, the
/// reference's, when none does).
fn worst_differential(reference: &str, certified: &[(f64, f32)], matched: &[&ImpostorPopulation], confidence: f64) -> Differential {
    use crate::confidence::{can_certify, upper};
    let mut worst = Differential { ratio: 1.0, population: reference.to_string(), at_fmr: 1.0, impostors_above: 0, impostor_pairs: 0 };
    for p in matched {
        let n = p.scores_desc.len() as u64;
        for &(f, t) in certified.iter().filter(|&&(f, _)| can_certify(n, f, confidence)) {
            let k = p.scores_desc.partition_point(|&s| s >= t) as u64;
            let ratio = upper(k, n, confidence) / f;
            if ratio > worst.ratio {
                worst = Differential { ratio, population: p.name.clone(), at_fmr: f, impostors_above: k, impostor_pairs: n };
            }
        }
    }
    worst
}

/// How much more often than the reference a matched population's impostors reach its thresholds:
/// the upper bound of the population's FMR at the reference's threshold for `at_fmr`, over `at_fmr`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Differential {
    pub ratio: f64,
    pub population: String,
    pub at_fmr: f64,
    pub impostors_above: u64,
    pub impostor_pairs: u64,
}

/// What a calibration was measured on, as the manifest records it.
#[derive(Debug, Clone)]
pub struct Provenance {
    pub dataset: String,
    pub command: String,
    pub images: usize,
    pub identities: usize,
}

fn fit_line(p: &[(f64, f64)]) -> (f64, f64) {
    let n = p.len() as f64;
    if p.len() < 2 {
        return (0.0, -1.0);
    }
    let mx = p.iter().map(|q| q.0).sum::<f64>() / n;
    let my = p.iter().map(|q| q.1).sum::<f64>() / n;
    let sxx: f64 = p.iter().map(|q| (q.0 - mx).powi(2)).sum();
    let sxy: f64 = p.iter().map(|q| (q.0 - mx) * (q.1 - my)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { -1.0 };
    (my - slope * mx, slope)
}

/// Replaces (or appends) the `[calibration]` section of a manifest's text. The calibration is always
/// the manifest's last section, so everything from its header on is replaced; comments above stay.
/// The manifest text with its `section` (`calibration` or `calibration_flip`, and the comment line
/// written above it) replaced by `cal`, or `cal` appended; every other line is kept as it was.
pub fn write_into_manifest(text: &str, section: &str, cal: &Calibration) -> Result<String, toml::ser::Error> {
    #[derive(Serialize)]
    struct Wrapper<'a> {
        calibration: &'a Calibration,
    }
    // Serialized as `calibration` (fields in the struct's order), then its table headers renamed.
    let written: String = toml::to_string(&Wrapper { calibration: cal })?
        .lines()
        .map(|l| match l.strip_prefix("[[calibration").or_else(|| l.strip_prefix("[calibration")) {
            Some(rest) if rest.starts_with(['.', ']']) => format!("{}{section}{rest}\n", if l.starts_with("[[") { "[[" } else { "[" }),
            _ => format!("{l}\n"),
        })
        .collect();
    let mark =
        format!("# Written by `facematch calibrate`{}; do not edit by hand.", if section == "calibration" { "" } else { " --tta flip" });
    let ours = |header: &str| {
        let name = header.trim().trim_start_matches('[').trim_end_matches(']').trim();
        name == section || name.starts_with(&format!("{section}."))
    };
    let mut kept: Vec<&str> = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("# Written by `facematch calibrate`") {
            inside = false; // the next section's mark
        }
        if line.trim_start().starts_with('[') {
            inside = ours(line);
            if inside && kept.last().is_some_and(|l| l.starts_with("# Written by `facematch calibrate`")) {
                kept.pop();
            }
        }
        if !inside {
            kept.push(line);
        }
    }
    let head = kept.join("\n");
    Ok(format!("{}\n\n{mark}\n{written}", head.trim_end()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic() -> Calibration {
        // 1,000,000 impostor scores, uniform in [-0.5, 0.5): FMR(c) = 0.5 - c on that range.
        let mut s: Vec<f32> = (0..1_000_000).map(|i| 0.5 - i as f32 / 1_000_000.0).collect();
        s.sort_by(|a, b| b.total_cmp(a));
        from_impostors(&s, 10, Provenance { dataset: "synthetic".into(), command: String::new(), images: 0, identities: 0 })
    }

    #[test]
    fn table_matches_the_distribution() {
        let c = synthetic();
        let p = c.points.iter().find(|p| p.fmr == 1e-2).unwrap();
        assert!((p.cosine - 0.49).abs() < 1e-4, "{p:?}");
        assert_eq!(p.impostors_above, 10_000);
        let p = c.points.iter().find(|p| p.fmr == 1e-6).unwrap();
        assert_eq!(p.impostors_above, 1);
        assert!(!p.extrapolated);
        // Interpolation between points is monotone and close to the truth.
        let (fmr, extrapolated) = c.fmr(0.45);
        assert!(!extrapolated && (fmr - 0.05).abs() < 0.01, "{fmr}");
        let mut last = 2.0;
        for i in 0..200 {
            let f = c.fmr(-1.0 + i as f32 * 0.01).0;
            assert!(f <= last + 1e-12);
            last = f;
        }
    }

    /// A matched population whose impostors pass the reference's thresholds five times as often
    /// moves every stored FMR by (at least) that factor; a reference alone is just certified.
    #[test]
    fn conservative_allows_for_the_worst_matched_population() {
        let about = || Provenance { dataset: String::new(), command: String::new(), images: 0, identities: 0 };
        // Reference: 1,000,000 scores uniform in [-0.5, 0.5), so FMR(c) = 0.5 - c.
        let mut r: Vec<f32> = (0..1_000_000).map(|i| 0.5 - i as f32 / 1_000_000.0).collect();
        r.sort_by(|a, b| b.total_cmp(a));
        let reference = ImpostorPopulation { name: "all".into(), scores_desc: r, identities: 1000 };
        let alone = conservative(&reference, &[], 0.95, 0, about()).unwrap();
        let at = |c: &Calibration, f: f64| c.points.iter().find(|p| p.fmr == f).unwrap().cosine;
        // Certified: slightly stricter than the point estimate 0.499 (at most 1,000 above).
        assert!(at(&alone, 1e-3) > 0.499 && at(&alone, 1e-3) < 0.4995, "{}", at(&alone, 1e-3));
        assert!(alone.differential.is_none());
        // Matched: 100,000 scores uniform in [0.3, 0.5), so FMR(c) = 5 (0.5 - c): five times the
        // reference's near the top.
        let mut m: Vec<f32> = (0..100_000).map(|i| 0.5 - 0.2 * i as f32 / 100_000.0).collect();
        m.sort_by(|a, b| b.total_cmp(a));
        let matched = ImpostorPopulation { name: "same sex".into(), scores_desc: m, identities: 100 };
        let c = conservative(&reference, &[&matched], 0.95, 0, about()).unwrap();
        let d = c.differential.clone().unwrap();
        assert_eq!(d.population, "same sex");
        assert!(d.ratio > 5.0 && d.ratio < 12.0, "{d:?}");
        // The stored 1e-2 threshold is the reference's for 1e-2 / ratio.
        let expected = 0.5 - 1e-2 / d.ratio;
        assert!((at(&c, 1e-2) as f64 - expected).abs() < 2e-4, "{} vs {expected}", at(&c, 1e-2));
        assert!(c.points.windows(2).all(|w| w[0].cosine < w[1].cosine && w[0].fmr > w[1].fmr));
        // The matched population's own FMR at the stored 1e-3 threshold is within the promise.
        let own = c.points.iter().find(|p| p.fmr == 1e-3).unwrap().cosine;
        assert!(matched.scores_desc.iter().filter(|&&s| s >= own).count() as f64 / 100_000.0 <= 1e-3);
        assert_eq!(c.populations.len(), 2);
        assert_eq!(c.populations[1].certifies_down_to, Some(3e-5));
    }

    #[test]
    fn score_is_minus_log_fmr_over_six() {
        assert_eq!(score_of_fmr(1e-3), 0.5);
        assert!((score_of_fmr(10f64.powf(-4.5)) - 0.75).abs() < 1e-6);
        assert_eq!(score_of_fmr(1e-9), 1.0);
        assert_eq!(score_of_fmr(1.0), 0.0);
        let c = synthetic();
        let t = c.cosine_for_score(0.5);
        assert!((c.calibrate(t).score - 0.5).abs() < 1e-3);
    }

    #[test]
    fn impostor_pairs_skip_same_identity() {
        let e = vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![1.0, 0.0]];
        let (s, genuine) = impostor_scores(&e, &[0, 1, 0]);
        assert_eq!(genuine, 1);
        assert_eq!(s, vec![0.0, 0.0]);
    }

    #[test]
    fn manifest_section_is_replaced_not_duplicated() {
        let c = synthetic();
        let text = "name = \"x\"\n# keep me\n[detector]\nkind = \"yunet\"\n";
        let once = write_into_manifest(text, "calibration", &c).unwrap();
        let twice = write_into_manifest(&once, "calibration", &c).unwrap();
        assert_eq!(once, twice);
        assert!(once.contains("# keep me") && once.matches("[calibration]").count() == 1);
        // The flip section beside it: both kept, each replaced on its own.
        let both = write_into_manifest(&once, "calibration_flip", &c).unwrap();
        let again = write_into_manifest(&write_into_manifest(&both, "calibration", &c).unwrap(), "calibration_flip", &c).unwrap();
        assert_eq!(again.matches("[calibration]").count(), 1);
        assert_eq!(again.matches("[calibration_flip]").count(), 1);
        assert_eq!(again.matches("# Written by").count(), 2, "{again}");
        #[derive(Deserialize)]
        struct W {
            calibration: Calibration,
            calibration_flip: Calibration,
        }
        let back: W = toml::from_str(&again).unwrap();
        assert_eq!(back.calibration.points.len(), c.points.len());
        assert_eq!(back.calibration_flip.points.len(), c.points.len());
    }
}

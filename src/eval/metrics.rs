//! Verification metrics over genuine (same person) and impostor (different people) scores.
use serde::Serialize;

/// Best accuracy over all thresholds and the threshold reaching it (`score >= t` means "same").
pub fn best_threshold(scores: &[(f32, bool)]) -> (f64, f32) {
    if scores.is_empty() {
        return (0.0, 0.0);
    }
    let mut s: Vec<(f32, bool)> = scores.to_vec();
    s.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = s.len();
    let positives = s.iter().filter(|x| x.1).count();
    // Threshold below everything: all predicted same → correct = positives.
    let mut correct = positives;
    let (mut best, mut best_t) = (correct, s[0].0 - 1e-6);
    let mut i = 0;
    while i < n {
        let v = s[i].0;
        while i < n && s[i].0 == v {
            if s[i].1 {
                correct -= 1
            } else {
                correct += 1
            }
            i += 1;
        }
        if correct > best {
            best = correct;
            best_t = if i < n { (v + s[i].0) / 2.0 } else { v + 1e-6 };
        }
    }
    (best as f64 / n as f64, best_t)
}

pub fn accuracy_at(scores: &[(f32, bool)], t: f32) -> f64 {
    if scores.is_empty() {
        return 0.0;
    }
    scores.iter().filter(|(s, same)| (*s >= t) == *same).count() as f64 / scores.len() as f64
}

/// Area under the ROC curve: the probability that a random genuine pair outscores a random impostor
/// pair (ties count half).
pub fn auc(genuine: &[f32], impostor: &[f32]) -> f64 {
    if genuine.is_empty() || impostor.is_empty() {
        return 0.0;
    }
    let mut imp = impostor.to_vec();
    imp.sort_by(|a, b| a.total_cmp(b));
    let mut total = 0f64;
    for &g in genuine {
        let below = imp.partition_point(|&x| x < g);
        let not_above = imp.partition_point(|&x| x <= g);
        total += below as f64 + 0.5 * (not_above - below) as f64;
    }
    total / (genuine.len() as f64 * imp.len() as f64)
}

/// Equal error rate: where the false-match and false-non-match rates cross.
pub fn eer(genuine: &[f32], impostor: &[f32]) -> f64 {
    if genuine.is_empty() || impostor.is_empty() {
        return 0.0;
    }
    let mut thresholds: Vec<f32> = genuine.iter().chain(impostor).copied().collect();
    thresholds.sort_by(|a, b| a.total_cmp(b));
    let mut g = genuine.to_vec();
    g.sort_by(|a, b| a.total_cmp(b));
    let mut im = impostor.to_vec();
    im.sort_by(|a, b| a.total_cmp(b));
    let mut best = (f64::MAX, 1.0);
    for t in thresholds {
        let fnmr = g.partition_point(|&x| x < t) as f64 / g.len() as f64;
        let fmr = (im.len() - im.partition_point(|&x| x < t)) as f64 / im.len() as f64;
        let gap = (fnmr - fmr).abs();
        if gap < best.0 {
            best = (gap, (fnmr + fmr) / 2.0);
        }
    }
    best.1
}

#[derive(Debug, Clone, Serialize)]
pub struct TarAtFmr {
    pub fmr: f64,
    /// Score threshold: impostors scoring at or above it are at most `fmr` of all impostors.
    pub threshold: f32,
    pub tar: f64,
    /// Impostor pairs behind the figure; an FMR below 1/impostors cannot be measured.
    pub impostors: usize,
    /// False when the impostor set is too small to measure this FMR.
    pub measurable: bool,
}

pub fn tar_at_fmr(genuine: &[f32], impostor: &[f32], fmr: f64) -> TarAtFmr {
    let mut im = impostor.to_vec();
    im.sort_by(|a, b| b.total_cmp(a)); // descending
    let allowed = (fmr * im.len() as f64).floor() as usize;
    let threshold = match im.get(allowed) {
        // Strictly above the (allowed+1)-th highest impostor.
        Some(&v) => next_up(v),
        None => f32::MIN,
    };
    let tar = if genuine.is_empty() { 0.0 } else { genuine.iter().filter(|&&g| g >= threshold).count() as f64 / genuine.len() as f64 };
    TarAtFmr { fmr, threshold, tar, impostors: im.len(), measurable: fmr * im.len() as f64 >= 1.0 }
}

fn next_up(v: f32) -> f32 {
    if v.is_nan() || v == f32::INFINITY {
        return v;
    }
    let bits = v.to_bits();
    let next = if v == 0.0 {
        1
    } else if v > 0.0 {
        bits + 1
    } else {
        bits - 1
    };
    f32::from_bits(next)
}

/// Accuracy with the threshold chosen on the other folds, averaged over folds (LFW protocol).
pub fn kfold_accuracy(scores: &[(f32, bool, usize)]) -> Option<(f64, f64)> {
    let folds = scores.iter().map(|s| s.2).max()? + 1;
    if folds < 2 {
        return None;
    }
    let mut accs = Vec::new();
    for f in 0..folds {
        let train: Vec<(f32, bool)> = scores.iter().filter(|s| s.2 != f).map(|s| (s.0, s.1)).collect();
        let test: Vec<(f32, bool)> = scores.iter().filter(|s| s.2 == f).map(|s| (s.0, s.1)).collect();
        let (_, t) = best_threshold(&train);
        accs.push(accuracy_at(&test, t));
    }
    let mean = accs.iter().sum::<f64>() / accs.len() as f64;
    let sd = (accs.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / accs.len() as f64).sqrt();
    Some((mean, sd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_on_known_scores() {
        let s = [(0.9, true), (0.8, true), (0.35, true), (0.4, false), (0.2, false), (0.1, false)];
        let (acc, t) = best_threshold(&s);
        assert!((acc - 5.0 / 6.0).abs() < 1e-9, "{acc}");
        assert!(accuracy_at(&s, t) >= acc - 1e-9);
        let g = [0.9, 0.8, 0.35];
        let i = [0.4, 0.2, 0.1];
        assert!((auc(&g, &i) - 8.0 / 9.0).abs() < 1e-9);
        assert!((auc(&[1.0, 2.0], &[0.0]) - 1.0).abs() < 1e-12);
        let e = eer(&g, &i);
        assert!(e > 0.0 && e < 0.5, "{e}");
        // FMR 1/3 of 3 impostors: one impostor (0.4) may pass; threshold just above 0.2.
        let r = tar_at_fmr(&g, &i, 1.0 / 3.0);
        assert!(r.threshold > 0.2 && r.threshold < 0.21 && (r.tar - 1.0).abs() < 1e-9 && r.measurable);
        let r = tar_at_fmr(&g, &i, 0.01);
        assert!(r.threshold > 0.4 && (r.tar - 2.0 / 3.0).abs() < 1e-9 && !r.measurable);
        let k = [(0.9, true, 0), (0.1, false, 0), (0.8, true, 1), (0.2, false, 1)];
        assert_eq!(kfold_accuracy(&k).unwrap().0, 1.0);
    }
}

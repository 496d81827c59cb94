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
        Some(&v) => crate::confidence::next_up(v),
        None => f32::MIN,
    };
    let tar = if genuine.is_empty() { 0.0 } else { genuine.iter().filter(|&&g| g >= threshold).count() as f64 / genuine.len() as f64 };
    TarAtFmr { fmr, threshold, tar, impostors: im.len(), measurable: fmr * im.len() as f64 >= 1.0 }
}

/// One fold of a k-fold evaluation: its threshold is chosen on the other folds (LFW protocol).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Fold {
    pub fold: String,
    pub pairs: usize,
    pub genuine: usize,
    pub impostor: usize,
    pub threshold: f32,
    pub accuracy: f64,
}

/// Per-fold accuracies of labelled scores `(score, same, fold label)`. Labels are any strings
/// (0- or 1-based numbers, names); numbers sort numerically. Every fold must hold genuine and
/// impostor pairs, and there must be two folds at least.
pub fn kfold(scores: &[(f32, bool, &str)]) -> Result<Vec<Fold>, String> {
    let mut labels: Vec<&str> = scores.iter().map(|s| s.2).collect();
    labels.sort_by(|a, b| match (a.parse::<i64>(), b.parse::<i64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    });
    labels.dedup();
    if labels.len() < 2 {
        return Err(format!("{} fold label(s): k-fold accuracy needs two folds at least", labels.len()));
    }
    let mut out = Vec::with_capacity(labels.len());
    for f in labels {
        let train: Vec<(f32, bool)> = scores.iter().filter(|s| s.2 != f).map(|s| (s.0, s.1)).collect();
        let test: Vec<(f32, bool)> = scores.iter().filter(|s| s.2 == f).map(|s| (s.0, s.1)).collect();
        let genuine = test.iter().filter(|s| s.1).count();
        if genuine == 0 || genuine == test.len() {
            return Err(format!("fold `{f}` has {genuine} genuine and {} impostor pairs: each fold needs both", test.len() - genuine));
        }
        let (_, threshold) = best_threshold(&train);
        out.push(Fold {
            fold: f.to_string(),
            pairs: test.len(),
            genuine,
            impostor: test.len() - genuine,
            threshold,
            accuracy: accuracy_at(&test, threshold),
        });
    }
    Ok(out)
}

/// Mean and (population) standard deviation of the folds' accuracies.
pub fn mean_sd(folds: &[Fold]) -> (f64, f64) {
    let n = folds.len().max(1) as f64;
    let mean = folds.iter().map(|f| f.accuracy).sum::<f64>() / n;
    let sd = (folds.iter().map(|f| (f.accuracy - mean).powi(2)).sum::<f64>() / n).sqrt();
    (mean, sd)
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
        let k = [(0.9, true, "0"), (0.1, false, "0"), (0.8, true, "1"), (0.2, false, "1")];
        assert_eq!(mean_sd(&kfold(&k).unwrap()).0, 1.0);
    }
}

#[cfg(test)]
mod fold_tests {
    use super::*;

    /// 1-based labels 1..10 give ten folds (not eleven with an empty fold 0 counted as 0 %), in
    /// numeric order; names work too; a fold without impostors is refused, not averaged.
    #[test]
    fn folds_by_label() {
        let mut s = Vec::new();
        let labels: Vec<String> = (1..=10).map(|i| i.to_string()).collect();
        for (i, l) in labels.iter().enumerate() {
            let wrong = i == 3; // one fold with a genuine pair scored low
            s.push((if wrong { 0.1 } else { 0.9 }, true, l.as_str()));
            s.push((0.8, true, l.as_str()));
            s.push((0.2, false, l.as_str()));
            s.push((0.3, false, l.as_str()));
        }
        let f = kfold(&s).unwrap();
        assert_eq!(f.len(), 10);
        assert_eq!(f.iter().map(|f| f.fold.as_str()).collect::<Vec<_>>(), labels.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(f.iter().all(|f| f.pairs == 4 && f.genuine == 2));
        let (mean, sd) = mean_sd(&f);
        assert!((mean - (9.0 + 0.75) / 10.0).abs() < 1e-9, "{mean}");
        assert!(sd > 0.0 && sd < 0.1, "{sd}");
        let named = [(0.9, true, "alpha"), (0.1, false, "alpha"), (0.8, true, "beta"), (0.2, false, "beta")];
        assert_eq!(kfold(&named).unwrap().len(), 2);
        let lopsided = [(0.9, true, "1"), (0.8, true, "1"), (0.8, true, "2"), (0.2, false, "2")];
        assert!(kfold(&lopsided).unwrap_err().contains("fold `1`"));
        assert!(kfold(&[(0.9, true, "1"), (0.1, false, "1")]).is_err());
    }
}

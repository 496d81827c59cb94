//! Local versus vendor: every pair through a vendor's API beside the local engine's scores.
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::endpoint::{spearman, Endpoint};
use super::metrics::{self, TarAtFmr};
use super::pairs::Pair;

#[derive(Debug, Clone)]
pub struct Row {
    pub vendor_score: Option<f64>,
    pub vendor_match: Option<bool>,
    pub note: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub vendor: String,
    pub pairs: usize,
    pub errors: usize,
    /// Share of pairs (both sides decided) where local and vendor decisions agree.
    pub decision_agreement: Option<f64>,
    pub vendor_decision_accuracy: Option<f64>,
    pub local_decision_accuracy: f64,
    /// Spearman rank correlation of local and vendor scores (pairs where both gave one).
    pub rank_correlation: Option<f64>,
    pub vendor_tar_at_fmr: Vec<TarAtFmr>,
    pub local_tar_at_fmr: Vec<TarAtFmr>,
}

pub fn run(endpoint: &Endpoint, pairs: &[Pair], progress: &dyn Fn(usize)) -> Vec<Row> {
    pairs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            progress(i + 1);
            let read = |path: &Path| std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()));
            let answer =
                read(&p.a).and_then(|a| read(&p.b).map(|b| (a, b))).and_then(|(a, b)| endpoint.compare(&a, &b).map_err(|e| e.to_string()));
            match answer {
                Ok(a) => Row { vendor_score: a.score, vendor_match: a.decision, note: a.note, error: None },
                Err(e) => Row { vendor_score: None, vendor_match: None, note: String::new(), error: Some(e) },
            }
        })
        .collect()
}

/// `local_score` is the local calibrated score (or cosine when uncalibrated); `local_match` the
/// local decision.
pub fn summarize(vendor: &str, pairs: &[Pair], rows: &[Row], local_score: &[f32], local_match: &[bool]) -> Summary {
    let decided: Vec<(bool, bool, bool)> =
        rows.iter().zip(local_match).zip(pairs).filter_map(|((r, &l), p)| r.vendor_match.map(|v| (l, v, p.same))).collect();
    let share = |n: usize, d: usize| (d > 0).then(|| n as f64 / d as f64);
    let both: Vec<(f64, f64)> = rows.iter().zip(local_score).filter_map(|(r, &l)| r.vendor_score.map(|v| (l as f64, v))).collect();
    let (lx, vy): (Vec<f64>, Vec<f64>) = both.iter().copied().unzip();
    let split = |scores: Vec<(f32, bool)>| {
        let g: Vec<f32> = scores.iter().filter(|s| s.1).map(|s| s.0).collect();
        let i: Vec<f32> = scores.iter().filter(|s| !s.1).map(|s| s.0).collect();
        super::REPORT_FMRS.iter().map(|&f| metrics::tar_at_fmr(&g, &i, f)).collect::<Vec<_>>()
    };
    let vendor_scores: Vec<(f32, bool)> = rows.iter().zip(pairs).filter_map(|(r, p)| r.vendor_score.map(|s| (s as f32, p.same))).collect();
    Summary {
        vendor: vendor.to_string(),
        pairs: pairs.len(),
        errors: rows.iter().filter(|r| r.error.is_some()).count(),
        decision_agreement: share(decided.iter().filter(|d| d.0 == d.1).count(), decided.len()),
        vendor_decision_accuracy: share(decided.iter().filter(|d| d.1 == d.2).count(), decided.len()),
        local_decision_accuracy: local_match.iter().zip(pairs).filter(|(&m, p)| m == p.same).count() as f64 / pairs.len().max(1) as f64,
        rank_correlation: spearman(&lx, &vy),
        vendor_tar_at_fmr: if vendor_scores.is_empty() { Vec::new() } else { split(vendor_scores) },
        local_tar_at_fmr: split(local_score.iter().zip(pairs).map(|(&s, p)| (s, p.same)).collect()),
    }
}

pub fn write_csv(
    path: &Path,
    pairs: &[Pair],
    rows: &[Row],
    local_cosine: &[f32],
    local_score: &[f32],
    local_match: &[bool],
) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(f, "image_a,image_b,same,local_cosine,local_score,local_match,vendor_score,vendor_match,vendor_note,error")?;
    let clean = |s: &str| s.replace([',', '\n', '\r'], " ");
    for (i, p) in pairs.iter().enumerate() {
        let r = &rows[i];
        writeln!(
            f,
            "{},{},{},{:.6},{:.6},{},{},{},{},{}",
            clean(&p.a.display().to_string()),
            clean(&p.b.display().to_string()),
            p.same as u8,
            local_cosine[i],
            local_score[i],
            local_match[i] as u8,
            r.vendor_score.map(|s| format!("{s:.6}")).unwrap_or_default(),
            r.vendor_match.map(|m| (m as u8).to_string()).unwrap_or_default(),
            clean(&r.note),
            clean(r.error.as_deref().unwrap_or("")),
        )?;
    }
    f.flush()
}

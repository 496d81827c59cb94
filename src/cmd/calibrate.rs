//! `facematch calibrate`: labelled images in, the pack's FMR table out, and what each population of
//! impostors (all of them, and those matched on each attribute the data has) can certify.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::calibration::{self, Calibration, ImpostorPopulation, Provenance};
use crate::cli::CalibrateArgs;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::eval::cache::EmbeddingCache;
use crate::eval::embed_cached;
use crate::eval::labelled::labelled_images;

/// Confidence of the certified thresholds (one-sided Clopper–Pearson).
pub const CONFIDENCE: f64 = 0.95;

/// The false-match rates the population report shows.
pub const REPORT_FMRS: [f64; 4] = [1e-3, 1e-4, 3e-5, 1e-5];

/// One labelled set's embedded faces, column by column: identity index and attributes per face.
#[derive(Debug, Default)]
pub struct EmbeddedSet {
    pub embeddings: Vec<Vec<f32>>,
    pub identities: Vec<usize>,
    pub attributes: Vec<Vec<(String, String)>>,
}

/// Impostor scores by population, within each set: `all`, `same ATTR` for each attribute both
/// faces have with the same value, and `same A+B+…` when they match on every attribute they have.
/// `all` comes first; each population's scores are sorted from highest to lowest.
pub fn population_scores(sets: &[EmbeddedSet]) -> Vec<ImpostorPopulation> {
    let mut pops: BTreeMap<String, (Vec<f32>, HashSet<(usize, usize)>)> = BTreeMap::new();
    for (n, set) in sets.iter().enumerate() {
        let all = pops.entry(ALL.into()).or_default();
        all.0.extend(calibration::impostor_scores(&set.embeddings, &set.identities).0);
        // People in at least one impostor pair: all of them once the set has two.
        let people: HashSet<usize> = set.identities.iter().copied().collect();
        if people.len() > 1 {
            all.1.extend(people.into_iter().map(|i| (n, i)));
        }
        if set.attributes.iter().all(Vec::is_empty) {
            continue;
        }
        let faces: Vec<_> = set.embeddings.iter().zip(&set.identities).zip(&set.attributes).collect();
        for (i, &((ea, &ia), aa)) in faces.iter().enumerate() {
            for &((eb, &ib), ab) in &faces[i + 1..] {
                if ia == ib {
                    continue;
                }
                let same: Vec<&str> =
                    aa.iter().filter(|(k, v)| ab.iter().any(|(k2, v2)| k2 == k && v2 == v)).map(|(k, _)| k.as_str()).collect();
                if same.is_empty() {
                    continue;
                }
                let s = crate::score::cosine(ea, eb);
                let mut add = |name: String| {
                    let p = pops.entry(name).or_default();
                    p.0.push(s);
                    p.1.extend([(n, ia), (n, ib)]);
                };
                for k in &same {
                    add(format!("same {k}"));
                }
                if same.len() > 1 && same.len() == aa.len() && same.len() == ab.len() {
                    add(format!("same {}", same.join("+")));
                }
            }
        }
    }
    let mut out: Vec<ImpostorPopulation> = pops
        .into_iter()
        .map(|(name, (mut scores_desc, people))| {
            scores_desc.sort_unstable_by(|a, b| b.total_cmp(a));
            ImpostorPopulation { name, scores_desc, identities: people.len() }
        })
        .collect();
    out.sort_by_key(|p| p.name != ALL);
    out
}

/// Whether a population's thresholds go into the stored table: all pairs and those matched on one
/// attribute. Matching on several at once leaves too few pairs to resolve FMR 1e-3 here (2,040 in
/// FRLL): it is reported, not stored, and its look-alikes are in each one-attribute population too.
fn stored(p: &ImpostorPopulation) -> bool {
    p.name == ALL || !p.name.contains('+')
}

const ALL: &str = "all";

pub fn run(engine: &Engine, args: &CalibrateArgs, cache_dir: &Path) -> Result<()> {
    let (sources, root, out, dataset) = (&args.images, args.images_root.as_deref(), args.out.as_deref(), args.dataset.as_deref());
    let mut labelled = Vec::new();
    for s in sources {
        labelled.push(labelled_images(s, root)?);
    }
    let pack = engine.pack();
    let out: PathBuf = match out {
        Some(p) => p.to_path_buf(),
        None if pack.source.starts_with("builtin:") => PathBuf::from("models").join(format!("{}.toml", pack.manifest.name)),
        None => PathBuf::from(&pack.source),
    };
    let manifest_text = std::fs::read_to_string(&out)
        .map_err(|e| Error::Command(format!("cannot read the manifest to update, {}: {e} (pass --out)", out.display())))?;
    let t = Instant::now();
    let paths: Vec<PathBuf> = labelled.iter().flatten().map(|l| l.path.clone()).collect();
    let mut cache = (!args.no_cache).then(|| EmbeddingCache::open(cache_dir, &pack.manifest));
    let mut results = embed_cached(engine, &paths, cache.as_mut(), &|done, total| {
        if done % 250 == 0 || done == total {
            eprint!("\rcalibrate: embedded {done}/{total} images");
        }
    })
    .into_iter();
    if let Some(Err(e)) = cache.map(|c| c.save()) {
        eprintln!("calibrate: warning: embedding cache not saved: {e}");
    }
    eprintln!(" ({:.0} s)", t.elapsed().as_secs_f64());
    // Identities are per set: the same name in two sets is not assumed to be one person, and no
    // pair across sets is scored.
    let mut sets = Vec::new();
    let (mut skipped, mut identities, mut genuine_scores) = (0, 0, Vec::new());
    for set in &labelled {
        let mut ids: HashMap<&str, usize> = HashMap::new();
        let mut faces = EmbeddedSet::default();
        for (l, r) in set.iter().zip(results.by_ref()) {
            match r.embedding {
                Some(e) => {
                    let next = ids.len();
                    faces.identities.push(*ids.entry(l.identity.as_str()).or_insert(next));
                    faces.embeddings.push(e);
                    faces.attributes.push(l.attributes.clone());
                }
                None => skipped += 1,
            }
        }
        identities += ids.len();
        genuine_scores.extend(calibration::genuine_scores(&faces.embeddings, &faces.identities));
        sets.push(faces);
    }
    let t = Instant::now();
    let populations = population_scores(&sets);
    let all_pairs = populations.first().map_or(0, |p| p.scores_desc.len());
    eprintln!(
        "calibrate: {all_pairs} impostor pairs scored and sorted in {:.1} s; {skipped} images without a face skipped",
        t.elapsed().as_secs_f64()
    );
    let about = provenance(engine, sources, dataset, sets.iter().map(|s| s.embeddings.len()).sum(), identities);
    let tar = |cosine: f32| genuine_scores.iter().filter(|&&g| g >= cosine).count() as f64 / genuine_scores.len().max(1) as f64;
    print_populations(&populations, &tar);
    let mut cal = table(&populations, genuine_scores.len() as u64, about)?;
    cal.points.iter_mut().for_each(|p| p.tar = Some(tar(p.cosine)));
    print_table(&cal, &tar);
    if let Some(d) = &cal.differential {
        println!(
            "matched impostors: `{}` reach the all-pairs threshold for FMR {:.0e} {} times in {} pairs: up to {:.1}x the rate ({:.0} % bound); every FMR above allows for it",
            d.population, d.at_fmr, d.impostors_above, d.impostor_pairs, d.ratio, CONFIDENCE * 100.0
        );
    }
    let section = pack.manifest.calibration_section();
    let text = calibration::write_into_manifest(&manifest_text, section, &cal).map_err(|e| Error::Internal(e.to_string()))?;
    std::fs::write(&out, text).map_err(|e| Error::Command(format!("cannot write {}: {e}", out.display())))?;
    println!("calibration written to [{section}] of {}", out.display());
    Ok(())
}

/// What the manifest records about where the table came from, and the command that remakes it.
fn provenance(engine: &Engine, sources: &[PathBuf], dataset: Option<&str>, images: usize, identities: usize) -> Provenance {
    let pack = engine.pack();
    let names: Vec<String> = sources.iter().map(|s| s.display().to_string()).collect();
    let tta = match pack.manifest.embedder.tta {
        crate::manifest::Tta::None => String::new(),
        t => format!(" --tta {t}"),
    };
    let images_args: String = names.iter().map(|n| format!(" --images {n}")).collect();
    Provenance {
        dataset: dataset.map(str::to_string).unwrap_or_else(|| names.join(" + ")),
        command: format!("facematch --pack {}{tta} calibrate{images_args}", pack.manifest.name),
        images,
        identities,
    }
}

/// The conservative table over the reference (`all`) and the one-attribute populations, or point
/// estimates (said loudly) where the data certifies too little.
fn table(populations: &[ImpostorPopulation], genuine: u64, about: Provenance) -> Result<Calibration> {
    let (reference, matched) = populations.split_first().ok_or_else(|| Error::Command("no impostor pairs".into()))?;
    let matched: Vec<&ImpostorPopulation> = matched.iter().filter(|p| stored(p)).collect();
    Ok(match calibration::conservative(reference, &matched, CONFIDENCE, genuine, about.clone()) {
        Ok(c) => c,
        Err(why) => {
            eprintln!("calibrate: warning: {why}; the table holds point estimates, which certify nothing");
            calibration::from_impostors(&reference.scores_desc, genuine, about)
        }
    })
}

fn print_table(cal: &Calibration, tar: &dyn Fn(f32) -> f64) {
    // How many of the set's genuine pairs each threshold accepts: the price of that FMR here.
    println!("\n{:>8}  {:>9}  {:>16}  {:>7}  note", "FMR", "cosine", "impostors_above", "TAR");
    for p in &cal.points {
        println!(
            "{:>8.0e}  {:>9.4}  {:>16}  {:>6.2}%  {}",
            p.fmr,
            p.cosine,
            p.impostors_above,
            100.0 * tar(p.cosine),
            if p.extrapolated { "extrapolated (the reference's fitted tail)" } else { "" }
        );
    }
    println!(
        "{} impostor pairs, {} genuine pairs, {} images, {} identities",
        cal.impostor_pairs, cal.genuine_pairs, cal.images, cal.identities
    );
}

/// Per population: the point-estimate threshold at each FMR and the one a 95 % upper bound
/// certifies, or how many impostor pairs it would take.
fn print_populations(pops: &[ImpostorPopulation], tar: &dyn Fn(f32) -> f64) {
    println!(
        "\nimpostor populations: cosine threshold at each FMR, point estimate / certified ({:.0} % Clopper-Pearson upper bound)",
        CONFIDENCE * 100.0
    );
    for pop in pops {
        let (name, scores, n) = (&pop.name, &pop.scores_desc, pop.scores_desc.len());
        let cells: Vec<String> = REPORT_FMRS
            .iter()
            .map(|&fmr| {
                let point = scores.get(((fmr * n as f64).floor() as usize).min(n.saturating_sub(1))).copied();
                match (point, crate::confidence::certified_threshold(scores, fmr, CONFIDENCE)) {
                    (Some(p), Some((c, _))) => format!("{fmr:.0e}: {p:.4} / {c:.4} (TAR {:.2}%)", 100.0 * tar(c)),
                    (Some(p), None) => {
                        format!("{fmr:.0e}: {p:.4} / cannot certify (needs {:.0} pairs)", (1.0 - CONFIDENCE).ln() / (1.0 - fmr).ln())
                    }
                    _ => format!("{fmr:.0e}: no pairs"),
                }
            })
            .collect();
        let note = if stored(pop) { "" } else { " [reported, not stored]" };
        println!("  {name} ({n} pairs, {} people){note}: {}", pop.identities, cells.join("; "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Matched populations hold exactly the impostor pairs that share the attribute, within a set.
    #[test]
    fn populations_by_matched_attribute() {
        let attrs = |s: &str, e: &str| vec![("sex".to_string(), s.to_string()), ("ethnicity".to_string(), e.to_string())];
        let unit = |x: f32| {
            let y = (1.0 - x * x).sqrt();
            vec![x, y]
        };
        let set = |faces: Vec<(Vec<f32>, usize, Vec<(String, String)>)>| EmbeddedSet {
            embeddings: faces.iter().map(|f| f.0.clone()).collect(),
            identities: faces.iter().map(|f| f.1).collect(),
            attributes: faces.into_iter().map(|f| f.2).collect(),
        };
        let first = set(vec![
            (unit(1.0), 0, attrs("f", "w")),
            (unit(0.9), 1, attrs("f", "w")),
            (unit(0.5), 2, attrs("f", "b")),
            (unit(0.1), 3, attrs("m", "b")),
            (unit(1.0), 0, attrs("f", "w")), // the same person again: never an impostor pair
        ]);
        let pops = population_scores(&[first, set(vec![(unit(1.0), 0, Vec::new()), (unit(0.0), 1, Vec::new())])]);
        let len = |k: &str| pops.iter().find(|p| p.name == k).map_or(0, |p| p.scores_desc.len());
        // 5 faces, 4 identities: 10 pairs minus 1 genuine = 9; the second set adds 1.
        assert_eq!(len("all"), 10);
        assert_eq!(len("same sex"), 5); // f-f pairs between identities 0,1,2 (0 twice): 0-1, 0-2, 1-2, 0'-1, 0'-2
        assert_eq!(len("same ethnicity"), 3); // w-w: 0-1, 0'-1; b-b: 2-3
        assert_eq!(len("same sex+ethnicity"), 2);
        assert_eq!(pops[0].name, "all");
        assert!(pops[0].scores_desc.windows(2).all(|w| w[0] >= w[1]));
        // People behind each population: all 4 + 2; same ethnicity: 0, 1 (white) and 2, 3 (black).
        let people = |k: &str| pops.iter().find(|p| p.name == k).map_or(0, |p| p.identities);
        assert_eq!((people("all"), people("same ethnicity"), people("same sex+ethnicity")), (6, 4, 2));
    }
}

//! `facematch calibrate`: labelled images in, the pack's FMR table out, and what each population of
//! impostors (all of them, and those matched on each attribute the data has) can certify.
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::calibration::{self, Calibration};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::eval::embed_images;

const IMAGE_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "webp", "bmp", "tiff"];

/// Confidence of the certified thresholds (one-sided Clopper–Pearson).
pub const CONFIDENCE: f64 = 0.95;

/// The false-match rates the population report shows.
pub const REPORT_FMRS: [f64; 4] = [1e-3, 1e-4, 3e-5, 1e-5];

/// One labelled image: its identity and attributes (`sex`, `ethnicity`, an age decade, …).
#[derive(Debug, Clone, PartialEq)]
pub struct Labelled {
    pub path: PathBuf,
    pub identity: String,
    pub attributes: Vec<(String, String)>,
}

/// A directory of identity folders, or a CSV with `path` and `identity` columns; any other column is
/// an attribute (an `age` column is read as its decade, so "same age" means the same decade).
pub fn labelled_images(source: &Path, root: Option<&Path>) -> Result<Vec<Labelled>> {
    let io = |e: std::io::Error| Error::Command(format!("{}: {e}", source.display()));
    let mut out = Vec::new();
    if source.is_dir() {
        let mut dirs: Vec<PathBuf> =
            std::fs::read_dir(source).map_err(io)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect();
        dirs.sort();
        for d in dirs {
            let name = d.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            let mut files: Vec<PathBuf> = std::fs::read_dir(&d)
                .map_err(io)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| IMAGE_EXTENSIONS.contains(&x.to_string_lossy().to_ascii_lowercase().as_str())))
                .collect();
            files.sort();
            out.extend(files.into_iter().map(|path| Labelled { path, identity: name.clone(), attributes: Vec::new() }));
        }
    } else {
        let text = std::fs::read_to_string(source).map_err(io)?;
        let root = root.map(Path::to_path_buf).unwrap_or_else(|| source.parent().map(Path::to_path_buf).unwrap_or_default());
        out = parse_csv(&text, &root).map_err(|e| Error::Command(format!("{}: {e}", source.display())))?;
    }
    if out.is_empty() {
        return Err(Error::Command(format!("{}: no labelled images found", source.display())));
    }
    Ok(out)
}

fn parse_csv(text: &str, root: &Path) -> std::result::Result<Vec<Labelled>, String> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let header: Vec<String> = lines.next().map(|(_, h)| h).unwrap_or_default().split(',').map(|c| c.trim().to_ascii_lowercase()).collect();
    let (Some(pi), Some(ii)) = (header.iter().position(|c| c == "path"), header.iter().position(|c| c == "identity")) else {
        return Err("the CSV needs `path` and `identity` columns".into());
    };
    let mut out = Vec::new();
    for (ln, line) in lines {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let (Some(p), Some(id)) = (f.get(pi), f.get(ii)) else { return Err(format!("line {}: too few columns", ln + 1)) };
        let attributes = header
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != pi && *i != ii)
            .filter_map(|(i, name)| f.get(i).filter(|v| !v.is_empty()).map(|v| (name.clone(), attribute_value(name, v))))
            .collect();
        out.push(Labelled { path: root.join(p), identity: id.to_string(), attributes });
    }
    Ok(out)
}

/// Ages match by decade ("30s"); other attributes as written, case-insensitively.
fn attribute_value(name: &str, value: &str) -> String {
    match (name, value.parse::<u32>()) {
        ("age", Ok(age)) => format!("{}0s", age / 10),
        _ => value.to_ascii_lowercase(),
    }
}

/// One labelled set's embedded faces, column by column: identity index and attributes per face.
#[derive(Debug, Default)]
pub struct EmbeddedSet {
    pub embeddings: Vec<Vec<f32>>,
    pub identities: Vec<usize>,
    pub attributes: Vec<Vec<(String, String)>>,
}

/// Impostor scores by population, within each set: `all`, `same ATTR` for each attribute both
/// faces have with the same value, and `same A+B+…` when they match on every attribute they have.
pub fn population_scores(sets: &[EmbeddedSet]) -> BTreeMap<String, Vec<f32>> {
    let mut pops: BTreeMap<String, Vec<f32>> = BTreeMap::new();
    for set in sets {
        pops.entry("all".into()).or_default().extend(calibration::impostor_scores(&set.embeddings, &set.identities).0);
        if set.attributes.iter().all(Vec::is_empty) {
            continue;
        }
        let faces: Vec<_> = set.embeddings.iter().zip(&set.identities).zip(&set.attributes).collect();
        for (i, &((ea, ia), aa)) in faces.iter().enumerate() {
            for &((eb, ib), ab) in &faces[i + 1..] {
                if ia == ib {
                    continue;
                }
                let same: Vec<&str> =
                    aa.iter().filter(|(k, v)| ab.iter().any(|(k2, v2)| k2 == k && v2 == v)).map(|(k, _)| k.as_str()).collect();
                if same.is_empty() {
                    continue;
                }
                let s = crate::score::cosine(ea, eb);
                for k in &same {
                    pops.entry(format!("same {k}")).or_default().push(s);
                }
                if same.len() > 1 && same.len() == aa.len() && same.len() == ab.len() {
                    pops.entry(format!("same {}", same.join("+"))).or_default().push(s);
                }
            }
        }
    }
    for v in pops.values_mut() {
        v.sort_unstable_by(|a, b| b.total_cmp(a));
    }
    pops
}

pub fn run(engine: &Engine, sources: &[PathBuf], root: Option<&Path>, out: Option<&Path>, dataset: Option<&str>) -> Result<()> {
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
    let total = paths.len();
    let mut results = embed_images(engine, &paths, &|done| {
        if done % 250 == 0 || done == total {
            eprint!("\rcalibrate: embedded {done}/{total} images");
        }
    })
    .into_iter();
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
    let all: &[f32] = populations.get("all").map_or(&[], Vec::as_slice);
    eprintln!(
        "calibrate: {} impostor pairs scored and sorted in {:.1} s; {skipped} images without a face skipped",
        all.len(),
        t.elapsed().as_secs_f64()
    );
    let names: Vec<String> = sources.iter().map(|s| s.display().to_string()).collect();
    let dataset = dataset.map(str::to_string).unwrap_or_else(|| names.join(" + "));
    let tta = match pack.manifest.embedder.tta {
        crate::manifest::Tta::None => String::new(),
        t => format!(" --tta {t}"),
    };
    let images_args: String = names.iter().map(|n| format!(" --images {n}")).collect();
    let command = format!("facematch --pack {}{tta} calibrate{images_args}", pack.manifest.name);
    let embedded = sets.iter().map(|s| s.embeddings.len()).sum();
    let cal: Calibration = calibration::from_impostors(all, genuine_scores.len() as u64, dataset, command, embedded, identities);
    let tar = |cosine: f32| genuine_scores.iter().filter(|&&g| g >= cosine).count() as f64 / genuine_scores.len().max(1) as f64;
    print_table(&cal, &tar);
    print_populations(&populations, &tar);
    let section = pack.manifest.calibration_section();
    let text = calibration::write_into_manifest(&manifest_text, section, &cal).map_err(|e| Error::Internal(e.to_string()))?;
    std::fs::write(&out, text).map_err(|e| Error::Command(format!("cannot write {}: {e}", out.display())))?;
    println!("calibration written to [{section}] of {}", out.display());
    Ok(())
}

fn print_table(cal: &Calibration, tar: &dyn Fn(f32) -> f64) {
    // How many of the set's genuine pairs each threshold accepts: the price of that FMR here.
    println!("{:>8}  {:>9}  {:>16}  {:>7}  note", "FMR", "cosine", "impostors_above", "TAR");
    for p in &cal.points {
        println!(
            "{:>8.0e}  {:>9.4}  {:>16}  {:>6.2}%  {}",
            p.fmr,
            p.cosine,
            p.impostors_above,
            100.0 * tar(p.cosine),
            if p.extrapolated { "extrapolated (fitted tail)" } else { "" }
        );
    }
    println!(
        "{} impostor pairs, {} genuine pairs, {} images, {} identities",
        cal.impostor_pairs, cal.genuine_pairs, cal.images, cal.identities
    );
}

/// Per population: the point-estimate threshold at each FMR and the one a 95 % upper bound
/// certifies, or how many impostor pairs it would take.
fn print_populations(pops: &BTreeMap<String, Vec<f32>>, tar: &dyn Fn(f32) -> f64) {
    println!(
        "\nimpostor populations: cosine threshold at each FMR, point estimate / certified ({:.0} % Clopper-Pearson upper bound)",
        CONFIDENCE * 100.0
    );
    for (name, scores) in pops {
        let n = scores.len();
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
        println!("  {name} ({n} pairs): {}", cells.join("; "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_attributes_and_age_decades() {
        let l = parse_csv("path,identity,sex,ethnicity,age\na.jpg,1,Female,White,24\nb.jpg,2,male,,38\n", Path::new("/r")).unwrap();
        assert_eq!(l[0].path, PathBuf::from("/r/a.jpg"));
        assert_eq!(
            l[0].attributes,
            vec![("sex".into(), "female".into()), ("ethnicity".into(), "white".into()), ("age".into(), "20s".into())]
        );
        assert_eq!(l[1].attributes, vec![("sex".into(), "male".into()), ("age".into(), "30s".into())]);
        assert!(parse_csv("file,who\na,b\n", Path::new("")).is_err());
    }

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
        let len = |k: &str| pops.get(k).map_or(0, Vec::len);
        // 5 faces, 4 identities: 10 pairs minus 1 genuine = 9; the second set adds 1.
        assert_eq!(len("all"), 10);
        assert_eq!(len("same sex"), 5); // f-f pairs between identities 0,1,2 (0 twice): 0-1, 0-2, 1-2, 0'-1, 0'-2
        assert_eq!(len("same ethnicity"), 3); // w-w: 0-1, 0'-1; b-b: 2-3
        assert_eq!(len("same sex+ethnicity"), 2);
        assert!(pops["all"].windows(2).all(|w| w[0] >= w[1]));
    }
}

//! `facematch calibrate`: labelled images in, the pack's FMR table out.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::calibration::{self, Calibration};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::eval::embed_images;

const IMAGE_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "webp", "bmp", "tiff"];

/// (image path, identity label) from a directory of identity folders or a `path,identity` CSV.
pub fn labelled_images(source: &Path, root: Option<&Path>) -> Result<Vec<(PathBuf, String)>> {
    let io = |e: std::io::Error| Error::Internal(format!("{}: {e}", source.display()));
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
            out.extend(files.into_iter().map(|f| (f, name.clone())));
        }
    } else {
        let text = std::fs::read_to_string(source).map_err(io)?;
        let root = root.map(Path::to_path_buf).unwrap_or_else(|| source.parent().map(Path::to_path_buf).unwrap_or_default());
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header: Vec<String> = lines.next().unwrap_or_default().split(',').map(|c| c.trim().to_ascii_lowercase()).collect();
        let (Some(pi), Some(ii)) = (header.iter().position(|c| c == "path"), header.iter().position(|c| c == "identity")) else {
            return Err(Error::Internal(format!("{}: the CSV needs `path` and `identity` columns", source.display())));
        };
        for line in lines {
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            if let (Some(p), Some(id)) = (f.get(pi), f.get(ii)) {
                out.push((root.join(p), id.to_string()));
            }
        }
    }
    if out.is_empty() {
        return Err(Error::Internal(format!("{}: no labelled images found", source.display())));
    }
    Ok(out)
}

pub fn run(engine: &Engine, images: &Path, root: Option<&Path>, out: Option<&Path>, dataset: Option<&str>) -> Result<()> {
    let labelled = labelled_images(images, root)?;
    let pack = engine.pack();
    let out: PathBuf = match out {
        Some(p) => p.to_path_buf(),
        None if pack.source.starts_with("builtin:") => PathBuf::from("models").join(format!("{}.toml", pack.manifest.name)),
        None => PathBuf::from(&pack.source),
    };
    let manifest_text = std::fs::read_to_string(&out)
        .map_err(|e| Error::Internal(format!("cannot read the manifest to update, {}: {e} (pass --out)", out.display())))?;
    let t = Instant::now();
    let paths: Vec<PathBuf> = labelled.iter().map(|(p, _)| p.clone()).collect();
    let total = paths.len();
    let results = embed_images(engine, &paths, &|done| {
        if done % 250 == 0 || done == total {
            eprint!("\rcalibrate: embedded {done}/{total} images");
        }
    });
    eprintln!(" ({:.0} s)", t.elapsed().as_secs_f64());
    let mut ids: HashMap<&str, usize> = HashMap::new();
    let (mut embeddings, mut identity) = (Vec::new(), Vec::new());
    let mut skipped = 0;
    for ((_, name), r) in labelled.iter().zip(results) {
        match r.embedding {
            Some(e) => {
                let next = ids.len();
                identity.push(*ids.entry(name.as_str()).or_insert(next));
                embeddings.push(e);
            }
            None => skipped += 1,
        }
    }
    let t = Instant::now();
    let (scores, genuine) = calibration::impostor_scores(&embeddings, &identity);
    eprintln!(
        "calibrate: {} impostor pairs scored and sorted in {:.1} s; {skipped} images without a face skipped",
        scores.len(),
        t.elapsed().as_secs_f64()
    );
    let dataset = dataset.map(str::to_string).unwrap_or_else(|| images.display().to_string());
    let tta = match pack.manifest.embedder.tta {
        crate::manifest::Tta::None => String::new(),
        t => format!(" --tta {t}"),
    };
    let command = format!("facematch --pack {}{tta} calibrate --images {}", pack.manifest.name, images.display());
    let cal: Calibration = calibration::from_impostors(&scores, genuine, dataset, command, embeddings.len(), ids.len());
    // How many of the set's genuine pairs each threshold accepts: the price of that FMR here.
    let genuine_scores = calibration::genuine_scores(&embeddings, &identity);
    let tar = |cosine: f32| genuine_scores.iter().filter(|&&g| g >= cosine).count() as f64 / genuine_scores.len().max(1) as f64;
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
    let section = pack.manifest.calibration_section();
    let text = calibration::write_into_manifest(&manifest_text, section, &cal).map_err(|e| Error::Internal(e.to_string()))?;
    std::fs::write(&out, text).map_err(|e| Error::Internal(format!("cannot write {}: {e}", out.display())))?;
    println!("calibration written to [{section}] of {}", out.display());
    Ok(())
}

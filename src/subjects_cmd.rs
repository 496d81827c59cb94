//! `facematch subjects import|list|status`: bulk enrollment from a folder or a CSV, straight into
//! the state database (the server loads the gallery when it starts).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::engine::Engine;
use crate::store::{NewFace, Store};

const IMAGE_EXTENSIONS: [&str; 7] = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff"];

/// The photos of one person to enroll, with the record to store.
#[derive(Debug, Clone)]
pub struct Planned {
    pub photos: Vec<PathBuf>,
    pub record: Value,
}

fn is_image(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    v.sort();
    Ok(v)
}

/// What an import source holds: a folder of identity folders (`DIR/Name/*.jpg`: one subject per
/// folder, `fullName` = the folder's name), a folder of photos (one subject per photo, named by the
/// file), or a CSV with a `path` column and optional `subject`, `fullName`, `documentId`, `status`
/// and `record` (a JSON object) columns; other columns become record fields. Rows sharing a
/// `subject` value are one person's photos.
pub fn plan(source: &Path, faces_per_subject: usize) -> Result<Vec<Planned>, String> {
    let per = faces_per_subject.max(1);
    if source.is_dir() {
        let entries = sorted_entries(source)?;
        let dirs: Vec<&PathBuf> = entries.iter().filter(|p| p.is_dir()).collect();
        if !dirs.is_empty() {
            let mut out = Vec::new();
            for d in dirs {
                let photos: Vec<PathBuf> = sorted_entries(d)?.into_iter().filter(|p| is_image(p)).take(per).collect();
                if !photos.is_empty() {
                    let name = d.file_name().map(|n| n.to_string_lossy().replace('_', " ")).unwrap_or_default();
                    out.push(Planned { photos, record: json!({"fullName": name}) });
                }
            }
            return Ok(out);
        }
        return Ok(entries
            .into_iter()
            .filter(|p| is_image(p))
            .map(|p| {
                let name = p.file_stem().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
                Planned { photos: vec![p], record: json!({"fullName": name}) }
            })
            .collect());
    }
    let root = source.parent().unwrap_or(Path::new("."));
    let mut reader = csv::Reader::from_path(source).map_err(|e| format!("{}: {e}", source.display()))?;
    let headers = reader.headers().map_err(|e| format!("{}: {e}", source.display()))?.clone();
    if !headers.iter().any(|h| h == "path") {
        return Err(format!("{}: the CSV needs a `path` column", source.display()));
    }
    let mut groups: BTreeMap<String, Planned> = BTreeMap::new();
    for (line, row) in reader.records().enumerate() {
        let row = row.map_err(|e| format!("{}: {e}", source.display()))?;
        let mut record = Map::new();
        let (mut path, mut key) = (None, None);
        for (h, v) in headers.iter().zip(row.iter()) {
            match h {
                "path" => path = Some(root.join(v)),
                "subject" => key = Some(v.to_string()),
                "record" if !v.trim().is_empty() => match serde_json::from_str::<Value>(v) {
                    Ok(Value::Object(o)) => record.extend(o),
                    _ => return Err(format!("{}: row {}: `record` must be a JSON object", source.display(), line + 2)),
                },
                "record" => {}
                _ if !v.is_empty() => {
                    record.insert(h.to_string(), json!(v));
                }
                _ => {}
            }
        }
        let path = path.ok_or_else(|| format!("{}: row {}: no path", source.display(), line + 2))?;
        let key = key.unwrap_or_else(|| format!("row-{line:09}"));
        let g = groups.entry(key).or_insert_with(|| Planned { photos: Vec::new(), record: Value::Object(record) });
        if g.photos.len() < per {
            g.photos.push(path);
        }
    }
    Ok(groups.into_values().collect())
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ImportSummary {
    pub subjects: usize,
    pub faces: usize,
    /// Photos without a detectable face (not enrolled).
    pub no_face: usize,
    /// Photos that could not be read or decoded.
    pub failed: usize,
    /// People none of whose photos gave a face.
    pub skipped_subjects: usize,
}

/// Embeds every planned photo on the engine's workers and enrolls the people whose photos gave a
/// face. `progress(done, total)` is called per photo.
pub fn import(
    engine: &Engine,
    store: &dyn Store,
    plan: &[Planned],
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<ImportSummary, String> {
    let paths: Vec<PathBuf> = plan.iter().flat_map(|p| p.photos.iter().cloned()).collect();
    let total = paths.len();
    let results = crate::eval::embed_images(engine, &paths, &|done| progress(done, total));
    let model = engine.pack().manifest.embedding_model_id();
    let mut summary = ImportSummary::default();
    let mut results = results.into_iter();
    for person in plan {
        let mut subject_id: Option<String> = None;
        for _ in &person.photos {
            let Some(r) = results.next() else { break };
            let Some(e) = r.embedding else {
                if r.error.is_some() {
                    summary.failed += 1;
                } else {
                    summary.no_face += 1;
                }
                continue;
            };
            let face = NewFace { embedding: &e, model: &model, sealed_photo: None, once: None };
            match &subject_id {
                None => {
                    let s = store.create_subject(&person.record, &face).map_err(|e| e.to_string())?;
                    subject_id = Some(s.subject_id);
                    summary.subjects += 1;
                }
                Some(id) => {
                    store.add_face(id, &face).map_err(|e| e.to_string())?;
                }
            }
            summary.faces += 1;
        }
        if subject_id.is_none() {
            summary.skipped_subjects += 1;
        }
    }
    Ok(summary)
}

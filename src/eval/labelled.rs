//! Labelled image sets: people's photos with an identity and attributes (sex, ethnicity, an age
//! decade, …), from identity folders or a CSV. `calibrate` forms impostor populations from them;
//! `eval` forms every pair of them and reports per attribute.
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const IMAGE_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "webp", "bmp", "tiff"];

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

pub fn parse_csv(text: &str, root: &Path) -> std::result::Result<Vec<Labelled>, String> {
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
}

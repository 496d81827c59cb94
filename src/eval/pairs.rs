//! Pair lists: LFW format (`Name i j` same, `Name1 i Name2 j` different; a header `N` or
//! `folds N`), CSV with a header naming `image1,image2,same` (more columns are ignored), or a
//! labelled set's CSV (`path,identity[,sex,ethnicity,age,…]`), whose every pair is taken.
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    pub a: PathBuf,
    pub b: PathBuf,
    pub same: bool,
    /// Fold label when the list has folds: LFW View 2's `1`..`10`, or a CSV's `fold` column as
    /// written (0- or 1-based numbers, or names).
    pub fold: Option<String>,
    /// Each image's attributes (`sex`, `ethnicity`, an age decade, …) when the list is a labelled
    /// set; empty otherwise.
    pub attributes: [Vec<(String, String)>; 2],
}

/// A pair list and how its image paths were resolved.
#[derive(Debug, Clone)]
pub struct PairList {
    pub pairs: Vec<Pair>,
    /// The folder image paths resolve against, and why that one (said to the user).
    pub resolved: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PairsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} line {line}: {reason}")]
    Parse { path: String, line: usize, reason: String },
}

/// `root` is the directory CSV relative paths resolve against, or for an LFW list the folder that
/// holds the `Name/` folders or the one that holds `lfw/Name/` (LFW's archive unpacks to `lfw/`);
/// by default the pair file's own directory.
pub fn load(path: &Path, root: Option<&Path>) -> Result<PairList, PairsError> {
    let text = std::fs::read_to_string(path).map_err(|source| PairsError::Read { path: path.display().to_string(), source })?;
    let root = root.map(Path::to_path_buf).unwrap_or_else(|| path.parent().map(Path::to_path_buf).unwrap_or_default());
    let is_csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if is_csv && is_labelled_set(&text) {
        let images = super::labelled::parse_csv(&text, &root).map_err(|reason| PairsError::Parse {
            path: path.display().to_string(),
            line: 1,
            reason,
        })?;
        let pairs = every_pair(&images);
        Ok(PairList { pairs, resolved: format!("every pair of a labelled set; image paths resolved against {}", root.display()) })
    } else if is_csv {
        let pairs = parse_csv(&text, &root, path)?;
        Ok(PairList { pairs, resolved: format!("image paths resolved against {}", root.display()) })
    } else {
        let names: Vec<&str> = text.lines().skip(1).filter_map(|l| l.split_whitespace().next()).take(20).collect();
        let (base, why) = lfw_base(&root, &names);
        let pairs = parse_lfw(&text, &base, path)?;
        Ok(PairList { pairs, resolved: format!("LFW images read from {} ({why})", base.display()) })
    }
}

/// A CSV of labelled images (`path,identity[,attributes…]`) rather than of pairs.
fn is_labelled_set(text: &str) -> bool {
    let header: Vec<String> = text.lines().next().unwrap_or_default().split(',').map(|c| c.trim().to_ascii_lowercase()).collect();
    let has = |c: &str| header.iter().any(|h| h == c);
    has("path") && has("identity") && !has("image1")
}

/// Every pair of a labelled set's images: same identity is genuine, different is impostor.
pub fn every_pair(images: &[super::labelled::Labelled]) -> Vec<Pair> {
    let mut pairs = Vec::new();
    for (i, a) in images.iter().enumerate() {
        for b in &images[i + 1..] {
            pairs.push(Pair {
                a: a.path.clone(),
                b: b.path.clone(),
                same: a.identity == b.identity,
                fold: None,
                attributes: [a.attributes.clone(), b.attributes.clone()],
            });
        }
    }
    pairs
}

/// The folder holding LFW's `Name/` folders: `root/lfw` when that holds the list's names, else
/// `root` itself when it does, else `root/lfw` (the archive's layout; its misses are reported).
pub fn lfw_base(root: &Path, names: &[&str]) -> (PathBuf, &'static str) {
    let holds = |dir: &Path| !names.is_empty() && names.iter().any(|n| dir.join(n).is_dir());
    let nested = root.join("lfw");
    if holds(&nested) {
        (nested, "it holds the Name/ folders under lfw/")
    } else if holds(root) {
        (root.to_path_buf(), "it holds the Name/ folders")
    } else {
        (nested, "neither it nor its lfw/ holds the list's Name/ folders")
    }
}

fn lfw_image(base: &Path, name: &str, idx: &str) -> Option<PathBuf> {
    let i: u32 = idx.parse().ok()?;
    Some(base.join(name).join(format!("{name}_{i:04}.jpg")))
}

/// An LFW list whose images live in `base/Name/Name_0001.jpg`.
pub fn parse_lfw(text: &str, base: &Path, path: &Path) -> Result<Vec<Pair>, PairsError> {
    let err = |line: usize, reason: &str| PairsError::Parse { path: path.display().to_string(), line, reason: reason.to_string() };
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or_else(|| err(1, "empty pair file"))?;
    let head: Vec<usize> = header.split_whitespace().filter_map(|t| t.parse().ok()).collect();
    // `N`: one set of N same + N different pairs; `F N`: F folds of N same then N different.
    let (folds, per) = match head.as_slice() {
        [n] => (1, *n),
        [f, n] => (*f, *n),
        _ => return Err(err(1, "expected a header with the pair count (`N` or `FOLDS N`)")),
    };
    let mut pairs = Vec::new();
    for (i, (ln, line)) in lines.enumerate() {
        let t: Vec<&str> = line.split_whitespace().collect();
        let (a, b, same) = match t.as_slice() {
            [name, i, j] => (lfw_image(base, name, i), lfw_image(base, name, j), true),
            [n1, i, n2, j] => (lfw_image(base, n1, i), lfw_image(base, n2, j), false),
            _ => return Err(err(ln + 1, "expected `Name i j` or `Name1 i Name2 j`")),
        };
        let (Some(a), Some(b)) = (a, b) else { return Err(err(ln + 1, "image numbers must be integers")) };
        // LFW View 2 numbers its ten sets 1..10.
        let fold = (folds > 1).then(|| (i / (2 * per) + 1).to_string());
        pairs.push(Pair { a, b, same, fold, attributes: Default::default() });
    }
    if pairs.len() != folds * per * 2 {
        return Err(err(1, &format!("header announces {} pairs, the file has {}", folds * per * 2, pairs.len())));
    }
    Ok(pairs)
}

pub fn parse_csv(text: &str, root: &Path, path: &Path) -> Result<Vec<Pair>, PairsError> {
    let err = |line: usize, reason: &str| PairsError::Parse { path: path.display().to_string(), line, reason: reason.to_string() };
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or_else(|| err(1, "empty CSV"))?;
    let cols: Vec<String> = header.split(',').map(|c| c.trim().to_ascii_lowercase()).collect();
    let col = |name: &str| cols.iter().position(|c| c == name).ok_or_else(|| err(1, &format!("missing column `{name}`")));
    let (ia, ib, is) = (col("image1")?, col("image2")?, col("same")?);
    let fold_col = cols.iter().position(|c| c == "fold");
    let mut pairs = Vec::new();
    for (ln, line) in lines {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let get = |i: usize| f.get(i).copied().ok_or_else(|| err(ln + 1, "too few columns"));
        let same = match get(is)?.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "same" => true,
            "0" | "false" | "no" | "different" => false,
            other => return Err(err(ln + 1, &format!("`same` must be 1/0 or true/false, got `{other}`"))),
        };
        let fold = match fold_col {
            Some(c) if get(c)?.is_empty() => return Err(err(ln + 1, "empty `fold`: every row needs one when the column exists")),
            Some(c) => Some(get(c)?.to_string()),
            None => None,
        };
        pairs.push(Pair { a: root.join(get(ia)?), b: root.join(get(ib)?), same, fold, attributes: Default::default() });
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lfw_and_csv() {
        let p = parse_lfw("1\nAaron 1 2\nAaron 1 Bob 3\n", Path::new("/r"), Path::new("p.txt")).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].a, PathBuf::from("/r/Aaron/Aaron_0001.jpg"));
        assert!(p[0].same && !p[1].same);
        assert_eq!(p[1].b, PathBuf::from("/r/Bob/Bob_0003.jpg"));
        let folds = parse_lfw("2 1\nA 1 2\nA 1 B 1\nC 1 2\nC 1 D 1\n", Path::new(""), Path::new("p")).unwrap();
        let labels: Vec<_> = folds.iter().map(|p| p.fold.as_deref()).collect();
        assert_eq!(labels, vec![Some("1"), Some("1"), Some("2"), Some("2")]);
        assert!(parse_lfw("3\nA 1 2\n", Path::new(""), Path::new("p")).is_err());
        let c = parse_csv("image1,image2,same,source\na.jpg,b.jpg,1,x\na.jpg,c.jpg,0,x\n", Path::new("/d"), Path::new("c.csv")).unwrap();
        assert_eq!(c.len(), 2);
        assert!(c[0].same && !c[1].same && c[1].b == Path::new("/d/c.jpg"));
        assert!(parse_csv("a,b\n", Path::new(""), Path::new("c.csv")).is_err());
        let f = parse_csv("image1,image2,same,fold\na,b,1,10\na,c,0,1\n", Path::new(""), Path::new("c.csv")).unwrap();
        assert_eq!((f[0].fold.as_deref(), f[1].fold.as_deref()), (Some("10"), Some("1")));
        assert!(parse_csv("image1,image2,same,fold\na,b,1,\n", Path::new(""), Path::new("c.csv")).is_err());
    }
}

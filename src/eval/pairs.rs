//! Pair lists: LFW format (`Name i j` same, `Name1 i Name2 j` different; a header `N` or
//! `folds N`), or CSV with a header naming `image1,image2,same` (more columns are ignored).
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    pub a: PathBuf,
    pub b: PathBuf,
    pub same: bool,
    /// Fold index when the list has folds (LFW View 2 style).
    pub fold: Option<usize>,
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

/// `root` is the directory LFW's `lfw/Name/Name_0001.jpg` (or CSV relative paths) resolve against;
/// by default the pair file's own directory.
pub fn load(path: &Path, root: Option<&Path>) -> Result<Vec<Pair>, PairsError> {
    let text = std::fs::read_to_string(path).map_err(|source| PairsError::Read { path: path.display().to_string(), source })?;
    let root = root.map(Path::to_path_buf).unwrap_or_else(|| path.parent().map(Path::to_path_buf).unwrap_or_default());
    let is_csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if is_csv {
        parse_csv(&text, &root, path)
    } else {
        parse_lfw(&text, &root, path)
    }
}

fn lfw_image(root: &Path, name: &str, idx: &str) -> Option<PathBuf> {
    let i: u32 = idx.parse().ok()?;
    Some(root.join("lfw").join(name).join(format!("{name}_{i:04}.jpg")))
}

pub fn parse_lfw(text: &str, root: &Path, path: &Path) -> Result<Vec<Pair>, PairsError> {
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
            [name, i, j] => (lfw_image(root, name, i), lfw_image(root, name, j), true),
            [n1, i, n2, j] => (lfw_image(root, n1, i), lfw_image(root, n2, j), false),
            _ => return Err(err(ln + 1, "expected `Name i j` or `Name1 i Name2 j`")),
        };
        let (Some(a), Some(b)) = (a, b) else { return Err(err(ln + 1, "image numbers must be integers")) };
        let fold = (folds > 1).then(|| i / (2 * per));
        pairs.push(Pair { a, b, same, fold });
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
            Some(c) => Some(get(c)?.parse().map_err(|_| err(ln + 1, "fold must be an integer"))?),
            None => None,
        };
        pairs.push(Pair { a: root.join(get(ia)?), b: root.join(get(ib)?), same, fold });
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
        assert_eq!(p[0].a, PathBuf::from("/r/lfw/Aaron/Aaron_0001.jpg"));
        assert!(p[0].same && !p[1].same);
        assert_eq!(p[1].b, PathBuf::from("/r/lfw/Bob/Bob_0003.jpg"));
        let folds = parse_lfw("2 1\nA 1 2\nA 1 B 1\nC 1 2\nC 1 D 1\n", Path::new(""), Path::new("p")).unwrap();
        assert_eq!(folds.iter().map(|p| p.fold).collect::<Vec<_>>(), vec![Some(0), Some(0), Some(1), Some(1)]);
        assert!(parse_lfw("3\nA 1 2\n", Path::new(""), Path::new("p")).is_err());
        let c = parse_csv("image1,image2,same,source\na.jpg,b.jpg,1,x\na.jpg,c.jpg,0,x\n", Path::new("/d"), Path::new("c.csv")).unwrap();
        assert_eq!(c.len(), 2);
        assert!(c[0].same && !c[1].same && c[1].b == Path::new("/d/c.jpg"));
        assert!(parse_csv("a,b\n", Path::new(""), Path::new("c.csv")).is_err());
    }
}

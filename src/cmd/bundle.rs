//! What an installed copy is made of, checked: `facematch --version` prints the build, the model
//! pack and the sha256 of each model file and runtime library it would load; `facematch
//! verify-bundle` checks every file a bundle's `SHA256SUMS` lists, and the pack's models against
//! the sha256 the binary pins, and fails naming each file that differs.
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::cli::EngineArgs;
use crate::error::{Error, Result};
use crate::manifest::{Pack, BUILTIN_PACKS};

/// The list a bundle carries: `sha256  relative/path` per line, as `sha256sum` writes it.
pub const SUMS_FILE: &str = "SHA256SUMS";

/// The sha256 of a file, read in pieces (model files are tens of megabytes).
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let (mut h, mut buf) = (Sha256::new(), vec![0u8; 1 << 20]);
    loop {
        match f.read(&mut buf)? {
            0 => return Ok(hex::encode(h.finalize())),
            n => h.update(&buf[..n]),
        }
    }
}

/// One file checked: where, what it should be (when pinned), what it is.
pub struct FileCheck {
    pub label: String,
    pub path: PathBuf,
    pub expected: Option<String>,
    pub actual: std::io::Result<String>,
}

impl FileCheck {
    fn new(label: impl Into<String>, path: PathBuf, expected: Option<String>) -> FileCheck {
        let actual = sha256_file(&path);
        FileCheck { label: label.into(), path, expected, actual }
    }

    pub fn ok(&self) -> bool {
        match (&self.actual, &self.expected) {
            (Ok(a), Some(e)) => a.eq_ignore_ascii_case(e),
            (Ok(_), None) => true,
            (Err(_), _) => false,
        }
    }

    /// `sha256 …` when it is as pinned; else what is wrong.
    pub fn verdict(&self) -> String {
        match (&self.actual, &self.expected) {
            (Err(e), _) => format!("UNREADABLE ({e})"),
            (Ok(a), Some(e)) if !a.eq_ignore_ascii_case(e) => format!("MISMATCH: sha256 {a}, expected {e}"),
            (Ok(a), Some(_)) => format!("sha256 {a} ok"),
            (Ok(a), None) => format!("sha256 {a} (not pinned)"),
        }
    }
}

/// The pack's model files against the sha256 its manifest pins.
pub fn pack_checks(pack: &Pack) -> Vec<FileCheck> {
    let m = &pack.manifest;
    [("detector", &m.detector.model), ("embedder", &m.embedder.model)]
        .into_iter()
        .map(|(role, f)| FileCheck::new(role, pack.base_dir.join(&f.file), f.sha256.clone()))
        .collect()
}

/// The runtime libraries this configuration would load (not pinned by the binary: a bundle's
/// `SHA256SUMS` pins them).
fn runtime_checks(args: &EngineArgs) -> Vec<FileCheck> {
    let models = args.models_dir();
    let mut out = Vec::new();
    if let Ok(p) = crate::backend::onnxruntime::resolve_lib(args.ort_lib.as_deref(), &models) {
        out.push(FileCheck::new("onnxruntime", p, None));
    }
    if let Ok(p) = crate::backend::openvino::resolve_lib(args.openvino_lib.as_deref(), &models) {
        out.push(FileCheck::new("openvino", p, None));
    }
    out
}

/// `facematch --version`: the version and pipeline, the pack, each file's sha256. Fails (after
/// printing everything) when a pinned model file is missing or differs.
pub fn version(args: &EngineArgs) -> Result<()> {
    println!("facematch {}", crate::version::engine_version());
    let models = args.models_dir();
    println!("models directory: {}", models.display());
    let pack = Pack::resolve(&args.pack, &models)?;
    let m = &pack.manifest;
    println!("pack: {} ({}) — {}", m.name, pack.source, m.description);
    println!("licence: {}", m.licence);
    let checks = pack_checks(&pack);
    for c in checks.iter().chain(runtime_checks(args).iter()) {
        println!("  {:<11} {}  {}", c.label, c.path.display(), c.verdict());
    }
    match checks.iter().filter(|c| !c.ok()).count() {
        0 => Ok(()),
        n => Err(Error::Command(format!("{n} model file(s) of pack {} missing or altered (run scripts/setup, or reinstall)", m.name))),
    }
}

/// The bundle directory: `dir`, else the directory of the running executable.
fn bundle_dir(dir: Option<&Path>) -> Result<PathBuf> {
    if let Some(d) = dir {
        return Ok(d.to_path_buf());
    }
    let exe = std::env::current_exe().map_err(|e| Error::Command(format!("cannot find the running executable: {e}")))?;
    exe.parent().map(Path::to_path_buf).ok_or_else(|| Error::Command("the executable has no directory".into()))
}

/// Every entry of `SHA256SUMS` (paths relative to the bundle; none may leave it).
fn listed_checks(dir: &Path) -> Result<Vec<FileCheck>> {
    let sums = dir.join(SUMS_FILE);
    let text = std::fs::read_to_string(&sums).map_err(|e| Error::Command(format!("cannot read {}: {e}", sums.display())))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = || Error::Command(format!("{}:{}: expected `SHA256  PATH`", sums.display(), i + 1));
        let (sha, rel) = line.split_once(char::is_whitespace).ok_or_else(bad)?;
        let rel = rel.trim_start().trim_start_matches('*');
        let inside = Path::new(rel).components().all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) || rel.is_empty() || !inside {
            return Err(bad());
        }
        out.push(FileCheck::new(rel, dir.join(rel), Some(sha.to_ascii_lowercase())));
    }
    Ok(out)
}

/// `facematch verify-bundle [--dir DIR]`: every listed file, then the pack's models against the
/// binary's own pins (which a rewritten `SHA256SUMS` cannot change).
pub fn verify_bundle(args: &EngineArgs, dir: Option<&Path>) -> Result<()> {
    let dir = bundle_dir(dir)?;
    let listed = listed_checks(&dir)?;
    // The configured pack, and every built-in pack the bundle carries (its manifest copy is there).
    let models = args.models_dir();
    let mut names = vec![args.pack.clone()];
    names.extend(BUILTIN_PACKS.iter().map(|(n, _)| n.to_string()).filter(|n| models.join(format!("{n}.toml")).is_file()));
    let mut packs: Vec<Pack> = Vec::new();
    for n in names {
        let pack = Pack::resolve(&n, &models)?;
        if !packs.iter().any(|p| p.manifest.name == pack.manifest.name) {
            packs.push(pack);
        }
    }
    let pinned: Vec<FileCheck> = packs
        .iter()
        .flat_map(|p| pack_checks(p).into_iter().map(move |c| FileCheck { label: format!("{} {}", p.manifest.name, c.label), ..c }))
        .collect();
    let mut failed = Vec::new();
    for c in listed.iter().chain(pinned.iter()) {
        match c.ok() {
            true => println!("OK      {}", c.label),
            false => {
                println!("FAILED  {}: {}", c.label, c.verdict());
                failed.push(c.label.clone());
            }
        }
    }
    match failed.is_empty() {
        true => {
            let names: Vec<&str> = packs.iter().map(|p| p.manifest.name.as_str()).collect();
            println!("verify-bundle: {} files listed in {SUMS_FILE} and the models of {} are intact", listed.len(), names.join(", "));
            Ok(())
        }
        false => Err(Error::Command(format!("{} file(s) differ from the bundle as built: {}", failed.len(), failed.join(", ")))),
    }
}

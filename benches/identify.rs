//! 1:N search over the in-memory gallery at 100k, 1M and 10M faces: the int8 scan with exact f32
//! rescoring (what the server runs) beside the naive exact scan (every face in f32, one thread)
//! measured in the same run. Prints, per size: p50/p95 latency of each, the speed ratio, resident
//! memory per face, and recall@1 of the gallery against the exact scan.
//!
//! No models are needed. Faces are synthetic vectors shaped like SFace embeddings: each a person's
//! centre plus per-photo noise, over a shared offset, normalized (impostor cosine ≈ 0.03 ± 0.09,
//! genuine ≈ 0.65, as on LFW). Probes are other photos of enrolled people (genuine searches) and
//! people never enrolled (the hard case for the rescoring: every score is close to the others).
//! Exact embeddings for rescoring are regenerated from the key, standing in for the store's lookup.
//!
//! Run: `cargo bench --bench identify` (sizes from `FACEMATCH_BENCH_SIZES`, default
//! `100000,1000000,10000000`; the 10M run needs ~7 GB, 1.3 GB for the gallery and 5.1 GB for the
//! naive baseline's f32 matrix).
use std::time::Instant;

use facematch::gallery::{Exact, FaceRef, Gallery};

const DIM: usize = 128;
const FACES_PER_PERSON: u64 = 2;

struct Rng(u64);
impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Approximately N(0, 1): the sum of four uniforms, rescaled.
    fn normal(&mut self) -> f32 {
        let u: f32 = (0..4).map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32).sum();
        (u - 2.0) * (3.0f32).sqrt()
    }
}

fn normalize(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
    v.iter_mut().for_each(|a| *a /= n);
    v
}

/// Photo `photo` of person `person`: centre + noise + a shared offset (SFace's embeddings are not
/// centred: impostors score slightly above 0).
fn face(person: u64, photo: u64) -> Vec<f32> {
    let mut c = Rng::new(person.wrapping_add(1 << 40));
    let mut n = Rng::new(person.wrapping_mul(1_000_003).wrapping_add(photo).wrapping_add(1 << 50));
    normalize((0..DIM).map(|i| c.normal() + 0.72 * n.normal() + if i % 8 == 0 { 0.5 } else { 0.0 }).collect())
}

fn person_of(key: i64) -> u64 {
    key as u64 / FACES_PER_PERSON
}

fn exact(keys: &[i64]) -> Result<Vec<Exact>, ()> {
    Ok(keys
        .iter()
        .map(|&k| Exact {
            key: k,
            face: FaceRef { face_id: k.to_string(), subject_id: person_of(k).to_string() },
            embedding: face(person_of(k), k as u64 % FACES_PER_PERSON),
        })
        .collect())
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()))
        .map_or(0, |kb| kb * 1024)
}

fn naive_top1(flat: &[f32], q: &[f32]) -> (f32, usize) {
    let mut best = (f32::NEG_INFINITY, 0);
    for (i, row) in flat.chunks_exact(DIM).enumerate() {
        let s: f32 = row.iter().zip(q).map(|(a, b)| a * b).sum();
        if s > best.0 {
            best = (s, i);
        }
    }
    best
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn run(n: usize) {
    let before = rss_bytes();
    let g = Gallery::new(DIM);
    g.reserve(n);
    for key in 0..n as i64 {
        g.insert(key, &face(person_of(key), key as u64 % FACES_PER_PERSON));
    }
    let per_face = rss_bytes().saturating_sub(before) as f64 / n as f64;
    let people = (n as u64 / FACES_PER_PERSON).max(1);
    // Genuine probes: a third photo of an enrolled person; impostor probes: people never enrolled.
    let probes: Vec<Vec<f32>> =
        (0..40u64).map(|i| if i % 2 == 0 { face((i * 7919) % people, 7) } else { face(people + 1_000 + i, 0) }).collect();
    let mut flat = Vec::with_capacity(n * DIM);
    for key in 0..n as i64 {
        flat.extend(face(person_of(key), key as u64 % FACES_PER_PERSON));
    }
    let (mut fast, mut slow, mut agree) = (Vec::new(), Vec::new(), 0);
    for q in &probes {
        let t = Instant::now();
        let hits = g.search(q, 10, &mut exact).unwrap_or_default();
        fast.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let (s, i) = naive_top1(&flat, q);
        slow.push(t.elapsed().as_secs_f64() * 1e3);
        if hits.first().is_some_and(|h| h.face.face_id == i.to_string() && (h.similarity - s).abs() < 1e-5) {
            agree += 1;
        }
    }
    let (p50, p95) = (percentile(&mut fast, 0.5), percentile(&mut fast, 0.95));
    let (n50, n95) = (percentile(&mut slow, 0.5), percentile(&mut slow, 0.95));
    println!(
        "identify n={n:>9}: gallery p50 {p50:7.2} ms p95 {p95:7.2} | naive exact f32 p50 {n50:8.2} ms p95 {n95:8.2} | \
         ratio {:5.1}x | {per_face:5.0} B resident per face ({} B of matrix) | recall@1 {agree}/{} ({:.1} %)",
        n50 / p50,
        g.bytes_per_face(),
        probes.len(),
        100.0 * agree as f64 / probes.len() as f64
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run the small size only.
    let benching = std::env::args().any(|a| a == "--bench");
    let sizes: Vec<usize> = std::env::var("FACEMATCH_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| if benching { vec![100_000, 1_000_000, 10_000_000] } else { vec![10_000] });
    println!("identify: {} threads; dim {DIM}; 20 genuine + 20 impostor probes per size", rayon::current_num_threads());
    for n in sizes {
        run(n);
    }
}

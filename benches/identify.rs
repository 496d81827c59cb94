//! 1:N search over the in-memory gallery: exact cosine against every enrolled face (rayon + the
//! vectorizable dot product), beside a naive single-threaded scan measured in the same run.
//! Also prints the resident memory the gallery adds per enrolled face.
//! Run: `cargo bench --bench identify` (no models needed: embeddings are random unit vectors of
//! SFace's 128 dimensions; the scan's cost does not depend on the values).
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use facematch::gallery::{FaceRef, Gallery};

const DIM: usize = 128;

fn unit(seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    let mut v: Vec<f32> = (0..DIM)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
    v.iter_mut().for_each(|a| *a /= n);
    v
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()))
        .map_or(0, |kb| kb * 1024)
}

fn build(n: usize) -> (Gallery, Vec<Vec<f32>>) {
    let g = Gallery::new(DIM);
    let mut flat = Vec::with_capacity(n);
    for i in 0..n {
        let e = unit(i as u64);
        // Ids shaped like the server's (UUID strings).
        g.insert(FaceRef { face_id: format!("{:032x}-face", i), subject_id: format!("{:032x}-subj", i) }, &e);
        flat.push(e);
    }
    (g, flat)
}

fn naive_top(rows: &[Vec<f32>], q: &[f32], k: usize) -> Vec<(f32, usize)> {
    let mut all: Vec<(f32, usize)> = rows.iter().enumerate().map(|(i, r)| (r.iter().zip(q).map(|(a, b)| a * b).sum(), i)).collect();
    all.select_nth_unstable_by(k, |a, b| b.0.total_cmp(&a.0));
    all.truncate(k);
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    all
}

fn identify(c: &mut Criterion) {
    let before = rss_bytes();
    let (g100k, _) = build(100_000);
    let after = rss_bytes();
    eprintln!(
        "gallery of 100000 faces: {:.0} bytes resident per face ({} for the embedding, the rest ids and index)",
        (after.saturating_sub(before)) as f64 / 100_000.0,
        g100k.bytes_per_embedding()
    );
    drop(g100k);
    let mut group = c.benchmark_group("identify");
    for n in [10_000usize, 100_000] {
        let (g, rows) = build(n);
        let q = unit(u64::MAX / 3);
        assert_eq!(g.search(&q, 10).iter().map(|h| h.similarity).collect::<Vec<_>>().len(), 10);
        group.bench_with_input(BenchmarkId::new("gallery_rayon_simd", n), &n, |b, _| b.iter(|| g.search(&q, 10)));
        group.bench_with_input(BenchmarkId::new("naive_single_thread", n), &n, |b, _| b.iter(|| naive_top(&rows, &q, 10)));
    }
    group.finish();
}

criterion_group!(benches, identify);
criterion_main!(benches);

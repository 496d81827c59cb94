//! The enrolled faces in memory for 1:N search, compact enough for ten million faces on one node.
//!
//! Each face is held as int8 codes (one byte per dimension) with one f32 scale, and is known by the
//! store's integer face key; the face and subject ids (UUID strings) and the exact f32 embedding stay
//! in the database. A search scans the codes (integer dot products, rayon over blocks of rows), then
//! asks the store for the exact embeddings of the best candidates and rescores them in f32, so the
//! similarities it returns are exact.
//!
//! The result is the exact top k, not an approximation: every unscored face's true similarity is at
//! most its quantized score plus a bound on the quantization error (‖x − x̂‖·‖q‖ + ‖x̂‖·‖q − q̂‖,
//! with the gallery's largest ‖x − x̂‖), so once the k-th exact similarity beats the best unscored
//! candidate's score plus that bound, no face outside the candidates can enter the top k. When it
//! does not, the candidate list doubles and the check runs again.
use std::collections::HashMap;
use std::sync::RwLock;

use rayon::prelude::*;

/// One enrolled face's identity, as the store gives it for a candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaceRef {
    pub face_id: String,
    pub subject_id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub face: FaceRef,
    pub similarity: f32,
}

/// A candidate's exact embedding and identity, as the store returns it for rescoring.
pub struct Exact {
    pub key: i64,
    pub face: FaceRef,
    pub embedding: Vec<f32>,
}

/// Reads the exact embeddings and identities of candidate keys (the store, in the server).
pub type ExactLookup<'a, E> = dyn FnMut(&[i64]) -> Result<Vec<Exact>, E> + 'a;

#[derive(Default)]
struct Rows {
    dim: usize,
    codes: Vec<i8>,
    scales: Vec<f32>,
    keys: Vec<i64>,
    by_key: HashMap<i64, u32>,
    /// The largest ‖x − x̂‖ and ‖x̂‖ of any face ever inserted (never lowered by removals: still bounds).
    max_error: f32,
    max_norm: f32,
}

#[derive(Default)]
pub struct Gallery {
    rows: RwLock<Rows>,
}

/// Rows per rayon task: large enough that scheduling costs nothing next to the arithmetic.
const BLOCK_ROWS: usize = 8192;
/// Candidates rescored first (at least; `2k` when larger), the pool one scan keeps for further
/// rescoring (at least; `8k` when larger), and the most ever rescored by one search.
const FIRST_CANDIDATES: usize = 32;
const POOL_CANDIDATES: usize = 256;
const MAX_CANDIDATES: usize = 8192;

#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// Integer dot product of int8 codes; exact (|sum| ≤ 127² × dim fits i32 for any dim below 133,000).
#[inline(always)]
fn dot_i8_generic(a: &[i8], b: &[i8]) -> i32 {
    let mut acc = [0i32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] += i32::from(x[i]) * i32::from(y[i]);
        }
    }
    let mut s: i32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += i32::from(*x) * i32::from(*y);
    }
    s
}

/// The quantized scores of a block of rows into `out`.
fn score_block_generic(query: &[i8], codes: &[i8], scales: &[f32], qscale: f32, out: &mut Vec<f32>) {
    let d = query.len();
    out.extend(codes.chunks_exact(d).zip(scales).map(|(row, s)| dot_i8_generic(query, row) as f32 * s * qscale));
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn score_block_avx2(query: &[i8], codes: &[i8], scales: &[f32], qscale: f32, out: &mut Vec<f32>) {
    use std::arch::x86_64::*;
    let d = query.len();
    let lanes = d / 32 * 32;
    let ones = _mm256_set1_epi16(1);
    // The query as |q| (unsigned) once; each row's codes take q's signs: |q|·(x·sign q) = q·x,
    // summed in pairs to i16 by vpmaddubsw. Codes lie in ±127, so a pair (≤ 2·127²) never saturates.
    // SAFETY (all loads below): each chunk is exactly 32 bytes; unaligned loads accept any address.
    let q: Vec<(__m256i, __m256i)> = query[..lanes]
        .chunks_exact(32)
        .map(|c| {
            let v = unsafe { _mm256_loadu_si256(c.as_ptr().cast()) };
            (_mm256_sign_epi8(v, v), v)
        })
        .collect();
    for (row, s) in codes.chunks_exact(d).zip(scales) {
        let mut acc = _mm256_setzero_si256();
        for (x, &(qabs, qv)) in row[..lanes].chunks_exact(32).zip(&q) {
            let x = unsafe { _mm256_loadu_si256(x.as_ptr().cast()) };
            let pairs = _mm256_maddubs_epi16(qabs, _mm256_sign_epi8(x, qv));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, ones));
        }
        let half = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256::<1>(acc));
        let quarter = _mm_add_epi32(half, _mm_shuffle_epi32::<0b01_00_11_10>(half));
        let sum = _mm_cvtsi128_si32(_mm_add_epi32(quarter, _mm_shuffle_epi32::<0b10_11_00_01>(quarter)));
        let sum = sum + dot_i8_generic(&row[lanes..], &query[lanes..]);
        out.push(sum as f32 * s * qscale);
    }
}

fn score_block(query: &[i8], codes: &[i8], scales: &[f32], qscale: f32, out: &mut Vec<f32>) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU was just checked to support AVX2, the only requirement of this function.
        return unsafe { score_block_avx2(query, codes, scales, qscale, out) };
    }
    score_block_generic(query, codes, scales, qscale, out)
}

/// int8 codes of a vector with one scale (x ≈ code × scale), and the error ‖x − x̂‖.
pub fn quantize(x: &[f32]) -> (Vec<i8>, f32, f32) {
    let max = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    if max == 0.0 || !max.is_finite() {
        return (vec![0; x.len()], 0.0, x.iter().map(|v| v * v).sum::<f32>().sqrt());
    }
    let scale = max / 127.0;
    let codes: Vec<i8> = x.iter().map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8).collect();
    let err = x.iter().zip(&codes).map(|(v, c)| (v - f32::from(*c) * scale).powi(2)).sum::<f32>().sqrt();
    (codes, scale, err)
}

/// Asks Linux to back the codes with 2 MiB pages (transparent huge pages, where enabled for
/// `madvise`): the scan reads the whole matrix for every search, and with 4 KiB pages it stalls on
/// TLB misses; measured here, 1M faces scan in ~3.5 ms instead of ~5 ms. Advisory only: nothing
/// changes where the kernel declines.
fn advise_huge_pages(codes: &Vec<i8>) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let (start, end) = (codes.as_ptr() as usize, codes.as_ptr() as usize + codes.capacity());
        let first = (start + HUGE - 1) & !(HUGE - 1);
        if end > first + HUGE {
            // SAFETY: the range lies inside this Vec's allocation; MADV_HUGEPAGE changes no contents.
            unsafe { libc::madvise(first as *mut libc::c_void, (end - first) & !(HUGE - 1), libc::MADV_HUGEPAGE) };
        }
    }
}

/// The `n` best (score, row) pairs of a block, best first: rows above the running floor are collected
/// and cut back to `n` whenever twice as many gather (linear in the rows, whatever `n`).
fn block_top(scores: &[f32], first_row: usize, n: usize) -> Vec<(f32, u32)> {
    let by_score = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0);
    let mut kept: Vec<(f32, u32)> = Vec::with_capacity(2 * n + 1);
    let mut floor = f32::NEG_INFINITY;
    for (j, &s) in scores.iter().enumerate() {
        if s > floor {
            kept.push((s, (first_row + j) as u32));
            if kept.len() >= 2 * n {
                kept.select_nth_unstable_by(n - 1, by_score);
                kept.truncate(n);
                floor = kept.iter().fold(f32::INFINITY, |m, c| m.min(c.0));
            }
        }
    }
    kept.sort_by(by_score);
    kept.truncate(n);
    kept
}

impl Gallery {
    pub fn new(dim: usize) -> Gallery {
        Gallery { rows: RwLock::new(Rows { dim, ..Rows::default() }) }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Rows> {
        self.rows.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Rows> {
        self.rows.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn len(&self) -> usize {
        self.read().keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dim(&self) -> usize {
        self.read().dim
    }

    /// Room for `n` more faces, so that loading a large gallery does not grow the arrays by doubling.
    pub fn reserve(&self, n: usize) {
        let mut r = self.write();
        let d = r.dim;
        r.codes.reserve_exact(n * d);
        advise_huge_pages(&r.codes);
        r.scales.reserve_exact(n);
        r.keys.reserve_exact(n);
        r.by_key.reserve(n);
    }

    /// Bytes the matrix holds per face: the codes, the scale and the key (the key index adds ~20).
    pub fn bytes_per_face(&self) -> usize {
        self.dim() + std::mem::size_of::<f32>() + std::mem::size_of::<i64>()
    }

    /// Adds or replaces the face with this store key; false when the embedding's length is not the
    /// gallery's or a value is not finite.
    pub fn insert(&self, key: i64, embedding: &[f32]) -> bool {
        if embedding.iter().any(|v| !v.is_finite()) {
            return false;
        }
        let (codes, scale, err) = quantize(embedding);
        let mut r = self.write();
        let d = r.dim;
        if embedding.len() != d {
            return false;
        }
        let norm = embedding.iter().map(|v| v * v).sum::<f32>().sqrt() + err;
        r.max_error = r.max_error.max(err);
        r.max_norm = r.max_norm.max(norm);
        if let Some(&i) = r.by_key.get(&key) {
            let i = i as usize;
            r.codes[i * d..(i + 1) * d].copy_from_slice(&codes);
            r.scales[i] = scale;
            return true;
        }
        let Ok(i) = u32::try_from(r.keys.len()) else { return false };
        r.by_key.insert(key, i);
        r.keys.push(key);
        r.scales.push(scale);
        let capacity = r.codes.capacity();
        r.codes.extend_from_slice(&codes);
        if r.codes.capacity() != capacity {
            advise_huge_pages(&r.codes);
        }
        true
    }

    /// Removes faces by key (swap-remove: O(faces removed)); the number that were present.
    pub fn remove(&self, keys: &[i64]) -> usize {
        let mut r = self.write();
        let d = r.dim;
        let mut removed = 0;
        for key in keys {
            let Some(i) = r.by_key.remove(key) else { continue };
            let (i, last) = (i as usize, r.keys.len() - 1);
            if i != last {
                r.codes.copy_within(last * d..(last + 1) * d, i * d);
                r.scales[i] = r.scales[last];
                r.keys[i] = r.keys[last];
                let moved = r.keys[i];
                r.by_key.insert(moved, i as u32);
            }
            r.codes.truncate(last * d);
            r.scales.truncate(last);
            r.keys.truncate(last);
            removed += 1;
        }
        removed
    }

    /// The `n` best rows by quantized score, best first.
    fn scan(r: &Rows, q: &[i8], qscale: f32, n: usize) -> Vec<(f32, u32)> {
        let d = r.dim;
        r.codes
            .par_chunks(BLOCK_ROWS * d)
            .zip(r.scales.par_chunks(BLOCK_ROWS))
            .enumerate()
            .map(|(block, (codes, scales))| {
                let mut scores = Vec::with_capacity(scales.len());
                score_block(q, codes, scales, qscale, &mut scores);
                block_top(&scores, block * BLOCK_ROWS, n)
            })
            .reduce(Vec::new, |mut a, b| {
                a.extend(b);
                a.sort_by(|x, y| y.0.total_cmp(&x.0));
                a.truncate(n);
                a
            })
    }

    /// The `k` most similar faces, best first, with exact similarities. `exact` returns the stored
    /// embeddings and identities of the keys it is given (a key no longer stored is left out).
    pub fn search<E>(&self, query: &[f32], k: usize, exact: &mut ExactLookup<'_, E>) -> Result<Vec<Hit>, E> {
        let r = self.read();
        if query.len() != r.dim || r.keys.is_empty() || k == 0 || query.iter().any(|v| !v.is_finite()) {
            return Ok(Vec::new());
        }
        let (q, qscale, qerr) = quantize(query);
        let qnorm = query.iter().map(|v| v * v).sum::<f32>().sqrt();
        // |x·q − x̂·q̂| ≤ ‖x − x̂‖‖q‖ + ‖x̂‖‖q − q̂‖ (+ slack for f32 rounding of the scaled sums).
        let bound = r.max_error * qnorm + r.max_norm * qerr + 1e-4;
        let total = r.keys.len();
        // One scan keeps a pool of candidates; they are rescored a batch at a time until the
        // certificate holds, so a tight top k costs more rescoring, not another scan.
        let mut pool = (8 * k).max(POOL_CANDIDATES).min(total).min(MAX_CANDIDATES);
        loop {
            let top = Self::scan(&r, &q, qscale, pool);
            let mut hits: Vec<Hit> = Vec::with_capacity(k + top.len());
            let (mut done, mut upto) = (0, (2 * k).max(FIRST_CANDIDATES).min(top.len()));
            loop {
                let keys: Vec<i64> = top[done..upto].iter().map(|&(_, i)| r.keys[i as usize]).collect();
                hits.extend(exact(&keys)?.into_iter().map(|e| Hit { similarity: dot(query, &e.embedding), face: e.face }));
                hits.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
                hits.truncate(k);
                done = upto;
                // Every face not rescored scores at most the next pool entry, or the pool's last
                // (outside the pool), quantized.
                let unscored = top.get(done).or(top.last()).map_or(f32::NEG_INFINITY, |&(s, _)| s);
                let everything = done == top.len() && pool >= total;
                let certain = hits.len() == k && unscored + bound < hits[k - 1].similarity;
                if everything || certain {
                    return Ok(hits);
                }
                if done == top.len() {
                    break;
                }
                upto = (upto * 4).min(top.len());
            }
            if pool >= MAX_CANDIDATES {
                tracing::debug!(candidates = pool, "1:N search stopped at the candidate limit without an exactness certificate");
                return Ok(hits);
            }
            pool = (pool * 8).min(total).min(MAX_CANDIDATES);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(seed: u64, d: usize) -> Vec<f32> {
        let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let mut v: Vec<f32> = (0..d)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((x >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect();
        let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
        v.iter_mut().for_each(|a| *a /= n);
        v
    }

    fn lookup(d: usize) -> impl FnMut(&[i64]) -> Result<Vec<Exact>, ()> {
        move |keys: &[i64]| {
            Ok(keys
                .iter()
                .map(|&k| Exact {
                    key: k,
                    face: FaceRef { face_id: format!("f{k}"), subject_id: format!("s{}", k / 2) },
                    embedding: unit(k as u64, d),
                })
                .collect())
        }
    }

    #[test]
    fn search_is_exact_and_ordered() {
        let g = Gallery::new(128);
        let n = 20_000;
        for i in 0..n {
            assert!(g.insert(i as i64, &unit(i as u64, 128)));
        }
        assert!(!g.insert(n as i64, &[0.0; 3]), "wrong dimension refused");
        assert!(!g.insert(n as i64, &[f32::NAN; 128]), "non-finite refused");
        for probe in [4321u64, 77, 19_999] {
            let q = unit(probe, 128);
            let hits = g.search(&q, 10, &mut lookup(128)).unwrap();
            assert_eq!(hits[0].face.face_id, format!("f{probe}"));
            assert!((hits[0].similarity - 1.0).abs() < 1e-5);
            let mut all: Vec<(f32, usize)> = (0..n).map(|i| (dot(&q, &unit(i as u64, 128)), i)).collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0));
            let want: Vec<(String, f32)> = all[..10].iter().map(|(s, i)| (format!("f{i}"), *s)).collect();
            let got: Vec<(String, f32)> = hits.iter().map(|h| (h.face.face_id.clone(), h.similarity)).collect();
            assert_eq!(got, want, "the quantized scan with rescoring returns the exact top 10 and exact similarities");
        }
        // A probe unlike every face (all similarities near 0): the certificate still holds.
        let q = unit(u64::MAX / 7, 128);
        let hits = g.search(&q, 5, &mut lookup(128)).unwrap();
        let mut all: Vec<(f32, usize)> = (0..n).map(|i| (dot(&q, &unit(i as u64, 128)), i)).collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0));
        assert_eq!(
            hits.iter().map(|h| h.face.face_id.clone()).collect::<Vec<_>>(),
            all[..5].iter().map(|(_, i)| format!("f{i}")).collect::<Vec<_>>()
        );
    }

    #[test]
    fn quantization_error_is_within_its_bound() {
        for seed in 0..200u64 {
            let (x, y) = (unit(seed, 128), unit(seed + 1000, 128));
            let (cx, sx, ex) = quantize(&x);
            let (cy, sy, ey) = quantize(&y);
            let approx = dot_i8_generic(&cx, &cy) as f32 * sx * sy;
            assert!((dot(&x, &y) - approx).abs() <= ex + (1.0 + ex) * ey + 1e-5);
            let (mut fast, mut generic) = (Vec::new(), Vec::new());
            score_block(&cy, &cx, &[sx], sy, &mut fast);
            score_block_generic(&cy, &cx, &[sx], sy, &mut generic);
            assert_eq!(fast, generic, "the dispatched kernel computes the same integer sum");
            assert_eq!(fast[0], approx);
        }
    }

    #[test]
    fn removed_faces_are_gone_and_the_rest_stay_findable() {
        let g = Gallery::new(16);
        for i in 0..10 {
            g.insert(i, &unit(i as u64, 16));
        }
        assert_eq!(g.remove(&[0, 1, 42]), 2);
        assert_eq!(g.len(), 8);
        assert!(g.search(&unit(0, 16), 10, &mut lookup(16)).unwrap().iter().all(|h| h.face.subject_id != "s0"));
        for i in 2..10 {
            assert_eq!(g.search(&unit(i as u64, 16), 1, &mut lookup(16)).unwrap()[0].face.face_id, format!("f{i}"));
        }
    }

    #[test]
    fn faces_the_store_no_longer_has_are_not_returned() {
        let g = Gallery::new(16);
        for i in 0..50 {
            g.insert(i, &unit(i as u64, 16));
        }
        let mut without_odd = |keys: &[i64]| -> Result<Vec<Exact>, ()> {
            let mut all = lookup(16)(keys)?;
            all.retain(|e| e.key % 2 == 0);
            Ok(all)
        };
        let hits = g.search(&unit(3, 16), 5, &mut without_odd).unwrap();
        assert_eq!(hits.len(), 5);
        assert!(hits.iter().all(|h| h.face.face_id.trim_start_matches('f').parse::<i64>().unwrap() % 2 == 0));
    }
}

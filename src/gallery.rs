//! The enrolled faces in memory for 1:N search: one contiguous row-major matrix of unit embeddings,
//! scanned exactly (every face, no index) with rayon over blocks of rows. The dot product keeps eight
//! independent accumulators so the compiler emits SIMD multiply-adds without `unsafe` intrinsics.
use std::collections::HashMap;
use std::sync::RwLock;

use rayon::prelude::*;

/// One enrolled face's identity in the matrix.
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

#[derive(Default)]
struct Rows {
    dim: usize,
    data: Vec<f32>,
    refs: Vec<FaceRef>,
    by_face: HashMap<String, usize>,
}

#[derive(Default)]
pub struct Gallery {
    rows: RwLock<Rows>,
}

/// Rows per rayon task: large enough that scheduling costs nothing next to the arithmetic.
const BLOCK_ROWS: usize = 4096;

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
        self.read().refs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dim(&self) -> usize {
        self.read().dim
    }

    /// Bytes held per face by the matrix (the embedding itself); ids add their string lengths.
    pub fn bytes_per_embedding(&self) -> usize {
        self.dim() * std::mem::size_of::<f32>()
    }

    /// Adds a face; false when the embedding's length is not the gallery's.
    pub fn insert(&self, face: FaceRef, embedding: &[f32]) -> bool {
        let mut r = self.write();
        if embedding.len() != r.dim {
            return false;
        }
        if let Some(&i) = r.by_face.get(&face.face_id) {
            let d = r.dim;
            r.data[i * d..(i + 1) * d].copy_from_slice(embedding);
            return true;
        }
        let i = r.refs.len();
        r.by_face.insert(face.face_id.clone(), i);
        r.refs.push(face);
        r.data.extend_from_slice(embedding);
        true
    }

    /// Removes every face of a subject (swap-remove: O(faces removed)).
    pub fn remove_subject(&self, subject_id: &str) -> usize {
        let mut r = self.write();
        let mut removed = 0;
        let mut i = 0;
        while i < r.refs.len() {
            if r.refs[i].subject_id == subject_id {
                let last = r.refs.len() - 1;
                let d = r.dim;
                let gone = r.refs.swap_remove(i);
                r.by_face.remove(&gone.face_id);
                if i != last {
                    r.data.copy_within(last * d..(last + 1) * d, i * d);
                    let moved = r.refs[i].face_id.clone();
                    r.by_face.insert(moved, i);
                }
                r.data.truncate(last * d);
                removed += 1;
            } else {
                i += 1;
            }
        }
        removed
    }

    /// The `k` most similar faces, best first (exact: every enrolled face is scored).
    pub fn search(&self, query: &[f32], k: usize) -> Vec<Hit> {
        let r = self.read();
        if query.len() != r.dim || r.refs.is_empty() || k == 0 {
            return Vec::new();
        }
        let d = r.dim;
        let best: Vec<(f32, usize)> = r
            .data
            .par_chunks(BLOCK_ROWS * d)
            .enumerate()
            .map(|(block, rows)| {
                let mut top: Vec<(f32, usize)> = Vec::with_capacity(k + 1);
                for (j, row) in rows.chunks_exact(d).enumerate() {
                    let s = dot(query, row);
                    if top.len() < k || s > top[top.len() - 1].0 {
                        let at = top.partition_point(|&(x, _)| x >= s);
                        top.insert(at, (s, block * BLOCK_ROWS + j));
                        top.truncate(k);
                    }
                }
                top
            })
            .reduce(Vec::new, |mut a, b| {
                a.extend(b);
                a.sort_by(|x, y| y.0.total_cmp(&x.0));
                a.truncate(k);
                a
            });
        best.into_iter().map(|(s, i)| Hit { face: r.refs[i].clone(), similarity: s }).collect()
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

    fn face(i: usize) -> FaceRef {
        FaceRef { face_id: format!("f{i}"), subject_id: format!("s{}", i / 2) }
    }

    #[test]
    fn search_is_exact_and_ordered() {
        let g = Gallery::new(128);
        let n = 10_000;
        for i in 0..n {
            assert!(g.insert(face(i), &unit(i as u64, 128)));
        }
        assert!(!g.insert(face(n), &[0.0; 3]), "wrong dimension refused");
        let q = unit(4321, 128);
        let hits = g.search(&q, 5);
        assert_eq!(hits[0].face.face_id, "f4321");
        assert!((hits[0].similarity - 1.0).abs() < 1e-5);
        // Brute force agrees on the whole top 5.
        let mut all: Vec<(f32, usize)> = (0..n).map(|i| (dot(&q, &unit(i as u64, 128)), i)).collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0));
        let want: Vec<String> = all[..5].iter().map(|(_, i)| format!("f{i}")).collect();
        assert_eq!(hits.iter().map(|h| h.face.face_id.clone()).collect::<Vec<_>>(), want);
    }

    #[test]
    fn removing_a_subject_removes_all_its_faces_and_keeps_the_rest_findable() {
        let g = Gallery::new(16);
        for i in 0..10 {
            g.insert(face(i), &unit(i as u64, 16));
        }
        assert_eq!(g.remove_subject("s0"), 2);
        assert_eq!(g.len(), 8);
        assert!(g.search(&unit(0, 16), 10).iter().all(|h| h.face.subject_id != "s0"));
        for i in 2..10 {
            assert_eq!(g.search(&unit(i as u64, 16), 1)[0].face.face_id, format!("f{i}"));
        }
    }
}

//! SCRFD (InsightFace, with keypoints) output decoding. Outputs in graph order: scores for strides
//! 8/16/32, then boxes, then keypoints; two anchors per cell, anchor centre = (col·S, row·S); boxes
//! and keypoints are distances / offsets in units of the stride.
use super::Face;
use crate::error::{Error, Result};

pub const STRIDES: [u32; 3] = [8, 16, 32];
pub const ANCHORS: usize = 2;

pub fn decode(tensors: &[&[f32]], (width, height): (u32, u32), floor: f32, model: &str) -> Result<Vec<Face>> {
    let mut faces = Vec::new();
    for (i, s) in STRIDES.into_iter().enumerate() {
        let cols = (width / s) as usize;
        let n = cols * (height / s) as usize * ANCHORS;
        let (scores, bbox, kps) = (tensors[i], tensors[i + 3], tensors[i + 6]);
        if scores.len() != n || bbox.len() != n * 4 || kps.len() != n * 10 {
            return Err(Error::ModelOutput {
                model: model.to_string(),
                reason: format!(
                    "SCRFD stride {s}: expected {n} scores, {} box and {} keypoint values; got {}, {}, {}",
                    n * 4,
                    n * 10,
                    scores.len(),
                    bbox.len(),
                    kps.len()
                ),
            });
        }
        decode_stride(scores, bbox, kps, cols, s as f32, floor, &mut faces);
    }
    Ok(faces)
}

pub fn decode_stride(scores: &[f32], bbox: &[f32], kps: &[f32], cols: usize, stride: f32, floor: f32, out: &mut Vec<Face>) {
    for idx in 0..scores.len() {
        let score = scores[idx];
        if score < floor {
            continue;
        }
        let cell = idx / ANCHORS;
        let cx = (cell % cols) as f32 * stride;
        let cy = (cell / cols) as f32 * stride;
        let d = &bbox[idx * 4..idx * 4 + 4];
        let k = &kps[idx * 10..idx * 10 + 10];
        let mut landmarks = [[0.0f32; 2]; 5];
        for (j, p) in landmarks.iter_mut().enumerate() {
            *p = [cx + k[2 * j] * stride, cy + k[2 * j + 1] * stride];
        }
        out.push(Face { bbox: [cx - d[0] * stride, cy - d[1] * stride, cx + d[2] * stride, cy + d[3] * stride], score, landmarks });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_fixed_tensor() {
        // 2x2 grid, 2 anchors per cell → 8 anchors; anchor 5 = cell 2 (row 1, col 0), second anchor.
        let mut scores = [0.1f32; 8];
        scores[5] = 0.75;
        let mut bbox = [0.0f32; 32];
        bbox[20..24].copy_from_slice(&[1.0, 0.5, 2.0, 1.5]);
        let mut kps = [0.0f32; 80];
        kps[50..60].copy_from_slice(&[-0.5, -0.25, 0.5, -0.25, 0.0, 0.0, -0.4, 0.5, 0.4, 0.5]);
        let mut out = Vec::new();
        decode_stride(&scores, &bbox, &kps, 2, 16.0, 0.5, &mut out);
        assert_eq!(out.len(), 1);
        let f = out[0];
        assert_eq!(f.score, 0.75);
        // centre (0, 16): box (0 - 16, 16 - 8, 0 + 32, 16 + 24)
        assert_eq!(f.bbox, [-16.0, 8.0, 32.0, 40.0]);
        assert_eq!(f.landmarks[0], [-8.0, 12.0]);
        assert_eq!(f.landmarks[2], [0.0, 16.0]);
        assert_eq!(f.landmarks[4], [6.4, 24.0]);
    }
}

//! YuNet (OpenCV Zoo, 2023mar) output decoding. Outputs `cls_S`, `obj_S` [1,N,1], `bbox_S` [1,N,4],
//! `kps_S` [1,N,10] for strides S = 8, 16, 32; one anchor per cell, row-major.
use super::Face;
use crate::error::{Error, Result};

pub const STRIDES: [u32; 3] = [8, 16, 32];

fn find<'a>(names: &[String], tensors: &[&'a [f32]], name: &str, len: usize, model: &str) -> Result<&'a [f32]> {
    let i = names
        .iter()
        .position(|n| n == name)
        .ok_or_else(|| Error::ModelOutput { model: model.to_string(), reason: format!("YuNet output `{name}` is missing") })?;
    let t = tensors[i];
    if t.len() != len {
        return Err(Error::ModelOutput {
            model: model.to_string(),
            reason: format!("YuNet output `{name}` has {} values, expected {len}", t.len()),
        });
    }
    Ok(t)
}

/// Decodes every anchor scoring at least `floor` into a face in letterboxed-input pixels, for an
/// input of `width` x `height`.
pub fn decode(names: &[String], tensors: &[&[f32]], (width, height): (u32, u32), floor: f32, model: &str) -> Result<Vec<Face>> {
    let mut faces = Vec::new();
    for s in STRIDES {
        let cols = (width / s) as usize;
        let n = cols * (height / s) as usize;
        let cls = find(names, tensors, &format!("cls_{s}"), n, model)?;
        let obj = find(names, tensors, &format!("obj_{s}"), n, model)?;
        let bbox = find(names, tensors, &format!("bbox_{s}"), n * 4, model)?;
        let kps = find(names, tensors, &format!("kps_{s}"), n * 10, model)?;
        decode_stride(cls, obj, bbox, kps, cols, s as f32, floor, &mut faces);
    }
    Ok(faces)
}

#[allow(clippy::too_many_arguments)]
pub fn decode_stride(cls: &[f32], obj: &[f32], bbox: &[f32], kps: &[f32], cols: usize, stride: f32, floor: f32, out: &mut Vec<Face>) {
    for idx in 0..cls.len() {
        let score = (cls[idx].clamp(0.0, 1.0) * obj[idx].clamp(0.0, 1.0)).sqrt();
        if score < floor {
            continue;
        }
        let (row, col) = ((idx / cols) as f32, (idx % cols) as f32);
        let b = &bbox[idx * 4..idx * 4 + 4];
        let cx = (col + b[0]) * stride;
        let cy = (row + b[1]) * stride;
        let w = b[2].exp() * stride;
        let h = b[3].exp() * stride;
        let k = &kps[idx * 10..idx * 10 + 10];
        let mut landmarks = [[0.0f32; 2]; 5];
        for (j, p) in landmarks.iter_mut().enumerate() {
            *p = [(k[2 * j] + col) * stride, (k[2 * j + 1] + row) * stride];
        }
        out.push(Face { bbox: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0], score, landmarks });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_fixed_tensor() {
        // A 2x2 grid at stride 8: only cell (row 1, col 0) scores above the floor.
        let cls = [0.1, 0.1, 0.81, 0.1];
        let obj = [0.1, 0.1, 1.5, 0.1]; // clamped to 1 → score sqrt(0.81) = 0.9
        let mut bbox = [0.0f32; 16];
        bbox[8..12].copy_from_slice(&[0.5, 0.25, (2.0f32).ln(), 0.0]);
        let mut kps = [0.0f32; 40];
        kps[20..30].copy_from_slice(&[0.1, 0.2, 0.9, 0.2, 0.5, 0.5, 0.2, 0.8, 0.8, 0.8]);
        let mut out = Vec::new();
        decode_stride(&cls, &obj, &bbox, &kps, 2, 8.0, 0.5, &mut out);
        assert_eq!(out.len(), 1);
        let f = out[0];
        assert!((f.score - 0.9).abs() < 1e-6);
        // centre ((0 + 0.5)·8, (1 + 0.25)·8) = (4, 10); size (2·8, 1·8) = (16, 8)
        let expected = [4.0 - 8.0, 10.0 - 4.0, 4.0 + 8.0, 10.0 + 4.0];
        for i in 0..4 {
            assert!((f.bbox[i] - expected[i]).abs() < 1e-5, "{:?}", f.bbox);
        }
        assert!((f.landmarks[0][0] - 0.8).abs() < 1e-5 && (f.landmarks[0][1] - 9.6).abs() < 1e-5);
        assert!((f.landmarks[4][0] - 6.4).abs() < 1e-5 && (f.landmarks[4][1] - 14.4).abs() < 1e-5);
    }
}

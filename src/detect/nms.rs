//! Greedy non-maximum suppression by IoU.
use super::Face;

pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let ix = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let iy = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = ix * iy;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 {
        0.0
    } else {
        inter / union
    }
}

/// Keeps the highest-scoring box of each overlapping group (IoU > `iou_threshold`), considering at
/// most `top_k` candidates, in descending score order.
pub fn nms(mut faces: Vec<Face>, iou_threshold: f32, top_k: usize) -> Vec<Face> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    faces.truncate(top_k);
    let mut kept: Vec<Face> = Vec::new();
    for f in faces {
        if kept.iter().all(|k| iou(&k.bbox, &f.bbox) <= iou_threshold) {
            kept.push(f);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x1: f32, y1: f32, x2: f32, y2: f32, score: f32) -> Face {
        Face { bbox: [x1, y1, x2, y2], score, landmarks: [[0.0; 2]; 5] }
    }

    #[test]
    fn suppresses_overlaps_keeps_separate_faces() {
        let out = nms(
            vec![
                face(0.0, 0.0, 10.0, 10.0, 0.8),
                face(1.0, 1.0, 11.0, 11.0, 0.9), // IoU with the first = 81/119 = 0.68
                face(50.0, 50.0, 60.0, 60.0, 0.7),
                face(5.0, 0.0, 15.0, 10.0, 0.85), // IoU with the 0.9 box = 54/146 = 0.37
            ],
            0.3,
            100,
        );
        let scores: Vec<f32> = out.iter().map(|f| f.score).collect();
        assert_eq!(scores, vec![0.9, 0.7]);
        assert!((iou(&[0.0, 0.0, 10.0, 10.0], &[1.0, 1.0, 11.0, 11.0]) - 81.0 / 119.0).abs() < 1e-6);
        // With a looser threshold the 0.85 box survives.
        assert_eq!(nms(vec![face(1.0, 1.0, 11.0, 11.0, 0.9), face(5.0, 0.0, 15.0, 10.0, 0.85)], 0.4, 100).len(), 2);
        // top_k bounds the candidates.
        assert_eq!(nms(vec![face(0.0, 0.0, 1.0, 1.0, 0.5), face(5.0, 5.0, 6.0, 6.0, 0.6)], 0.3, 1).len(), 1);
    }
}

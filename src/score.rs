//! Similarity between embeddings.

/// Cosine similarity of two unit vectors (their dot product), clamped to [-1, 1].
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    dot.clamp(-1.0, 1.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn cosine_of_unit_vectors() {
        assert!((super::cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(super::cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-6);
        let s = std::f32::consts::FRAC_1_SQRT_2;
        assert!((super::cosine(&[s, s], &[1.0, 0.0]) - s).abs() < 1e-6);
    }
}

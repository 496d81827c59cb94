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

/// How each vendor's wire format carries the calibrated score `s` (0..1, = -log10(FMR)/6), and the
/// default decision thresholds; every threshold is configurable per deployment.
pub mod vendor {
    /// Default decision threshold on `s` (FMR ≈ 3e-5) for Valify, VideoSDK, FACEKI and Cashfree.
    pub const DEFAULT_THRESHOLD: f32 = 0.75;
    /// Didit declines at or below this score on its 0-100 scale.
    pub const DIDIT_DEFAULT_DECLINE: f32 = 30.0;

    /// Cashfree `face_match_score`: s itself, two decimals, as the docs' examples print it.
    pub fn cashfree_score(s: f32) -> f64 {
        round2(s as f64)
    }

    /// Didit `score`: 100·s, two decimals.
    pub fn didit_score(s: f32) -> f64 {
        round2(100.0 * s as f64)
    }

    /// Valify `confidence` (and FACEKI's): s.
    pub fn confidence(s: f32) -> f64 {
        round4(s as f64)
    }

    /// Valify `is_similar`, VideoSDK `verified`, FACEKI `face_verified`, Cashfree `YES`.
    pub fn is_match(s: f32, threshold: f32) -> bool {
        s >= threshold
    }

    fn round2(x: f64) -> f64 {
        (x * 100.0).round() / 100.0
    }

    fn round4(x: f64) -> f64 {
        (x * 10_000.0).round() / 10_000.0
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn scales() {
            assert_eq!(cashfree_score(0.7549), 0.75);
            assert_eq!(didit_score(0.65432), 65.43);
            assert_eq!(confidence(0.123456), 0.1235);
            assert!(is_match(0.75, DEFAULT_THRESHOLD) && !is_match(0.7499, DEFAULT_THRESHOLD));
            // Didit's default decline threshold 30 is s = 0.3: FMR = 10^-1.8 ≈ 1.6 %.
            assert!((DIDIT_DEFAULT_DECLINE / 100.0 - 0.3).abs() < 1e-6);
        }
    }
}

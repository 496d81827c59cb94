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

/// How each vendor's wire format carries the calibrated score s (0..1, = -log10(FMR)/6).
///
/// A vendor's score is a monotone, piecewise-linear function of s that puts the vendor's own
/// documented default threshold exactly on the deployment's decision point (`--threshold`, s = 0.75
/// by default, FMR about 3e-5): a client that keeps the vendor's default gets the deployment's FMR,
/// and one that sends its own threshold moves along the same monotone scale. With the default
/// decision point:
///
/// | vendor field | 0 | vendor default | top | FMR at the default |
/// | --- | --- | --- | --- | --- |
/// | Didit `score` (0-100, declined at or below 30) | s = 0 | 30 = s 0.75 | 100 = s 1 | 3.2e-5 |
/// | Cashfree `face_match_score` (YES at or above 0.75) | s = 0 | 0.75 = s 0.75 | 1 = s 1 | 3.2e-5 |
/// | Valify `confidence`, FACEKI `face.confidence` (no published threshold: anchored like Cashfree) | s = 0 | 0.75 = s 0.75 | 1 = s 1 | 3.2e-5 |
pub mod vendor {
    /// One vendor's score scale.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct Scale {
        /// The top of the scale (s = 1).
        pub max: f64,
        /// The vendor's documented default threshold: it stands for the deployment's decision point.
        pub default_threshold: f64,
        /// Decimals the vendor prints.
        pub decimals: i32,
    }

    /// Didit's `score`, 0-100; `face_match_score_decline_threshold` defaults to 30.
    pub const DIDIT: Scale = Scale { max: 100.0, default_threshold: 30.0, decimals: 2 };
    /// Cashfree's `face_match_score`, 0-1; `threshold` defaults to 0.75.
    pub const CASHFREE: Scale = Scale { max: 1.0, default_threshold: 0.75, decimals: 2 };
    /// Valify's `confidence`, 0-1 (no threshold is published: anchored like Cashfree's).
    pub const VALIFY: Scale = Scale { max: 1.0, default_threshold: 0.75, decimals: 4 };
    /// FACEKI's `kycResponse.face.confidence`, a string like "0.786".
    pub const FACEKI: Scale = Scale { max: 1.0, default_threshold: 0.75, decimals: 3 };

    /// Keeps the decision point strictly inside (0, 1) so both pieces have a slope.
    fn anchor(at: f32) -> f64 {
        (at as f64).clamp(1e-6, 1.0 - 1e-6)
    }

    impl Scale {
        /// The wire score of s when the deployment decides at s = `at`, rounded *down* to the
        /// vendor's decimals: a printed score at or above a threshold of as many decimals means the
        /// exact one is too, so deciding on the printed value is deciding on the exact one.
        pub fn wire(&self, s: f32, at: f32) -> f64 {
            let (s, at, d) = ((s as f64).clamp(0.0, 1.0), anchor(at), self.default_threshold);
            let x = if s <= at { d * s / at } else { d + (self.max - d) * (s - at) / (1.0 - at) };
            let k = 10f64.powi(self.decimals);
            // The small nudge keeps a value that is exactly on a step (30 for s = at) from
            // printing one step lower through float error.
            ((x * k + 1e-6).floor() / k).clamp(0.0, self.max)
        }

        /// The calibrated score a wire value stands for (the inverse of [`Scale::wire`]).
        pub fn calibrated(&self, wire: f64, at: f32) -> f64 {
            let (w, at, d) = (wire.clamp(0.0, self.max), anchor(at), self.default_threshold);
            if w <= d {
                at * w / d
            } else {
                at + (1.0 - at) * (w - d) / (self.max - d)
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_vendor_default_is_the_deployment_decision_point() {
            for at in [0.5f32, 0.6, 0.75, 0.9] {
                assert_eq!(DIDIT.wire(at, at), 30.0);
                assert_eq!(CASHFREE.wire(at, at), 0.75);
                assert!((DIDIT.calibrated(30.0, at) - at as f64).abs() < 1e-9);
                assert!((CASHFREE.calibrated(0.75, at) - at as f64).abs() < 1e-9);
            }
            assert_eq!((DIDIT.wire(0.0, 0.75), DIDIT.wire(1.0, 0.75)), (0.0, 100.0));
            // Above the decision point, 70 Didit points cover s 0.75..1.
            assert_eq!(DIDIT.wire(0.85, 0.75), 58.0);
            assert!((DIDIT.calibrated(58.0, 0.75) - 0.85).abs() < 1e-9);
        }

        #[test]
        fn monotone_and_rounded_down() {
            let mut last = -1.0;
            for i in 0..=1000 {
                let w = DIDIT.wire(i as f32 / 1000.0, 0.75);
                assert!(w >= last);
                last = w;
            }
            // Rounded down: 0.7499 is printed 0.74, never 0.75 (which would read as a YES).
            assert_eq!(CASHFREE.wire(0.7499, 0.75), 0.74);
            assert_eq!(VALIFY.wire(0.123456, 0.75), 0.1234);
        }
    }
}

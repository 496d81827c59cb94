//! Exact (Clopper–Pearson) confidence bounds on a rate measured as k events in n trials, and the
//! strictest threshold whose false-match rate is below a target with that confidence. A promise of
//! "FMR 1e-4" resting on a point estimate from a few thousand impostor pairs is a coin toss; an
//! upper bound says what the data can certify, and when it can certify nothing.

/// The one-sided upper bound of the rate: with probability `confidence` the true rate is below
/// it. `k = n` gives 1; `n = 0` gives 1 (nothing measured).
pub fn upper(k: u64, n: u64, confidence: f64) -> f64 {
    if n == 0 || k >= n {
        return 1.0;
    }
    if k == 0 {
        // Closed form: (1 - p)^n = 1 - confidence.
        return 1.0 - (1.0 - confidence).powf(1.0 / n as f64);
    }
    beta_quantile(confidence, k as f64 + 1.0, (n - k) as f64)
}

/// The one-sided lower bound of the rate (0 when k = 0).
pub fn lower(k: u64, n: u64, confidence: f64) -> f64 {
    if n == 0 || k == 0 {
        return 0.0;
    }
    if k >= n {
        return (1.0 - confidence).powf(1.0 / n as f64);
    }
    beta_quantile(1.0 - confidence, k as f64, (n - k + 1) as f64)
}

/// Whether `n` trials can certify a rate at most `fmr` at all: with no event, the bound is below it
/// (n at least about 3 / fmr at 95 %).
pub fn can_certify(n: u64, fmr: f64, confidence: f64) -> bool {
    upper(0, n, confidence) <= fmr
}

/// The smallest cosine threshold at which the impostors (scores sorted from highest to lowest)
/// certify a false-match rate at most `fmr` with `confidence`, and how many impostors reach it;
/// `None` when even no impostor at all could not certify it (too few pairs: n < about 3 / fmr).
pub fn certified_threshold(impostors_desc: &[f32], fmr: f64, confidence: f64) -> Option<(f32, u64)> {
    let n = impostors_desc.len() as u64;
    if !can_certify(n, fmr, confidence) {
        return None;
    }
    // The largest k that still certifies: the bound grows with k, so search the boundary.
    let (mut lo, mut hi) = (0u64, n);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if upper(mid, n, confidence) <= fmr {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let k = lo as usize;
    // Accept exactly the k highest impostors: a threshold just above the (k+1)-th score; ties
    // with it are refused too, which only lowers k.
    let t = next_up(impostors_desc[k.min(impostors_desc.len() - 1)]);
    let above = impostors_desc.iter().take_while(|&&s| s >= t).count() as u64;
    Some((t, above))
}

/// The smallest f32 above `v`: a threshold that refuses `v` itself.
pub fn next_up(v: f32) -> f32 {
    if v.is_nan() || v == f32::INFINITY {
        return v;
    }
    let bits = v.to_bits();
    let next = if v == 0.0 {
        1
    } else if v > 0.0 {
        bits + 1
    } else {
        bits - 1
    };
    f32::from_bits(next)
}

/// The `p` quantile of Beta(a, b), by bisection on the regularized incomplete beta function
/// (monotone in x; 200 halvings reach f64 precision).
fn beta_quantile(p: f64, a: f64, b: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if incomplete_beta(mid, a, b) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The regularized incomplete beta function I_x(a, b), by its continued fraction (Lentz).
fn incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    // The fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry otherwise.
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_fraction(x, a, b) / a
    } else {
        1.0 - ln_front.exp() * beta_fraction(1.0 - x, b, a) / b
    }
}

fn beta_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    d = if d.abs() < TINY { TINY } else { d };
    d = 1.0 / d;
    let mut h = d;
    for m in 1..10_000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        for aa in [m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))] {
            d = 1.0 + aa * d;
            d = if d.abs() < TINY { TINY } else { d };
            c = 1.0 + aa / c;
            c = if c.abs() < TINY { TINY } else { c };
            d = 1.0 / d;
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9: about 15 significant digits).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 - x) = π / sin(πx).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let sum = G[1..].iter().enumerate().fold(G[0], |s, (i, g)| s + g / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values from the exact binomial test (R's `binom.test`, two-sided 95 %, so each
    /// side is a one-sided 97.5 % bound) and the closed forms.
    #[test]
    fn bounds_match_the_exact_binomial_test() {
        let close = |a: f64, b: f64, tol: f64| assert!((a - b).abs() < tol, "{a} vs {b}");
        // binom.test(5, 100): 0.01643 .. 0.11283
        close(lower(5, 100, 0.975), 0.016_431, 2e-6);
        close(upper(5, 100, 0.975), 0.112_835, 2e-6);
        // binom.test(0, 100): 0 .. 0.03622; one-sided 95 % upper 1 - 0.05^(1/100) = 0.02951
        close(upper(0, 100, 0.975), 0.036_217, 2e-6);
        close(upper(0, 100, 0.95), 0.029_513, 2e-6);
        // binom.test(81, 20604) (the FRLL impostors at the FMR-1e-3 threshold): 0.003124 .. 0.004883
        close(lower(81, 20_604, 0.975), 0.003_124, 3e-6);
        close(upper(81, 20_604, 0.975), 0.004_883, 3e-6);
        assert_eq!(upper(3, 3, 0.95), 1.0);
        assert_eq!(upper(0, 0, 0.95), 1.0);
        assert!(upper(10, 1_000, 0.95) > 0.01 && lower(10, 1_000, 0.95) < 0.01);
        close(ln_gamma(5.0), 24f64.ln(), 1e-12);
        close(ln_gamma(0.5), std::f64::consts::PI.sqrt().ln(), 1e-12);
    }

    /// A threshold is certified only where the data can: 100 impostors cannot certify 1e-3, and at
    /// 1e-2 no impostor may be accepted (a bound of 3 % is above it even with none).
    #[test]
    fn certified_thresholds() {
        let desc: Vec<f32> = (0..100_000).map(|i| 1.0 - i as f32 / 100_000.0).collect();
        assert!(certified_threshold(&desc[..100], 1e-3, 0.95).is_none());
        assert!(certified_threshold(&desc[..100], 1e-2, 0.95).is_none());
        let (t, k) = certified_threshold(&desc, 1e-3, 0.95).unwrap();
        // The point estimate would accept 100 impostors; the 95 % bound accepts about 84.
        assert!((75..100).contains(&k), "{k}");
        assert!(upper(k, 100_000, 0.95) <= 1e-3 && upper(k + 1, 100_000, 0.95) > 1e-3);
        assert_eq!(desc.iter().filter(|&&s| s >= t).count() as u64, k);
        let (_, none) = certified_threshold(&desc, 3.0 / 100_000.0, 0.95).unwrap();
        assert_eq!(none, 0);
    }
}

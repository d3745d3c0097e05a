//! Tail probabilities of the count models the detectors test against:
//! negative binomial (mean μ, dispersion φ, variance μ + φμ²) for window counts,
//! beta-binomial (share p, intra-class correlation ρ) for negative counts given the window
//! count, and the normal tail. The hot path calls them only behind cheap normal-approximation
//! gates (see `detect`), because one exact tail costs about a microsecond.

use statrs::function::beta::{beta_reg, ln_beta};
use statrs::function::erf::erfc;
use statrs::function::gamma::gamma_lr;

/// Dispersion below which the negative binomial is treated as Poisson.
const POISSON_PHI: f64 = 1e-6;

/// P(X ≥ c) for X ~ NegBin(mean μ, dispersion φ); `c` may be fractional (continuous
/// extension through the regularised incomplete beta function), which the NAB runner uses.
pub fn nb_upper_tail(c: f64, mu: f64, phi: f64) -> f64 {
    if c <= 0.0 {
        return 1.0;
    }
    if mu <= 0.0 {
        return 0.0;
    }
    if phi < POISSON_PHI {
        // P(Poisson(μ) ≥ c) = P(Gamma(c) ≤ μ)
        return gamma_lr(c, mu).clamp(0.0, 1.0);
    }
    let r = 1.0 / phi;
    let q = mu / (r + mu); // failure probability in statrs' (r, p) parametrisation
    beta_reg(c, r, q).clamp(0.0, 1.0)
}

/// P(X ≤ c) for the same negative binomial (used for drops and silence).
pub fn nb_lower_tail(c: f64, mu: f64, phi: f64) -> f64 {
    if c < 0.0 {
        return 0.0;
    }
    1.0 - nb_upper_tail(c + 1.0, mu, phi)
}

/// P(X = 0) for the negative binomial: a brand that should have had μ mentions had none.
pub fn nb_zero(mu: f64, phi: f64) -> f64 {
    if phi < POISSON_PHI {
        (-mu).exp()
    } else {
        (1.0 + phi * mu).powf(-1.0 / phi)
    }
}

/// P(K ≥ k) for K ~ BetaBinomial(n, share p, intra-class correlation ρ). ρ = 0 is binomial.
pub fn beta_binomial_upper_tail(k: u32, n: u32, p: f64, rho: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    if rho <= 1e-9 {
        // Binomial: P(K ≥ k) = I_p(k, n − k + 1)
        return beta_reg(f64::from(k), f64::from(n - k + 1), p).clamp(0.0, 1.0);
    }
    let s = (1.0 / rho - 1.0).max(1e-6);
    let (a, b) = (p * s, (1.0 - p) * s);
    let n_f = f64::from(n);
    // log pmf(j) = ln C(n, j) + ln B(j + a, n − j + b) − ln B(a, b)
    let ln_choose = |j: f64| -> f64 { -((n_f + 1.0).ln()) - ln_beta(n_f - j + 1.0, j + 1.0) };
    let kf = f64::from(k);
    let mut term = (ln_choose(kf) + ln_beta(kf + a, n_f - kf + b) - ln_beta(a, b)).exp();
    let mut sum = 0.0;
    let mut j = kf;
    while j <= n_f {
        sum += term;
        if term < sum * 1e-12 || term == 0.0 {
            break;
        }
        // pmf(j+1)/pmf(j) = (n − j)/(j + 1) · (j + a)/(n − j − 1 + b)
        term *= (n_f - j) / (j + 1.0) * (j + a) / (n_f - j - 1.0 + b);
        j += 1.0;
    }
    sum.clamp(0.0, 1.0)
}

/// Standard normal upper tail P(Z ≥ z).
pub fn normal_upper_tail(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// The z with P(Z ≥ z) = α (by bisection; called when rules load, not per mention).
pub fn normal_quantile_upper(alpha: f64) -> f64 {
    let (mut lo, mut hi) = (-10.0, 40.0);
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if normal_upper_tail(mid) > alpha {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// Anomaly score in [0, 1] from a p-value: 0.5 exactly at the significance level α, 1 at α²,
/// monotone in the evidence `−log p`.
pub fn score(p: f64, alpha: f64) -> f64 {
    let p = p.max(1e-300);
    (p.ln() / (2.0 * alpha.ln())).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_and_nb_tails_match_known_values() {
        // P(Poisson(10) ≥ 20) = 0.003454…
        assert!((nb_upper_tail(20.0, 10.0, 0.0) - 0.003_454_6).abs() < 1e-6);
        // NB with r = 2, mean 4 (p = 1/3): P(X ≥ 1) = 1 − (1/3)² = 0.8889
        assert!((nb_upper_tail(1.0, 4.0, 0.5) - 8.0 / 9.0).abs() < 1e-9);
        assert!((nb_zero(4.0, 0.5) - 1.0 / 9.0).abs() < 1e-9);
        assert!((nb_lower_tail(0.0, 4.0, 0.5) - 1.0 / 9.0).abs() < 1e-9);
        // overdispersion fattens the tail
        assert!(nb_upper_tail(30.0, 10.0, 0.2) > 100.0 * nb_upper_tail(30.0, 10.0, 0.0));
        // deep tails stay finite and positive
        let t = nb_upper_tail(200.0, 10.0, 0.0);
        assert!(t > 0.0 && t < 1e-100);
    }

    #[test]
    fn beta_binomial_tail() {
        // binomial: P(Bin(10, 0.5) ≥ 8) = 56/1024
        assert!((beta_binomial_upper_tail(8, 10, 0.5, 0.0) - 56.0 / 1024.0).abs() < 1e-9);
        // with ρ → 0 the beta-binomial sum agrees with the binomial
        let bb = beta_binomial_upper_tail(8, 10, 0.5, 1e-7);
        assert!((bb - 56.0 / 1024.0).abs() < 1e-4, "{bb}");
        // BetaBinomial(2, a = b = 1) is uniform on {0, 1, 2}: ρ = 1/(a + b + 1) = 1/3
        assert!((beta_binomial_upper_tail(2, 2, 0.5, 1.0 / 3.0) - 1.0 / 3.0).abs() < 1e-9);
        let t = beta_binomial_upper_tail(60, 100, 0.2, 0.02);
        // reference: direct sum of the pmf with lgamma in Python, 1.2373057860846e-06
        assert!((t / 1.237_305_786_084_6e-6 - 1.0).abs() < 1e-9, "{t:e}");
    }

    #[test]
    fn normal_and_score() {
        assert!((normal_upper_tail(1.959_964) - 0.025).abs() < 1e-6);
        assert!((normal_quantile_upper(0.025) - 1.959_964).abs() < 1e-4);
        assert!((score(1e-5, 1e-5) - 0.5).abs() < 1e-12);
        assert!((score(1e-10, 1e-5) - 1.0).abs() < 1e-12);
        assert!(score(0.5, 1e-5) < 0.05);
    }
}

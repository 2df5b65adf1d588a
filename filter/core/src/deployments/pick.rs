//! The pick among an alias's deployments, as LiteLLM's simple shuffle makes it: the first
//! deployment that may serve decides the key (`weight`, else `rpm`, else `tpm`); the others
//! weigh what they give for that key (0 when they give nothing); without a key, or when every
//! weight is 0, each deployment that may serve is as likely as the next.

use crate::config::models::Weights;

/// Deployment of `weights` that serves, among those `available` allows, for a uniformly random
/// `draw`; `None` when none is available.
pub fn pick(weights: &[Weights], available: impl Fn(usize) -> bool, draw: u64) -> Option<usize> {
    let candidates = || (0..weights.len()).filter(|&i| available(i));
    let first = weights.get(candidates().next()?)?;
    let keyed: fn(&Weights) -> f64 = if first.weight.is_some() {
        |w| w.weight.unwrap_or(0.0)
    } else if first.rpm.is_some() {
        |w| w.rpm.unwrap_or(0) as f64
    } else if first.tpm.is_some() {
        |w| w.tpm.unwrap_or(0) as f64
    } else {
        |_| 1.0
    };
    let weight_of = |i: usize| weights.get(i).map_or(0.0, keyed);
    let total: f64 = candidates().map(weight_of).sum();
    let (weight_of, total): (&dyn Fn(usize) -> f64, f64) = if total > 0.0 {
        (&weight_of, total)
    } else {
        (&|_| 1.0, candidates().count() as f64)
    };
    let mut point = unit(draw) * total;
    let mut last = None;
    for i in candidates() {
        let weight = weight_of(i);
        if weight <= 0.0 {
            continue;
        }
        if point < weight {
            return Some(i);
        }
        point -= weight;
        last = Some(i);
    }
    // Rounding left the point past the end: the last deployment with a weight.
    last
}

/// `draw` as a number in [0, 1).
fn unit(draw: u64) -> f64 {
    (draw >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployments::rng::Rng;

    fn weight(w: f64) -> Weights {
        Weights {
            weight: Some(w),
            ..Weights::default()
        }
    }

    fn rpm(r: u64) -> Weights {
        Weights {
            rpm: Some(r),
            ..Weights::default()
        }
    }

    /// How often each deployment is picked in `n` picks with a fixed seed.
    fn counts(weights: &[Weights], available: impl Fn(usize) -> bool, n: usize) -> Vec<usize> {
        let rng = Rng::new(7);
        let mut counts = vec![0; weights.len()];
        for _ in 0..n {
            counts[pick(weights, &available, rng.next()).unwrap()] += 1;
        }
        counts
    }

    #[test]
    fn a_one_to_nine_weight_pair_ends_near_one_to_nine() {
        let counts = counts(&[weight(1.0), weight(9.0)], |_| true, 500);
        assert!((30..=70).contains(&counts[0]), "{counts:?}");
        assert_eq!(counts[0] + counts[1], 500);
    }

    #[test]
    fn without_weights_each_deployment_is_as_likely() {
        let counts = counts(&[Weights::default(); 3], |_| true, 600);
        assert!(
            counts.iter().all(|&c| (150..=250).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn rpm_weighs_when_there_is_no_weight() {
        let counts = counts(&[rpm(100), rpm(300)], |_| true, 400);
        assert!((60..=140).contains(&counts[0]), "{counts:?}");
    }

    #[test]
    fn the_first_available_deployment_decides_the_key() {
        // The first gives a weight, so the second's rpm counts for nothing.
        assert_eq!(counts(&[weight(1.0), rpm(1000)], |_| true, 100), [100, 0]);
        // With the first left out, rpm is the key.
        let weights = [weight(1.0), rpm(1000), rpm(1000)];
        let counts = counts(&weights, |i| i != 0, 200);
        assert_eq!(counts[0], 0);
        assert!(counts[1] > 50 && counts[2] > 50, "{counts:?}");
    }

    #[test]
    fn a_zero_weight_is_never_picked_unless_all_are_zero() {
        assert_eq!(counts(&[weight(0.0), weight(2.0)], |_| true, 100), [0, 100]);
        let counts = counts(&[weight(0.0), weight(0.0)], |_| true, 200);
        assert!(counts[0] > 50 && counts[1] > 50, "{counts:?}");
    }

    #[test]
    fn deployments_not_available_are_skipped_and_none_is_none() {
        assert_eq!(counts(&[weight(9.0), weight(1.0)], |i| i == 1, 50), [0, 50]);
        assert_eq!(pick(&[weight(1.0)], |_| false, 0), None);
        assert_eq!(
            pick(&[weight(1.0), weight(1.0)], |_| true, u64::MAX),
            Some(1)
        );
    }
}

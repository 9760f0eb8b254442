//! Out-of-scope detection compared on one set of sentence vectors (CLINC150): the classifier's
//! explicit out-of-scope class against a Mahalanobis distance gate (class means of the in-scope
//! training data, one shared covariance), each with Larson et al.'s metrics (in-scope accuracy,
//! out-of-scope recall) and the AUROC of its out-of-scope score.
use serde::Serialize;

use crate::nlu::Embeddings;

/// One method's results on the test split.
#[derive(Debug, Clone, Serialize)]
pub struct OosResult {
    pub method: String,
    /// In-scope test examples answered with their gold intent (a rejection is wrong).
    pub in_scope_accuracy: f32,
    /// Out-of-scope test examples rejected.
    pub oos_recall: f32,
    /// Probability that an out-of-scope example scores above an in-scope one.
    pub auroc: f32,
}

/// AUROC of `scores` (higher = more out of scope) against `is_oos`, ties counted half.
pub fn auroc(scores: &[f32], is_oos: &[bool]) -> f32 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Mann–Whitney U from mid-ranks.
    let mut ranks = vec![0f64; scores.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = mid;
        }
        i = j + 1;
    }
    let pos = is_oos.iter().filter(|&&o| o).count() as f64;
    let neg = is_oos.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return f32::NAN;
    }
    let rank_sum: f64 = ranks
        .iter()
        .zip(is_oos)
        .filter(|(_, &o)| o)
        .map(|(r, _)| r)
        .sum();
    ((rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)) as f32
}

/// Mahalanobis distance to the nearest in-scope class mean, with one shared covariance.
pub struct MahalanobisGate {
    /// `P μ_c` per class, `P` the inverse of the shared covariance (shrunk towards a multiple of
    /// the identity).
    p_means: Vec<Vec<f64>>,
    /// `μ_cᵀ P μ_c` per class.
    m_terms: Vec<f64>,
    precision: Vec<f64>,
    dim: usize,
}

impl MahalanobisGate {
    /// Fits on the in-scope rows of `x` (`labels[i]` = intent, None = out of scope, ignored).
    pub fn fit(x: &Embeddings, labels: &[Option<usize>], n_intents: usize) -> Option<Self> {
        let d = x.dim;
        let mut sums = vec![vec![0f64; d]; n_intents];
        let mut counts = vec![0usize; n_intents];
        for (i, l) in labels.iter().enumerate() {
            if let Some(c) = *l {
                counts[c] += 1;
                for (s, v) in sums[c].iter_mut().zip(x.row(i)) {
                    *s += f64::from(*v);
                }
            }
        }
        let means: Vec<Vec<f64>> = sums
            .into_iter()
            .zip(&counts)
            .map(|(s, &n)| s.into_iter().map(|v| v / n.max(1) as f64).collect())
            .collect();
        let mut cov = vec![0f64; d * d];
        let mut n = 0usize;
        for (i, l) in labels.iter().enumerate() {
            let Some(c) = *l else { continue };
            n += 1;
            let r: Vec<f64> = x
                .row(i)
                .iter()
                .zip(&means[c])
                .map(|(v, m)| f64::from(*v) - m)
                .collect();
            for a in 0..d {
                for b in a..d {
                    cov[a * d + b] += r[a] * r[b];
                }
            }
        }
        if n < 2 {
            return None;
        }
        let trace: f64 = (0..d).map(|a| cov[a * d + a]).sum::<f64>() / n as f64 / d as f64;
        for a in 0..d {
            for b in a..d {
                let v = cov[a * d + b] / n as f64;
                cov[a * d + b] = v;
                cov[b * d + a] = v;
            }
            // A little shrinkage keeps the inverse stable with few examples per dimension.
            cov[a * d + a] += 0.01 * trace.max(1e-12);
        }
        let precision = invert(cov, d)?;
        let p_means: Vec<Vec<f64>> = means.iter().map(|m| mat_vec(&precision, m, d)).collect();
        let m_terms = means
            .iter()
            .zip(&p_means)
            .map(|(m, pm)| m.iter().zip(pm).map(|(a, b)| a * b).sum())
            .collect();
        Some(Self {
            p_means,
            m_terms,
            precision,
            dim: d,
        })
    }

    /// Distance² from `v` to the nearest class mean (higher = more out of scope):
    /// `vᵀPv − 2 vᵀPμ_c + μ_cᵀPμ_c`, minimised over the classes.
    pub fn score(&self, v: &[f32]) -> f32 {
        let x: Vec<f64> = v.iter().map(|&a| f64::from(a)).collect();
        let px = mat_vec(&self.precision, &x, self.dim);
        let xpx: f64 = x.iter().zip(&px).map(|(a, b)| a * b).sum();
        let best = self
            .p_means
            .iter()
            .zip(&self.m_terms)
            .map(|(pm, mt)| xpx - 2.0 * x.iter().zip(pm).map(|(a, b)| a * b).sum::<f64>() + mt)
            .fold(f64::INFINITY, f64::min);
        best as f32
    }
}

fn mat_vec(m: &[f64], v: &[f64], d: usize) -> Vec<f64> {
    (0..d)
        .map(|a| {
            m[a * d..(a + 1) * d]
                .iter()
                .zip(v)
                .map(|(p, x)| p * x)
                .sum()
        })
        .collect()
}

/// Inverse of a symmetric positive-definite matrix by Gauss–Jordan elimination with pivoting.
fn invert(mut a: Vec<f64>, d: usize) -> Option<Vec<f64>> {
    let mut inv = vec![0f64; d * d];
    for i in 0..d {
        inv[i * d + i] = 1.0;
    }
    for col in 0..d {
        let pivot =
            (col..d).max_by(|&x, &y| a[x * d + col].abs().total_cmp(&a[y * d + col].abs()))?;
        if a[pivot * d + col].abs() < 1e-300 {
            return None;
        }
        for k in 0..d {
            a.swap(col * d + k, pivot * d + k);
            inv.swap(col * d + k, pivot * d + k);
        }
        let p = a[col * d + col];
        for k in 0..d {
            a[col * d + k] /= p;
            inv[col * d + k] /= p;
        }
        for row in 0..d {
            if row != col {
                let f = a[row * d + col];
                if f != 0.0 {
                    for k in 0..d {
                        a[row * d + k] -= f * a[col * d + k];
                        inv[row * d + k] -= f * inv[col * d + k];
                    }
                }
            }
        }
    }
    Some(inv)
}

/// Larson's metrics of a gate: `predicted[i]` is the intent answered when not rejected;
/// `rejected[i]` whether the gate rejects it.
pub fn larson(predicted: &[usize], rejected: &[bool], gold: &[Option<usize>]) -> (f32, f32) {
    let (mut in_n, mut in_ok, mut oos_n, mut oos_ok) = (0usize, 0usize, 0usize, 0usize);
    for ((p, r), g) in predicted.iter().zip(rejected).zip(gold) {
        match g {
            Some(g) => {
                in_n += 1;
                in_ok += usize::from(!r && p == g);
            }
            None => {
                oos_n += 1;
                oos_ok += usize::from(*r);
            }
        }
    }
    (
        in_ok as f32 / in_n.max(1) as f32,
        oos_ok as f32 / oos_n.max(1) as f32,
    )
}

/// The threshold on `scores` (reject when above) maximising the mean of in-scope accuracy and
/// out-of-scope recall on held-out data.
pub fn choose_threshold(scores: &[f32], predicted: &[usize], gold: &[Option<usize>]) -> f32 {
    let mut candidates: Vec<f32> = scores.to_vec();
    candidates.sort_by(f32::total_cmp);
    candidates.dedup();
    let mut best = (f32::NEG_INFINITY, f32::INFINITY);
    for t in candidates {
        let rejected: Vec<bool> = scores.iter().map(|&s| s > t).collect();
        let (acc, rec) = larson(predicted, &rejected, gold);
        let value = acc + rec;
        if value > best.0 {
            best = (value, t);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auroc_of_perfect_random_and_inverted_scores() {
        let oos = [false, false, true, true];
        assert_eq!(auroc(&[0.1, 0.2, 0.8, 0.9], &oos), 1.0);
        assert_eq!(auroc(&[0.9, 0.8, 0.2, 0.1], &oos), 0.0);
        assert_eq!(auroc(&[0.5, 0.5, 0.5, 0.5], &oos), 0.5);
        assert_eq!(auroc(&[0.1, 0.8, 0.2, 0.9], &oos), 0.75);
    }

    #[test]
    fn mahalanobis_gate_scores_far_points_higher() {
        // Two tight classes in 3-d; a point between them and one far away.
        let mut x = Embeddings::new(3);
        let mut labels = Vec::new();
        for i in 0..40 {
            let j = (i % 7) as f32 * 0.01;
            x.push(&[1.0 + j, 0.0 - j, 0.02 * (i % 3) as f32]);
            labels.push(Some(0));
            x.push(&[0.0 + j, 1.0 - j, 0.02 * (i % 5) as f32]);
            labels.push(Some(1));
        }
        let gate = MahalanobisGate::fit(&x, &labels, 2).expect("gate");
        let near = gate.score(&[1.02, -0.02, 0.02]);
        let far = gate.score(&[0.0, 0.0, 3.0]);
        assert!(far > 10.0 * near, "near {near}, far {far}");
        let t = choose_threshold(&[near, far], &[0, 0], &[Some(0), None]);
        assert!(near <= t && t < far);
    }

    #[test]
    fn larson_counts_rejections_as_in_scope_errors() {
        let gold = [Some(0), Some(1), None, None];
        let (acc, rec) = larson(&[0, 1, 0, 0], &[false, true, true, false], &gold);
        assert_eq!((acc, rec), (0.5, 0.5));
    }
}

//! Nearest-neighbour similarity to the training examples: an out-of-scope signal that does not rely
//! on the softmax (which is confidently wrong far from the training data).
use std::path::Path;

use candle_core::{Device, Tensor};

use super::encoder::Embeddings;
use super::error::NluError;

#[derive(Debug, Clone)]
pub struct NeighbourIndex {
    vectors: Embeddings,
}

impl NeighbourIndex {
    /// `vectors` must be L2-normalised (as encoder outputs are).
    pub fn new(vectors: Embeddings) -> Self {
        Self { vectors }
    }

    /// Cosine similarity of `query` to its nearest stored vector (−1 when the index is empty).
    pub fn max_similarity(&self, query: &[f32]) -> f32 {
        (0..self.vectors.len())
            .map(|i| dot(self.vectors.row(i), query))
            .fold(-1.0, f32::max)
    }

    /// [`NeighbourIndex::max_similarity`] of several queries in one sweep: each stored vector is
    /// read once for all of them (the index of the default catalog is ~6 MB, more than the
    /// core's cache, so one sweep per message was bound by memory).
    pub fn max_similarities(&self, queries: &[&[f32]]) -> Vec<f32> {
        let mut best = vec![-1.0f32; queries.len()];
        for i in 0..self.vectors.len() {
            let row = self.vectors.row(i);
            for (best, query) in best.iter_mut().zip(queries) {
                *best = best.max(dot(row, query));
            }
        }
        best
    }

    pub fn save(&self, path: &Path) -> Result<(), NluError> {
        let t = Tensor::from_vec(
            self.vectors.data.clone(),
            (self.vectors.len(), self.vectors.dim),
            &Device::Cpu,
        )?;
        candle_core::safetensors::save(&[("vectors", t)].into_iter().collect(), path)?;
        Ok(())
    }

    pub fn load(path: &Path) -> Result<Self, NluError> {
        let tensors = candle_core::safetensors::load(path, &Device::Cpu)
            .map_err(|e| NluError::bad_file(path, e))?;
        let t = tensors
            .get("vectors")
            .ok_or_else(|| NluError::bad_file(path, "missing tensor vectors"))?;
        let (_, dim) = t.dims2()?;
        Ok(Self::new(Embeddings {
            dim,
            data: t.flatten_all()?.to_vec1()?,
        }))
    }
}

/// Sixteen partial sums, so the compiler vectorises it (an ordered sum would not): every
/// message is compared with every training example, which made this the hot loop of `classify`.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for (acc, (x, y)) in acc.iter_mut().zip(x.iter().zip(y)) {
            *acc += x * y;
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_is_the_closest_vector() {
        let mut e = Embeddings::new(2);
        e.push(&[1.0, 0.0]);
        e.push(&[0.0, 1.0]);
        let idx = NeighbourIndex::new(e);
        assert!((idx.max_similarity(&[0.6, 0.8]) - 0.8).abs() < 1e-6);
        assert_eq!(
            NeighbourIndex::new(Embeddings::new(2)).max_similarity(&[1.0, 0.0]),
            -1.0
        );
    }

    #[test]
    fn one_sweep_gives_each_query_its_own_nearest_similarity() {
        let mut e = Embeddings::new(3);
        for i in 0..40 {
            let a = i as f32 * 0.15;
            e.push(&[a.cos(), a.sin(), 0.0]);
        }
        let idx = NeighbourIndex::new(e);
        let queries: [&[f32]; 3] = [&[0.6, 0.8, 0.0], &[0.0, 0.0, 1.0], &[-1.0, 0.0, 0.0]];
        let swept = idx.max_similarities(&queries);
        for (q, got) in queries.iter().zip(&swept) {
            assert_eq!(*got, idx.max_similarity(q));
        }
        assert!(idx.max_similarities(&[]).is_empty());
    }
}

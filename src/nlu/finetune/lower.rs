//! The frozen lower layers' output, computed once per text: an epoch of fine-tuning then runs only
//! the trainable top layers. Kept in memory (`tokens × hidden` floats per text).
use std::time::Instant;

use candle_core::{Device, Tensor};

use crate::nlu::bert::FastBert;
use crate::nlu::encoder::{masked_mean_l2, BertEncoder, Embeddings};
use crate::nlu::NluError;

/// Texts per forward pass when filling the cache (length-sorted, so little padding).
const PASS_TEXTS: usize = 32;

/// Hidden states after layer `layer` of each text, unpadded.
pub struct LowerStates {
    pub layer: usize,
    pub dim: usize,
    states: Vec<Vec<f32>>,
    lens: Vec<usize>,
    /// Seconds the frozen layers took.
    pub seconds: f64,
}

impl LowerStates {
    /// Runs `encoder`'s embeddings and layers `0..layer` over every text.
    pub fn compute(encoder: &BertEncoder, texts: &[&str], layer: usize) -> Result<Self, NluError> {
        let t0 = Instant::now();
        let ids = encoder.tokens(texts)?;
        let dim = crate::nlu::Encoder::dim(encoder);
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| ids[i].len());
        let mut states = vec![Vec::new(); ids.len()];
        let pad = encoder.pad_id();
        for chunk in order.chunks(PASS_TEXTS) {
            let rows: Vec<&[u32]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
            let (ids_t, mask_t, max_len) = pad_ids(&rows, pad)?;
            let hidden = encoder.bert().forward_until(&ids_t, &mask_t, layer)?;
            let flat: Vec<f32> = hidden.flatten_all()?.to_vec1()?;
            for (k, &i) in chunk.iter().enumerate() {
                let start = k * max_len * dim;
                states[i] = flat[start..start + rows[k].len() * dim].to_vec();
            }
        }
        let lens = ids.iter().map(Vec::len).collect();
        Ok(Self {
            layer,
            dim,
            states,
            lens,
            seconds: t0.elapsed().as_secs_f64(),
        })
    }

    pub fn len(&self) -> usize {
        self.lens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    /// Tokens of text `i`.
    pub fn tokens(&self, i: usize) -> usize {
        self.lens[i]
    }

    /// A padded batch of texts `idx`: hidden states `[b, len, dim]` and mask `[b, len]` (u32).
    pub fn batch(&self, idx: &[usize]) -> candle_core::Result<(Tensor, Tensor)> {
        let max_len = idx.iter().map(|&i| self.lens[i]).max().unwrap_or(1).max(1);
        let mut x = vec![0f32; idx.len() * max_len * self.dim];
        let mut mask = vec![0u32; idx.len() * max_len];
        for (k, &i) in idx.iter().enumerate() {
            let start = k * max_len * self.dim;
            x[start..start + self.states[i].len()].copy_from_slice(&self.states[i]);
            mask[k * max_len..k * max_len + self.lens[i]].fill(1);
        }
        let cpu = &Device::Cpu;
        Ok((
            Tensor::from_vec(x, (idx.len(), max_len, self.dim), cpu)?,
            Tensor::from_vec(mask, (idx.len(), max_len), cpu)?,
        ))
    }

    /// Sentence embeddings of texts `idx` through `bert`'s layers from `self.layer` on (the fast
    /// kernels: the numbers the service computes), pooled and normalised as the encoder does.
    pub fn embed_with(&self, bert: &FastBert, idx: &[usize]) -> Result<Embeddings, NluError> {
        let mut order: Vec<usize> = idx.to_vec();
        order.sort_by_key(|&i| self.lens[i]);
        let mut rows: std::collections::HashMap<usize, Vec<f32>> = Default::default();
        for chunk in order.chunks(PASS_TEXTS) {
            let (x, mask) = self.batch(chunk)?;
            let hidden = bert.forward_from(self.layer, &x, &mask)?;
            let pooled: Vec<Vec<f32>> = masked_mean_l2(&hidden, &mask)?.to_vec2()?;
            for (&i, row) in chunk.iter().zip(pooled) {
                rows.insert(i, row);
            }
        }
        let mut out = Embeddings::new(self.dim);
        for i in idx {
            out.push(&rows[i]);
        }
        Ok(out)
    }
}

/// Pads token id rows into `[b, max_len]` ids and mask tensors.
fn pad_ids(rows: &[&[u32]], pad: u32) -> candle_core::Result<(Tensor, Tensor, usize)> {
    let max_len = rows.iter().map(|r| r.len()).max().unwrap_or(1).max(1);
    let mut ids = Vec::with_capacity(rows.len() * max_len);
    let mut mask = Vec::with_capacity(rows.len() * max_len);
    for r in rows {
        ids.extend_from_slice(r);
        ids.extend(std::iter::repeat_n(pad, max_len - r.len()));
        mask.extend(std::iter::repeat_n(1u32, r.len()));
        mask.extend(std::iter::repeat_n(0u32, max_len - r.len()));
    }
    let shape = (rows.len(), max_len);
    Ok((
        Tensor::from_vec(ids, shape, &Device::Cpu)?,
        Tensor::from_vec(mask, shape, &Device::Cpu)?,
        max_len,
    ))
}

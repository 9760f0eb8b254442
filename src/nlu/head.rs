//! The intent head: a small classifier over sentence embeddings, trained with candle-nn.
//!
//! Features are standardised (e5 vectors are anisotropic: every pair has cosine ≈ 0.8, so a linear
//! model on raw vectors learns slowly), then a linear layer — or one hidden GELU layer — gives one
//! logit per class. Training uses class-balanced cross-entropy and AdamW. Inference is plain Rust:
//! for one message it is a few thousand multiply-adds, far below the cost of a tensor dispatch.
use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::encoder::Embeddings;
use super::error::NluError;

/// How to train a [`Head`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeadConfig {
    /// Width of the hidden layer; `None` trains a linear (multinomial logistic) model.
    pub hidden: Option<usize>,
    pub epochs: usize,
    /// At least this many optimiser steps, however small the data (tiny catalogs need them).
    pub min_steps: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// Examples per optimiser step.
    pub batch_size: usize,
    /// Label smoothing keeps probabilities from saturating, which helps calibration.
    pub label_smoothing: f64,
    pub seed: u64,
}

impl Default for HeadConfig {
    fn default() -> Self {
        Self {
            hidden: None,
            epochs: 30,
            min_steps: 400,
            learning_rate: 3e-3,
            weight_decay: 1e-2,
            batch_size: 256,
            label_smoothing: 0.05,
            seed: 17,
        }
    }
}

/// A trained classifier over embeddings: standardisation + one or two dense layers.
#[derive(Debug, Clone)]
pub struct Head {
    pub dim: usize,
    pub n_classes: usize,
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    /// Dense layers, each (weight `[out, in]` row-major, bias `[out]`, out, in).
    layers: Vec<Dense>,
}

#[derive(Debug, Clone)]
struct Dense {
    weight: Vec<f32>,
    bias: Vec<f32>,
    n_out: usize,
    n_in: usize,
}

impl Dense {
    fn apply(&self, x: &[f32], out: &mut Vec<f32>) {
        out.clear();
        for o in 0..self.n_out {
            let w = &self.weight[o * self.n_in..(o + 1) * self.n_in];
            let dot: f32 = w.iter().zip(x).map(|(a, b)| a * b).sum();
            out.push(dot + self.bias[o]);
        }
    }
}

impl Head {
    /// Trains on `x` (one row per example) with labels `y` in `0..n_classes`.
    pub fn fit(
        x: &Embeddings,
        y: &[usize],
        n_classes: usize,
        config: &HeadConfig,
    ) -> Result<Self, NluError> {
        check_labels(x, y, n_classes)?;
        let dim = x.dim;
        let (mean, inv_std) = standardisation(x);
        let xs = Tensor::from_vec(
            standardise_all(x, &mean, &inv_std),
            (y.len(), dim),
            &Device::Cpu,
        )?;
        let class_weight = class_weights(y, n_classes);
        let example_weight: Vec<f32> = y.iter().map(|&l| class_weight[l]).collect();
        // One generator, first for the initial weights, then for the batch order.
        let mut rng = StdRng::seed_from_u64(config.seed);
        let Params {
            vars: params,
            shapes,
        } = init_params(dim, n_classes, config, &mut rng)?;
        let data = TrainingData {
            xs,
            ys: y.iter().map(|&l| l as u32).collect(),
            example_weight,
        };
        train(&params, &data, config, &mut rng)?;
        let layers = params
            .chunks(2)
            .zip(&shapes)
            .map(|(pair, &(n_out, n_in))| {
                Ok(Dense {
                    weight: pair[0].as_tensor().flatten_all()?.to_vec1()?,
                    bias: pair[1].as_tensor().to_vec1()?,
                    n_out,
                    n_in,
                })
            })
            .collect::<Result<Vec<_>, NluError>>()?;
        Ok(Self {
            dim,
            n_classes,
            mean,
            inv_std,
            layers,
        })
    }

    /// Raw logits for one embedding.
    pub fn logits(&self, embedding: &[f32]) -> Vec<f32> {
        let mut x: Vec<f32> = embedding
            .iter()
            .zip(&self.mean)
            .zip(&self.inv_std)
            .map(|((v, m), s)| (v - m) * s)
            .collect();
        let mut out = Vec::new();
        let last = self.layers.len().saturating_sub(1);
        for (i, layer) in self.layers.iter().enumerate() {
            layer.apply(&x, &mut out);
            if i < last {
                out.iter_mut().for_each(|v| *v = gelu(*v));
            }
            std::mem::swap(&mut x, &mut out);
        }
        x
    }

    /// Saves as safetensors (`mean`, `inv_std`, `layer{i}.weight`, `layer{i}.bias`).
    pub fn save(&self, path: &Path) -> Result<(), NluError> {
        let dev = Device::Cpu;
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        tensors.insert("mean".into(), Tensor::new(self.mean.as_slice(), &dev)?);
        tensors.insert(
            "inv_std".into(),
            Tensor::new(self.inv_std.as_slice(), &dev)?,
        );
        for (i, l) in self.layers.iter().enumerate() {
            tensors.insert(
                format!("layer{i}.weight"),
                Tensor::from_vec(l.weight.clone(), (l.n_out, l.n_in), &dev)?,
            );
            tensors.insert(
                format!("layer{i}.bias"),
                Tensor::new(l.bias.as_slice(), &dev)?,
            );
        }
        candle_core::safetensors::save(&tensors, path)?;
        Ok(())
    }

    pub fn load(path: &Path) -> Result<Self, NluError> {
        let tensors = candle_core::safetensors::load(path, &Device::Cpu)
            .map_err(|e| NluError::bad_file(path, e))?;
        let get = |name: &str| -> Result<&Tensor, NluError> {
            tensors
                .get(name)
                .ok_or_else(|| NluError::bad_file(path, format!("missing tensor {name}")))
        };
        let mean: Vec<f32> = get("mean")?.to_vec1()?;
        let inv_std: Vec<f32> = get("inv_std")?.to_vec1()?;
        let mut layers = Vec::new();
        let mut expected_in = mean.len();
        while let Ok(w) = get(&format!("layer{}.weight", layers.len())) {
            let (n_out, n_in) = w.dims2()?;
            let bias: Vec<f32> = get(&format!("layer{}.bias", layers.len()))?.to_vec1()?;
            if n_in != expected_in || bias.len() != n_out {
                return Err(NluError::bad_file(path, "layer shapes do not chain"));
            }
            layers.push(Dense {
                weight: w.flatten_all()?.to_vec1()?,
                bias,
                n_out,
                n_in,
            });
            expected_in = n_out;
        }
        if layers.is_empty() || inv_std.len() != mean.len() {
            return Err(NluError::bad_file(path, "no layers in the head"));
        }
        Ok(Self {
            dim: mean.len(),
            n_classes: expected_in,
            mean,
            inv_std,
            layers,
        })
    }
}

/// As many labels as examples, at least one, each in `0..n_classes`.
fn check_labels(x: &Embeddings, y: &[usize], n_classes: usize) -> Result<(), NluError> {
    if x.len() != y.len() || x.is_empty() {
        return Err(NluError::Training(format!(
            "{} examples but {} labels",
            x.len(),
            y.len()
        )));
    }
    if let Some(&bad) = y.iter().find(|&&l| l >= n_classes) {
        return Err(NluError::Training(format!(
            "label {bad} out of range for {n_classes} classes"
        )));
    }
    Ok(())
}

/// Class-balanced weights: every class present contributes equally to the loss.
fn class_weights(y: &[usize], n_classes: usize) -> Vec<f32> {
    let mut counts = vec![0usize; n_classes];
    for &l in y {
        counts[l] += 1;
    }
    let present = counts.iter().filter(|&&c| c > 0).count().max(1);
    counts
        .iter()
        .map(|&c| {
            if c == 0 {
                0.0
            } else {
                y.len() as f32 / (present as f32 * c as f32)
            }
        })
        .collect()
}

/// The trainable weights and biases, layer by layer, with the `(n_out, n_in)` shape of each layer.
struct Params {
    vars: Vec<Var>,
    shapes: Vec<(usize, usize)>,
}

/// Uniform(±1/√n_in) weights and zero biases for the hidden layers and the output layer, with
/// the `(n_out, n_in)` shape of each layer.
fn init_params(
    dim: usize,
    n_classes: usize,
    config: &HeadConfig,
    rng: &mut StdRng,
) -> Result<Params, NluError> {
    let dev = Device::Cpu;
    let mut params = Vec::new();
    let mut shapes = Vec::new();
    let mut n_in = dim;
    for n_out in config.hidden.into_iter().chain(std::iter::once(n_classes)) {
        let bound = (1.0 / n_in as f64).sqrt();
        let w: Vec<f32> = (0..n_out * n_in)
            .map(|_| rand::Rng::random_range(rng, -bound..bound) as f32)
            .collect();
        params.push(Var::from_tensor(&Tensor::from_vec(
            w,
            (n_out, n_in),
            &dev,
        )?)?);
        params.push(Var::from_tensor(&Tensor::zeros(n_out, DType::F32, &dev)?)?);
        shapes.push((n_out, n_in));
        n_in = n_out;
    }
    Ok(Params {
        vars: params,
        shapes,
    })
}

/// The standardised examples, their labels and their loss weights.
struct TrainingData {
    xs: Tensor,
    ys: Vec<u32>,
    example_weight: Vec<f32>,
}

/// AdamW over shuffled mini-batches: `config.epochs`, or more to reach `config.min_steps`.
fn train(
    params: &[Var],
    data: &TrainingData,
    config: &HeadConfig,
    rng: &mut StdRng,
) -> Result<(), NluError> {
    let mut opt = AdamW::new(
        params.to_vec(),
        ParamsAdamW {
            lr: config.learning_rate,
            weight_decay: config.weight_decay,
            ..Default::default()
        },
    )?;
    let n = data.ys.len();
    let batch = config.batch_size.clamp(1, n);
    let mut order: Vec<usize> = (0..n).collect();
    let steps_per_epoch = n.div_ceil(batch);
    let epochs = config
        .epochs
        .max(config.min_steps.div_ceil(steps_per_epoch));
    for _ in 0..epochs {
        rand::seq::SliceRandom::shuffle(order.as_mut_slice(), rng);
        for chunk in order.chunks(batch) {
            let loss = batch_loss(params, data, chunk, config.label_smoothing)?;
            opt.backward_step(&loss)?;
        }
    }
    Ok(())
}

/// The class-weighted, label-smoothed cross-entropy of the examples `chunk`.
fn batch_loss(
    params: &[Var],
    data: &TrainingData,
    chunk: &[usize],
    smoothing: f64,
) -> Result<Tensor, NluError> {
    let dev = Device::Cpu;
    let column = |values: Vec<_>| Tensor::from_vec(values, chunk.len(), &dev);
    let idx = column(chunk.iter().map(|&i| i as u32).collect::<Vec<_>>())?;
    let xb = data.xs.index_select(&idx, 0)?;
    let yb = column(chunk.iter().map(|&i| data.ys[i]).collect::<Vec<_>>())?;
    let wb = Tensor::from_vec(
        chunk
            .iter()
            .map(|&i| data.example_weight[i])
            .collect::<Vec<_>>(),
        chunk.len(),
        &dev,
    )?;
    let logits = forward_train(params, &xb)?;
    let log_p = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
    let picked = log_p.gather(&yb.unsqueeze(1)?, 1)?.squeeze(1)?;
    let uniform = log_p.mean(D::Minus1)?;
    let per_example = ((picked * (1.0 - smoothing))? + (uniform * smoothing)?)?;
    let loss =
        (per_example.mul(&wb)?.sum_all()?.neg()? / wb.sum_all()?.to_scalar::<f32>()? as f64)?;
    Ok(loss)
}

fn forward_train(params: &[Var], x: &Tensor) -> candle_core::Result<Tensor> {
    let mut h = x.clone();
    let n_layers = params.len() / 2;
    for (i, pair) in params.chunks(2).enumerate() {
        h = h
            .matmul(&pair[0].as_tensor().t()?)?
            .broadcast_add(pair[1].as_tensor())?;
        if i + 1 < n_layers {
            h = h.gelu_erf()?;
        }
    }
    Ok(h)
}

fn standardisation(x: &Embeddings) -> (Vec<f32>, Vec<f32>) {
    let n = x.len() as f32;
    let mut mean = vec![0f32; x.dim];
    for i in 0..x.len() {
        for (m, v) in mean.iter_mut().zip(x.row(i)) {
            *m += v / n;
        }
    }
    let mut var = vec![0f32; x.dim];
    for i in 0..x.len() {
        for ((s, v), m) in var.iter_mut().zip(x.row(i)).zip(&mean) {
            *s += (v - m) * (v - m) / n;
        }
    }
    let inv_std = var.iter().map(|v| 1.0 / (v.sqrt() + 1e-6)).collect();
    (mean, inv_std)
}

fn standardise_all(x: &Embeddings, mean: &[f32], inv_std: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.data.len());
    for i in 0..x.len() {
        out.extend(
            x.row(i)
                .iter()
                .zip(mean)
                .zip(inv_std)
                .map(|((v, m), s)| (v - m) * s),
        );
    }
    out
}

fn gelu(x: f32) -> f32 {
    // tanh approximation; matches gelu_erf to ~1e-3, the head is small and trained either way
    0.5 * x * (1.0 + ((2.0 / std::f32::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
}

/// Softmax with temperature.
pub fn softmax(logits: &[f32], temperature: f32) -> Vec<f32> {
    let t = temperature.max(1e-3);
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|l| ((l - max) / t).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs() -> (Embeddings, Vec<usize>) {
        // three well separated clusters in 8 dimensions
        let mut x = Embeddings::new(8);
        let mut y = Vec::new();
        let mut rng = StdRng::seed_from_u64(1);
        for i in 0..90 {
            let class = i % 3;
            let row: Vec<f32> = (0..8)
                .map(|d| {
                    let centre = if d == class { 1.0 } else { 0.0 };
                    centre + rand::Rng::random_range(&mut rng, -0.2..0.2)
                })
                .collect();
            x.push(&row);
            y.push(class);
        }
        (x, y)
    }

    #[test]
    fn linear_head_separates_clusters_and_round_trips() {
        let (x, y) = blobs();
        let head = Head::fit(&x, &y, 3, &HeadConfig::default()).expect("fit");
        let correct = (0..x.len())
            .filter(|&i| {
                let l = head.logits(x.row(i));
                let best = (0..3)
                    .max_by(|&a, &b| l[a].total_cmp(&l[b]))
                    .expect("3 classes");
                best == y[i]
            })
            .count();
        assert_eq!(correct, x.len());
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("head.safetensors");
        head.save(&path).expect("save");
        let loaded = Head::load(&path).expect("load");
        assert_eq!(loaded.logits(x.row(0)), head.logits(x.row(0)));
    }

    #[test]
    fn mlp_head_trains() {
        let (x, y) = blobs();
        let config = HeadConfig {
            hidden: Some(16),
            ..Default::default()
        };
        let head = Head::fit(&x, &y, 3, &config).expect("fit");
        let l = head.logits(x.row(0));
        assert_eq!(l.len(), 3);
        assert!(l[0] > l[1] && l[0] > l[2]);
    }

    #[test]
    fn bad_labels_are_errors_not_panics() {
        let (x, _) = blobs();
        assert!(Head::fit(&x, &[0, 1], 3, &HeadConfig::default()).is_err());
        assert!(Head::fit(&x, &vec![5; 90], 3, &HeadConfig::default()).is_err());
    }

    #[test]
    fn softmax_sums_to_one() {
        let p = softmax(&[1.0, 2.0, 3.0], 1.0);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(p[2] > p[1] && p[1] > p[0]);
    }
}

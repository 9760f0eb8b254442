//! A BERT encoder forward pass tuned for short customer messages on CPU.
//!
//! Same maths as `candle_transformers::models::bert::BertModel` (a test checks they agree), with the
//! changes that matter for 20-token inputs on two cores (measured with `madoguchi bench`):
//! - linear layers use weights packed once at load time for the kernels chosen by CPU features
//!   ([`super::kernels`]): f32 (AVX2/FMA) or int8 (AVX-512 VNNI, AVX2), one panel of output
//!   columns per task of a small persistent thread pool, so one message uses every core;
//! - Q, K and V are one fused matrix (one matmul instead of three), and attention (QKᵀ, softmax,
//!   ·V over all heads) is one pass reading straight from it;
//! - GELU (a vectorisable rational approximation of erf) runs in the first feed-forward matmul's
//!   epilogue, and each residual add is fused with its layer norm;
//! - the layers work in buffers reused from one call to the next: no allocation per layer.
//!
//! - the embeddings (lookup, positions, layer norm) and the layers run on plain buffers, so no
//!   candle operation (and none of the threads candle's CPU backend starts) is on the hot path.
//!
//! candle's GGML-quantised matmuls (q8_0, q4_0) were tried and were 4× slower than the f32 kernel
//! on AVX2 without VNNI; the int8 kernels here quantize activations per row at run time instead.
use std::ops::Range;
use std::sync::Mutex;

use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::Config;

use super::embedding_table::{word_embeddings_name, EmbeddingTable};
use super::kernels::attention::{attention, Heads};
use super::kernels::linear::Scratch;
use super::kernels::norm::LayerNorm;
use super::kernels::{Epilogue, Kernels, Linear, Pool};

/// A linear layer's weights, packed for `kernels`.
fn dense(weight: Tensor, bias: Tensor, kernels: Kernels) -> candle_core::Result<Linear> {
    let (n, k) = weight.dims2()?;
    let w: Vec<f32> = weight.flatten_all()?.to_vec1()?;
    let b: Vec<f32> = bias.to_vec1()?;
    Ok(Linear::new(&w, &b, n, k, kernels))
}

struct Norm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl Norm {
    fn load(vb: VarBuilder, size: usize, eps: f64) -> candle_core::Result<Self> {
        Ok(Self {
            weight: vb.get(size, "weight")?,
            bias: vb.get(size, "bias")?,
            eps: eps as f32,
        })
    }

    /// The same parameters as plain vectors, for the fused residual + layer norm.
    fn to_plain(&self) -> candle_core::Result<LayerNorm> {
        Ok(LayerNorm {
            gamma: self.weight.to_vec1()?,
            beta: self.bias.to_vec1()?,
            eps: self.eps,
        })
    }
}

struct Layer {
    qkv: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// Activations of one forward pass, kept between calls so the layers never allocate.
#[derive(Default)]
struct Buffers {
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    tmp: Vec<f32>,
    ff: Vec<f32>,
    scratch: Scratch,
}

impl Buffers {
    /// Grows the buffers for `tokens` rows (never shrinks them).
    fn reserve(&mut self, tokens: usize, hidden: usize, ff: usize) {
        let grow = |v: &mut Vec<f32>, len: usize| {
            if v.len() < len {
                v.resize(len, 0.0);
            }
        };
        grow(&mut self.qkv, tokens * 3 * hidden);
        grow(&mut self.ctx, tokens * hidden);
        grow(&mut self.tmp, tokens * hidden);
        grow(&mut self.ff, tokens * ff);
    }
}

/// The rows of `b` sequences padded to `len` tokens each.
fn padded(b: usize, len: usize) -> Vec<Range<usize>> {
    (0..b).map(|i| i * len..(i + 1) * len).collect()
}

fn check_mask(mask: &[u32], b: usize, len: usize) -> candle_core::Result<()> {
    if mask.len() != b * len {
        candle_core::bail!("this is a bug: the mask is not {b}×{len}")
    }
    Ok(())
}

/// The encoder: token ids in, last hidden states out.
pub struct FastBert {
    word: EmbeddingTable,
    /// Position embeddings plus the (only) token-type embedding, `[max positions, hidden]`.
    position_and_type: Vec<f32>,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    head_dim: usize,
    intermediate: usize,
    kernels: Kernels,
    pool: Pool,
    buffers: Mutex<Buffers>,
}

impl FastBert {
    /// Loads standard BERT weight names (with or without a `bert.` prefix) with the f32 kernels.
    pub fn load(vb: VarBuilder, config: &Config) -> candle_core::Result<Self> {
        Self::load_with(vb, config, Kernels::f32())
    }

    /// Loads the weights, the word embeddings as exact f32 rows, and packs the linear layers for
    /// `kernels`.
    pub fn load_with(
        vb: VarBuilder,
        config: &Config,
        kernels: Kernels,
    ) -> candle_core::Result<Self> {
        let table = word_embeddings_name(&vb);
        let word =
            EmbeddingTable::exact(&vb.get((config.vocab_size, config.hidden_size), &table)?)?;
        Self::load_with_words(vb, config, word, kernels)
    }

    /// Loads the layers from `vb`, packed for `kernels`, and takes the word embeddings from `word`
    /// (its tensor in `vb` is never read, so a memory-mapped f32 table stays unread).
    pub fn load_with_words(
        vb: VarBuilder,
        config: &Config,
        word: EmbeddingTable,
        kernels: Kernels,
    ) -> candle_core::Result<Self> {
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else {
            vb
        };
        let h = config.hidden_size;
        let e = vb.pp("embeddings");
        if (word.rows(), word.dim()) != (config.vocab_size, h) {
            candle_core::bail!(
                "word embeddings are {}×{}, the config says {}×{h}",
                word.rows(),
                word.dim(),
                config.vocab_size
            )
        }
        let position = e.get(
            (config.max_position_embeddings, h),
            "position_embeddings.weight",
        )?;
        let token_type = e
            .get((config.type_vocab_size, h), "token_type_embeddings.weight")?
            .get(0)?;
        let embedding_norm = Norm::load(e.pp("LayerNorm"), h, config.layer_norm_eps)?.to_plain()?;
        let position_and_type = position
            .broadcast_add(&token_type)?
            .flatten_all()?
            .to_vec1()?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let a = l.pp("attention.self");
            let qkv_w = Tensor::cat(
                &[
                    a.get((h, h), "query.weight")?,
                    a.get((h, h), "key.weight")?,
                    a.get((h, h), "value.weight")?,
                ],
                0,
            )?;
            let qkv_b = Tensor::cat(
                &[
                    a.get(h, "query.bias")?,
                    a.get(h, "key.bias")?,
                    a.get(h, "value.bias")?,
                ],
                0,
            )?;
            let linear = |vb: VarBuilder, n_out: usize, n_in: usize| {
                dense(
                    vb.get((n_out, n_in), "weight")?,
                    vb.get(n_out, "bias")?,
                    kernels,
                )
            };
            let norm = |vb: VarBuilder| Norm::load(vb, h, config.layer_norm_eps)?.to_plain();
            let ff = config.intermediate_size;
            layers.push(Layer {
                qkv: dense(qkv_w, qkv_b, kernels)?,
                attention_out: linear(l.pp("attention.output.dense"), h, h)?,
                attention_norm: norm(l.pp("attention.output.LayerNorm"))?,
                intermediate: linear(l.pp("intermediate.dense"), ff, h)?,
                output: linear(l.pp("output.dense"), h, ff)?,
                output_norm: norm(l.pp("output.LayerNorm"))?,
            });
        }
        Ok(Self {
            word,
            position_and_type,
            embedding_norm,
            layers,
            heads: config.num_attention_heads,
            head_dim: h / config.num_attention_heads,
            intermediate: config.intermediate_size,
            kernels,
            pool: Pool::per_core(),
            buffers: Mutex::new(Buffers::default()),
        })
    }

    /// The kernels this encoder runs.
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// The thread pool the kernels run on (also for other per-text work, such as tokenising).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// `ids` and `mask` are `[batch, len]` (u32); returns hidden states `[batch, len, hidden]`.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_until(ids, mask, self.layers.len())
    }

    /// Number of transformer layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Hidden states `[batch, len, hidden]` after the embeddings and the first `layer` layers
    /// (fine-tuning caches the frozen lower layers' output once per text).
    pub fn forward_until(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        layer: usize,
    ) -> candle_core::Result<Tensor> {
        let (b, len) = ids.dims2()?;
        let ids: Vec<u32> = ids.flatten_all()?.to_vec1()?;
        let mask: Vec<u32> = mask.flatten_all()?.to_vec1()?;
        check_mask(&mask, b, len)?;
        let seqs = padded(b, len);
        let mut x = self.embed(&ids, &seqs)?;
        self.layers_forward(&mut x, &mask, &seqs, 0..layer.min(self.layers.len()));
        Tensor::from_vec(x, (b, len, self.word.dim()), &Device::Cpu)
    }

    /// Runs layers `layer..` on hidden states `[batch, len, hidden]` (from [`Self::forward_until`]).
    pub fn forward_from(
        &self,
        layer: usize,
        hidden: &Tensor,
        mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let (b, len, _) = hidden.dims3()?;
        let mut x: Vec<f32> = hidden.flatten_all()?.to_vec1()?;
        let mask: Vec<u32> = mask.flatten_all()?.to_vec1()?;
        check_mask(&mask, b, len)?;
        let layers = layer.min(self.layers.len())..self.layers.len();
        self.layers_forward(&mut x, &mask, &padded(b, len), layers);
        Tensor::from_vec(x, (b, len, self.word.dim()), &Device::Cpu)
    }

    /// Texts packed one after the other, no padding: `ids` holds `lengths[0]` tokens of the first
    /// text, then the second's, …; returns the hidden states, a row per token (`[Σ lengths,
    /// hidden]`). Each text attends only to its own tokens, so no work is spent on padding.
    pub fn forward_packed(&self, ids: &[u32], lengths: &[usize]) -> candle_core::Result<Vec<f32>> {
        let mut seqs = Vec::with_capacity(lengths.len());
        let mut start = 0;
        for &len in lengths {
            seqs.push(start..start + len);
            start += len;
        }
        if start != ids.len() {
            candle_core::bail!(
                "this is a bug: {} ids for texts of {start} tokens",
                ids.len()
            )
        }
        let mut x = self.embed(ids, &seqs)?;
        self.layers_forward(&mut x, &vec![1; start], &seqs, 0..self.layers.len());
        Ok(x)
    }

    /// Embedding lookup, positions, token type and layer norm: a row of `hidden` floats per id,
    /// positions counted from the start of each sequence.
    fn embed(&self, ids: &[u32], seqs: &[Range<usize>]) -> candle_core::Result<Vec<f32>> {
        let h = self.word.dim();
        let positions = self.position_and_type.len() / h;
        if let Some(long) = seqs.iter().find(|r| r.len() > positions) {
            candle_core::bail!(
                "{} tokens is more than the model's {positions} positions",
                long.len()
            )
        }
        if seqs.iter().any(|r| r.end > ids.len()) {
            candle_core::bail!("this is a bug: a sequence ends past the ids")
        }
        let mut x = self.word.lookup_rows(ids)?;
        // Each sequence gets its position rows added, then the layer norm.
        for r in seqs {
            self.embedding_norm.add_in_place(
                &mut x[r.start * h..r.end * h],
                &self.position_and_type[..r.len() * h],
                self.kernels.isa,
                &self.pool,
            );
        }
        Ok(x)
    }

    /// Runs `layers` on `x` (a row per entry of `mask`; `seqs` the rows that attend to each other)
    /// in place.
    fn layers_forward(
        &self,
        x: &mut [f32],
        mask: &[u32],
        seqs: &[Range<usize>],
        layers: Range<usize>,
    ) {
        let heads = Heads {
            count: self.heads,
            dim: self.head_dim,
        };
        let (t, h) = (mask.len(), self.heads * self.head_dim);
        // A poisoned lock means a forward pass panicked; the buffers are scratch space anyway.
        let mut guard = self.buffers.lock().unwrap_or_else(|e| e.into_inner());
        let buf = &mut *guard;
        buf.reserve(t, h, self.intermediate);
        let (isa, pool) = (self.kernels.isa, &self.pool);
        for l in &self.layers[layers] {
            let (qkv, ctx) = (&mut buf.qkv[..t * 3 * h], &mut buf.ctx[..t * h]);
            let (tmp, ff) = (&mut buf.tmp[..t * h], &mut buf.ff[..t * self.intermediate]);
            l.qkv
                .forward(x, t, qkv, Epilogue::Bias, isa, pool, &mut buf.scratch);
            attention(qkv, mask, seqs, heads, ctx, isa, pool);
            l.attention_out
                .forward(ctx, t, tmp, Epilogue::Bias, isa, pool, &mut buf.scratch);
            l.attention_norm.add_in_place(x, tmp, isa, pool);
            l.intermediate
                .forward(x, t, ff, Epilogue::BiasGelu, isa, pool, &mut buf.scratch);
            l.output
                .forward(ff, t, tmp, Epilogue::Bias, isa, pool, &mut buf.scratch);
            l.output_norm.add_in_place(x, tmp, isa, pool);
        }
    }
}

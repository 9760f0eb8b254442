//! Multi-head self-attention in one pass: for each sequence and head, QKᵀ, the masked softmax and
//! ·V row by row, reading Q, K and V straight from the fused QKV projection and writing each
//! head's context into its columns of the output, with no intermediate tensors. One pool task
//! per (sequence, head). A sequence is any range of rows: padded batches (`len` rows each, the
//! mask marking the padding) and packed ones (each text's own rows, no padding) alike.
//!
//! Padded keys are skipped: the reference adds −10⁹ to their scores, which makes their softmax
//! weight exactly 0 in f32, so skipping them gives the same result with less work.
// Kernel loops index several arrays in step; iterators would hide the register blocking.
#![allow(clippy::needless_range_loop)]
use std::ops::Range;

use super::dispatch::Isa;
use super::epilogue::OutPtr;
use super::pool::Pool;

#[cfg(target_arch = "x86_64")]
mod avx2;

/// The heads of one attention call.
#[derive(Debug, Clone, Copy)]
pub struct Heads {
    pub count: usize,
    pub dim: usize,
}

impl Heads {
    fn hidden(&self) -> usize {
        self.count * self.dim
    }
}

/// The rows of one sequence.
type Rows = Range<usize>;

/// `qkv` is `[t, 3·hidden]` (Q, K, V side by side; head `i` at columns `i·dim..`), `mask` is `[t]`
/// (non-zero = real token), `seqs` the disjoint row ranges that attend to each other; writes
/// `[t, hidden]` into `ctx` (the rows of `seqs`).
pub fn attention(
    qkv: &[f32],
    mask: &[u32],
    seqs: &[Rows],
    heads: Heads,
    ctx: &mut [f32],
    isa: Isa,
    pool: &Pool,
) {
    let (t, h) = (mask.len(), heads.hidden());
    assert!(
        qkv.len() >= t * 3 * h
            && ctx.len() >= t * h
            && seqs.iter().all(|r| r.start <= r.end && r.end <= t),
        "this is a bug: attention buffers too small"
    );
    let out = OutPtr(ctx.as_mut_ptr());
    let task = |i: usize| {
        let (rows, head) = (seqs[i / heads.count].clone(), i % heads.count);
        // SAFETY: task (seq, head) writes only that head's columns of that sequence's rows (the
        // sequences are disjoint); AVX2 and FMA are present when `isa` is at least `Avx2`.
        unsafe {
            match isa {
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 | Isa::Avx512Vnni => head_avx2(qkv, mask, heads, rows, head, out),
                _ => head_generic(qkv, mask, heads, rows, head, out),
            }
        }
    };
    let work: usize = seqs.iter().map(|r| r.len() * r.len()).sum::<usize>() * h;
    pool.run_weighted(seqs.len() * heads.count, work, &task);
}

/// The register-blocked kernel for the head widths it is built for (32: e5-small, 64: e5-base),
/// the plain loops otherwise.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn head_avx2(qkv: &[f32], mask: &[u32], heads: Heads, rows: Rows, head: usize, out: OutPtr) {
    if !matches!(heads.dim, 32 | 64) {
        return head_generic(qkv, mask, heads, rows, head, out);
    }
    let mut key_buf = [0usize; STACK_KEYS];
    let mut key_vec = Vec::new();
    let (kept, uniform) = kept_keys(&mask[rows.clone()], rows.start, &mut key_buf, &mut key_vec);
    let view = avx2::HeadView {
        qkv,
        hidden: heads.hidden(),
        head,
        dim: heads.dim,
    };
    if heads.dim == 32 {
        avx2::head::<4>(&view, rows, kept, uniform, out)
    } else {
        avx2::head::<8>(&view, rows, kept, uniform, out)
    }
}

/// The rows (absolute) a sequence's queries attend to: its unpadded ones, or all of them with
/// `true` (uniform weights) when every key is padded, as the reference's −10⁹ scores give.
fn kept_keys<'a>(
    seq_mask: &[u32],
    first: usize,
    stack: &'a mut [usize; STACK_KEYS],
    heap: &'a mut Vec<usize>,
) -> (&'a [usize], bool) {
    let uniform = seq_mask.iter().all(|&m| m == 0);
    let keep = |(j, &m): (usize, &u32)| (uniform || m != 0).then_some(first + j);
    if seq_mask.len() <= STACK_KEYS {
        let mut n = 0;
        for j in seq_mask.iter().enumerate().filter_map(keep) {
            stack[n] = j;
            n += 1;
        }
        (&stack[..n], uniform)
    } else {
        heap.extend(seq_mask.iter().enumerate().filter_map(keep));
        (&heap[..], uniform)
    }
}

/// Key indices (and, in the plain loops, a row of scores) of a sequence kept on the stack;
/// longer sequences use the heap.
const STACK_KEYS: usize = 512;

/// The plain loops: any head width, and the scalar path.
#[inline(always)]
unsafe fn head_generic(
    qkv: &[f32],
    mask: &[u32],
    heads: Heads,
    rows: Rows,
    head: usize,
    out: OutPtr,
) {
    let (h, d) = (heads.hidden(), heads.dim);
    let row = |r: usize, part: usize| {
        let start = r * 3 * h + part * h + head * d;
        &qkv[start..start + d]
    };
    let mut key_buf = [0usize; STACK_KEYS];
    let mut key_vec = Vec::new();
    let (kept, uniform) = kept_keys(&mask[rows.clone()], rows.start, &mut key_buf, &mut key_vec);
    let scale = 1.0 / (d as f32).sqrt();
    let n = kept.len();
    // The head's kept keys transposed, `[d][n]`: a row of scores is then `d` multiply-adds
    // across the keys (no horizontal sums).
    let mut keys_t = vec![0f32; d * n];
    for (col, &j) in kept.iter().enumerate() {
        for (c, &k) in row(j, 1).iter().enumerate() {
            keys_t[c * n + col] = k;
        }
    }
    let mut heap_scores = Vec::new();
    let mut stack_scores = [0f32; STACK_KEYS];
    let scores: &mut [f32] = if n <= STACK_KEYS {
        &mut stack_scores[..n]
    } else {
        heap_scores.resize(n, 0.0);
        &mut heap_scores[..]
    };
    for i in rows {
        scores.fill(0.0);
        if !uniform {
            for (c, &q) in row(i, 0).iter().enumerate() {
                let (q, keys) = (q * scale, &keys_t[c * n..(c + 1) * n]);
                for (sc, &k) in scores.iter_mut().zip(keys) {
                    *sc += q * k;
                }
            }
        }
        let max = scores.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        // Two loops: the exponentials vectorise only without the (ordered) sum beside them.
        for sc in scores.iter_mut() {
            *sc = exp(*sc - max);
        }
        let sum: f32 = scores.iter().sum();
        let inv = 1.0 / sum;
        let dst = std::slice::from_raw_parts_mut(out.0.add(i * h + head * d), d);
        dst.fill(0.0);
        for (&p, &j) in scores.iter().zip(kept) {
            let (w, v) = (p * inv, row(j, 2));
            for (o, &x) in dst.iter_mut().zip(v) {
                *o += w * x;
            }
        }
    }
}

/// `eˣ` for `x ≤ 0` (softmax), relative error < 2·10⁻⁷, written so the compiler vectorises it:
/// `2ⁿ · p(r)` with `x = n·ln2 + r`, `|r| ≤ ln2/2`, `p` the degree-7 Taylor polynomial.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E).round_ties_even();
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    f32::from_bits(((n as i32 + 127) << 23) as u32) * p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_is_accurate() {
        let mut worst = 0f64;
        for i in 0..=87_000 {
            let x = -(i as f32) / 1000.0;
            let (got, want) = (exp(x) as f64, (x as f64).exp());
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 3e-7, "relative error {worst}");
    }

    /// Softmax(Q Kᵀ / √d + mask) V per head, written the obvious way.
    fn naive(qkv: &[f32], mask: &[u32], seqs: &[Rows], heads: Heads) -> Vec<f32> {
        let (h, d) = (heads.hidden(), heads.dim);
        let mut ctx = vec![0f32; mask.len() * h];
        for rows in seqs {
            let (first, len) = (rows.start, rows.len());
            for hd in 0..heads.count {
                let at = |i: usize, part: usize, c: usize| {
                    qkv[(first + i) * 3 * h + part * h + hd * d + c]
                };
                for i in 0..len {
                    let scores: Vec<f64> = (0..len)
                        .map(|j| {
                            let dot: f64 = (0..d).map(|c| (at(i, 0, c) * at(j, 1, c)) as f64).sum();
                            dot / (d as f64).sqrt() + if mask[first + j] == 0 { -1e9 } else { 0.0 }
                        })
                        .collect();
                    let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = scores.iter().map(|x| (x - max).exp()).collect();
                    let sum: f64 = e.iter().sum();
                    for c in 0..d {
                        let v: f64 = (0..len).map(|j| e[j] / sum * at(j, 2, c) as f64).sum();
                        ctx[(first + i) * h + hd * d + c] = v as f32;
                    }
                }
            }
        }
        ctx
    }

    #[test]
    fn matches_naive_attention_with_padding() {
        let (batch, len) = (3, 7);
        let heads = Heads { count: 3, dim: 12 };
        let seqs: Vec<Rows> = (0..batch).map(|b| b * len..(b + 1) * len).collect();
        let qkv = activations(batch * len, heads);
        let mut mask = vec![1u32; batch * len];
        mask[len - 2..len].fill(0); // sequence 0: two padded tokens
        mask[2 * len + 1..3 * len].fill(0); // sequence 2: one real token
        check(&qkv, &mask, &seqs, heads);
    }

    #[test]
    fn matches_naive_attention_on_packed_sequences() {
        // Texts of 5, 1 and 9 tokens one after the other, no padding.
        let heads = Heads { count: 2, dim: 16 };
        let seqs: Vec<Rows> = vec![0..5, 5..6, 6..15];
        let qkv = activations(15, heads);
        check(&qkv, &[1u32; 15], &seqs, heads);
    }

    #[test]
    fn register_blocked_widths_match_naive_attention() {
        // Head widths 32 and 64 take the register-blocked kernel where the CPU has AVX2: row
        // groups of 4 and key blocks of 8 with every remainder, and texts of one key.
        for dim in [32, 64] {
            let heads = Heads { count: 2, dim };
            let seqs: Vec<Rows> = vec![0..5, 5..6, 6..15, 15..35, 35..48, 48..52];
            let qkv = activations(52, heads);
            let mut mask = vec![1u32; 52];
            mask[30..35].fill(0); // the 20-token text ends in 5 padded tokens
            mask[49..52].fill(0); // the last text has one real token
            check(&qkv, &mask, &seqs, heads);
        }
    }

    #[test]
    fn sequences_longer_than_the_stack_buffer_match_naive_attention() {
        let heads = Heads { count: 1, dim: 32 };
        let len = STACK_KEYS + 37;
        let qkv = activations(len, heads);
        let one_text: Vec<Rows> = std::iter::once(0..len).collect();
        check(&qkv, &vec![1u32; len], &one_text, heads);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_exp_matches_the_scalar_one() {
        if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
            return;
        }
        use std::arch::x86_64::{_mm256_loadu_ps, _mm256_storeu_ps};
        let xs: Vec<f32> = (0..=87_000).map(|i| -(i as f32) / 1000.0).collect();
        for chunk in xs.chunks_exact(8) {
            let mut got = [0f32; 8];
            // SAFETY: AVX2 and FMA checked above; both pointers address 8 floats.
            unsafe {
                _mm256_storeu_ps(got.as_mut_ptr(), avx2::exp(_mm256_loadu_ps(chunk.as_ptr())))
            };
            for (&g, &x) in got.iter().zip(chunk) {
                let want = (x as f64).exp();
                assert!(((g as f64 - want) / want).abs() < 3e-7, "exp({x}) = {g}");
            }
        }
    }

    fn activations(rows: usize, heads: Heads) -> Vec<f32> {
        (0..rows * 3 * heads.hidden())
            .map(|i| ((i * 7919 % 211) as f32 - 105.0) / 60.0)
            .collect()
    }

    fn check(qkv: &[f32], mask: &[u32], seqs: &[Rows], heads: Heads) {
        let want = naive(qkv, mask, seqs, heads);
        let pool = Pool::new(2);
        for isa in [Isa::Scalar, Isa::detect()] {
            let mut got = vec![f32::NAN; want.len()];
            attention(qkv, mask, seqs, heads, &mut got, isa, &pool);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-5, "{isa}: {g} vs {w}");
            }
        }
    }
}

//! One (sequence, head) of attention with AVX2 + FMA intrinsics, register-blocked for short
//! sequences: the head's keys transposed in blocks of 8 (a block of scores is `d` FMAs into one
//! register, four query rows sharing each key load), the softmax with a vectorised `eˣ`, and ·V
//! with the output row held in registers.
//!
//! The plain loops this replaces ran at scalar speed: the compiler neither fuses `a * b + c` into
//! an FMA nor keeps a row of 20-odd scores or a 32-wide output row in registers, and attention
//! took over a third of a batch's time for under 1 % of its arithmetic.
// Kernel loops index several arrays in step; iterators would hide the register blocking.
#![allow(clippy::needless_range_loop)]
use std::arch::x86_64::*;
use std::cell::RefCell;
use std::ops::Range;

use crate::nlu::kernels::epilogue::OutPtr;

/// Keys per block: one AVX2 register of scores.
const LANES: usize = 8;
/// Query rows whose scores share each load of a key block.
const ROWS: usize = 4;

thread_local! {
    /// Each pool thread's transposed keys and scores, reused from task to task: no allocation in
    /// the hot loop once the longest text so far has been seen.
    static SCRATCH: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Where one head's Q, K and V sit in the fused projection `[t, 3·hidden]`.
pub(super) struct HeadView<'a> {
    pub qkv: &'a [f32],
    pub hidden: usize,
    pub head: usize,
    pub dim: usize,
}

const QUERY: usize = 0;
const KEY: usize = 1;
const VALUE: usize = 2;

impl HeadView<'_> {
    /// Start of this head's `dim` floats of Q, K or V in row `row`.
    #[inline(always)]
    fn at(&self, row: usize, part: usize) -> *const f32 {
        let start = row * 3 * self.hidden + part * self.hidden + self.head * self.dim;
        self.qkv[start..start + self.dim].as_ptr()
    }
}

/// Writes the head's context for the rows of `rows`, attending to the (absolute) rows in `kept`;
/// with `uniform`, every kept key gets the same weight (every key was padded). `C` is the head
/// width in registers (`dim = 8·C`).
///
/// # Safety
/// AVX2 and FMA must be present; `kept` must be non-empty and within `qkv`'s rows; the task must
/// be the only writer of this head's columns of these rows of `out`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn head<const C: usize>(
    view: &HeadView<'_>,
    rows: Range<usize>,
    kept: &[usize],
    uniform: bool,
    out: OutPtr,
) {
    SCRATCH.with(|scratch| {
        let (keys_t, scores) = &mut *scratch.borrow_mut();
        head_in::<C>(view, rows, kept, uniform, out, keys_t, scores);
    });
}

/// [`head`] with the scratch buffers (a function of its own: the closure that lends them has
/// none of `head`'s target features).
#[target_feature(enable = "avx2,fma")]
unsafe fn head_in<const C: usize>(
    view: &HeadView<'_>,
    rows: Range<usize>,
    kept: &[usize],
    uniform: bool,
    out: OutPtr,
    keys_t: &mut Vec<f32>,
    scores: &mut Vec<f32>,
) {
    let d = C * LANES;
    let n = kept.len();
    let blocks = n.div_ceil(LANES);
    transpose_keys::<C>(view, kept, blocks, keys_t);
    scores.clear();
    scores.resize(ROWS * blocks * LANES, 0.0);
    let scale = _mm256_set1_ps(1.0 / (d as f32).sqrt());
    let mut first = rows.start;
    while first < rows.end {
        let count = (rows.end - first).min(ROWS);
        if uniform {
            scores.fill(0.0);
        } else {
            row_scores::<C>(view, first, count, keys_t, blocks, scale, scores);
        }
        for r in 0..count {
            let row = &mut scores[r * blocks * LANES..(r + 1) * blocks * LANES];
            let inv = softmax_in_place(row, n);
            weighted_values::<C>(view, kept, row, inv, out, first + r);
        }
        first += count;
    }
}

/// The kept keys as `[block][c][lane]` into `keys_t`; lanes past the last key are 0.
#[inline(always)]
unsafe fn transpose_keys<const C: usize>(
    view: &HeadView<'_>,
    kept: &[usize],
    blocks: usize,
    keys_t: &mut Vec<f32>,
) {
    let d = C * LANES;
    keys_t.clear();
    keys_t.resize(blocks * d * LANES, 0.0);
    for (col, &j) in kept.iter().enumerate() {
        let key = view.at(j, KEY);
        let dst = keys_t
            .as_mut_ptr()
            .add((col / LANES) * d * LANES + col % LANES);
        for c in 0..d {
            *dst.add(c * LANES) = *key.add(c);
        }
    }
}

/// Scaled scores of `count` (≤ 4) query rows from `first` against every key block, into
/// `scores[r·blocks·8 ..]`. Rows past `count` repeat the last one (computed, never read).
#[inline(always)]
unsafe fn row_scores<const C: usize>(
    view: &HeadView<'_>,
    first: usize,
    count: usize,
    keys_t: &[f32],
    blocks: usize,
    scale: __m256,
    scores: &mut [f32],
) {
    let d = C * LANES;
    let q: [*const f32; ROWS] = std::array::from_fn(|r| view.at(first + r.min(count - 1), QUERY));
    for b in 0..blocks {
        let block = keys_t.as_ptr().add(b * d * LANES);
        let mut acc = [_mm256_setzero_ps(); ROWS];
        for c in 0..d {
            let k = _mm256_loadu_ps(block.add(c * LANES));
            for r in 0..ROWS {
                acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(&*q[r].add(c)), k, acc[r]);
            }
        }
        for r in 0..ROWS {
            let dst = scores.as_mut_ptr().add(r * blocks * LANES + b * LANES);
            _mm256_storeu_ps(dst, _mm256_mul_ps(acc[r], scale));
        }
    }
}

/// `row[..n]` ← `exp(row - max)` (lanes past `n` ← 0); returns 1 / their sum.
#[inline(always)]
unsafe fn softmax_in_place(row: &mut [f32], n: usize) -> f32 {
    row[n..].fill(f32::NEG_INFINITY);
    let mut max_v = _mm256_set1_ps(f32::NEG_INFINITY);
    for block in row.chunks_exact(LANES) {
        max_v = _mm256_max_ps(max_v, _mm256_loadu_ps(block.as_ptr()));
    }
    let max_v = _mm256_set1_ps(horizontal_max(max_v));
    let mut sum = _mm256_setzero_ps();
    for block in row.chunks_exact_mut(LANES) {
        let e = exp(_mm256_sub_ps(_mm256_loadu_ps(block.as_ptr()), max_v));
        _mm256_storeu_ps(block.as_mut_ptr(), e);
    }
    row[n..].fill(0.0);
    for block in row.chunks_exact(LANES) {
        sum = _mm256_add_ps(sum, _mm256_loadu_ps(block.as_ptr()));
    }
    1.0 / horizontal_sum(sum)
}

/// `out[row]` ← `inv · Σⱼ weights[j] · V[kept[j]]`, the output row in `C` registers.
#[inline(always)]
unsafe fn weighted_values<const C: usize>(
    view: &HeadView<'_>,
    kept: &[usize],
    weights: &[f32],
    inv: f32,
    out: OutPtr,
    row: usize,
) {
    let d = C * LANES;
    let mut acc = [_mm256_setzero_ps(); C];
    for (&w, &j) in weights.iter().zip(kept) {
        let (w, v) = (_mm256_set1_ps(w), view.at(j, VALUE));
        for c in 0..C {
            acc[c] = _mm256_fmadd_ps(w, _mm256_loadu_ps(v.add(c * LANES)), acc[c]);
        }
    }
    let inv = _mm256_set1_ps(inv);
    let dst = out.0.add(row * view.hidden + view.head * d);
    for c in 0..C {
        _mm256_storeu_ps(dst.add(c * LANES), _mm256_mul_ps(acc[c], inv));
    }
}

#[inline(always)]
unsafe fn horizontal_max(v: __m256) -> f32 {
    let m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    let m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    _mm_cvtss_f32(m)
}

#[inline(always)]
unsafe fn horizontal_sum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    _mm_cvtss_f32(s)
}

/// `eˣ` of 8 lanes for `x ≤ 0`: the same range reduction and degree-7 polynomial as the scalar
/// `attention::exp`, with FMAs.
#[inline(always)]
pub(super) unsafe fn exp(x: __m256) -> __m256 {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let x = _mm256_min_ps(
        _mm256_max_ps(x, _mm256_set1_ps(-87.0)),
        _mm256_set1_ps(88.0),
    );
    let n = _mm256_round_ps(
        _mm256_mul_ps(x, _mm256_set1_ps(std::f32::consts::LOG2_E)),
        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC,
    );
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), x);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
    let mut p = _mm256_set1_ps(1.0 / 5040.0);
    for c in [
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
    }
    let bias = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    _mm256_mul_ps(_mm256_castsi256_ps(_mm256_slli_epi32(bias, 23)), p)
}

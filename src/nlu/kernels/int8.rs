//! int8 linear layers: int8 weights with one scale per output channel (symmetric, packed at load
//! time), times activations quantized per row at run time to u8 with a zero point
//! (`x ≈ s · (q − z)`, the row's range including 0 mapped onto 0…255: twice the resolution of a
//! symmetric int8 for one-sided rows such as GELU outputs).
//!
//! Weights are packed in panels of [`NR`] output columns laid out `[k / 4][NR][4]`: one 512-bit
//! register holds four consecutive `k` of 16 columns, the operand layout of `vpdpbusd` (u8 × s8,
//! summed in fours into i32); the zero point is taken out afterwards as `z · Σₖ w` per column.
//! The AVX2 path has no VNNI, and `vpmaddubsw` would saturate on 255 · 127 · 2, so it widens both
//! operands to i16 and multiplies with `vpmaddwd`. Every path computes exactly the same integer
//! dot products as the scalar one, so all produce bit-identical outputs (a test checks).
// Kernel loops index several arrays in step; iterators would hide the register blocking.
#![allow(clippy::needless_range_loop)]
use super::dispatch::Isa;
use super::epilogue::{Epilogue, OutPtr};
use super::pool::Pool;

/// Output columns per panel (four 512-bit registers of 16 int32 lanes).
pub const NR: usize = 64;
/// Rows per register block.
const MR: usize = 6;

type Tile = [[i32; NR]; MR];

/// `y = x Wᵀ + b` with int8 weights.
pub struct QuantLinear {
    n: usize,
    k: usize,
    /// `k` rounded up to a multiple of 4.
    kp: usize,
    /// `ceil(n / NR)` panels of `kp × NR` bytes; columns past `n` and `k` past `k` are zero.
    panels: Vec<i8>,
    /// Per output column: `max |w| / 127`.
    scales: Vec<f32>,
    /// Per output column: `Σₖ w`, times a row's zero point the correction for it.
    sums: Vec<i32>,
    bias: Vec<f32>,
}

impl QuantLinear {
    /// `weight` is `[n, k]` row-major, `bias` is `[n]`.
    pub fn new(weight: &[f32], bias: &[f32], n: usize, k: usize) -> Self {
        assert_eq!(weight.len(), n * k, "this is a bug: weight shape");
        assert_eq!(bias.len(), n, "this is a bug: bias shape");
        let kp = k.div_ceil(4) * 4;
        let n_panels = n.div_ceil(NR);
        let mut panels = vec![0i8; n_panels * kp * NR];
        let mut scales = vec![0f32; n];
        let mut sums = vec![0i32; n];
        for col in 0..n {
            let row = &weight[col * k..(col + 1) * k];
            let amax = row.iter().fold(0f32, |m, w| m.max(w.abs()));
            let scale = if amax > 0.0 { amax / 127.0 } else { 1.0 };
            scales[col] = scale;
            let (p, j) = (col / NR, col % NR);
            let mut sum = 0i32;
            for (kk, &w) in row.iter().enumerate() {
                let q = (w / scale).round_ties_even().clamp(-127.0, 127.0) as i8;
                sum += i32::from(q);
                panels[p * kp * NR + (kk / 4) * NR * 4 + j * 4 + kk % 4] = q;
            }
            sums[col] = sum;
        }
        Self {
            n,
            k,
            kp,
            panels,
            scales,
            sums,
            bias: bias.to_vec(),
        }
    }

    pub fn out_features(&self) -> usize {
        self.n
    }

    pub fn in_features(&self) -> usize {
        self.k
    }

    /// Writes `[rows.m, n]` into `out` from quantized activations.
    pub fn forward_into(
        &self,
        rows: &QuantRows,
        out: &mut [f32],
        epilogue: Epilogue,
        isa: Isa,
        pool: &Pool,
    ) {
        assert!(
            rows.k == self.k && rows.isa == Some(isa) && out.len() >= rows.m * self.n,
            "this is a bug: int8 linear called with mismatched activations"
        );
        let out = OutPtr(out.as_mut_ptr());
        let task = |p: usize| {
            // SAFETY: panel `p` writes only its own columns of `out`, which holds `m × n` floats;
            // the instruction set was detected on this CPU (see `Isa::detect`).
            unsafe {
                match isa {
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx512Vnni => panel_vnni(self, rows, p, out, epilogue),
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx2 => panel_avx2(self, rows, p, out, epilogue),
                    _ => panel_scalar(self, rows, p, out, epilogue),
                }
            }
        };
        pool.run_weighted(self.n.div_ceil(NR), rows.m * self.n * self.k, &task);
    }
}

/// Activations quantized per row for one call, in the format of the instruction set's kernel.
#[derive(Default)]
pub struct QuantRows {
    m: usize,
    k: usize,
    kp: usize,
    isa: Option<Isa>,
    /// `m × kp` bytes (`k` past `k` hold the zero point; their weights are 0).
    data: Vec<u8>,
    /// Per row: the scale `s`.
    scales: Vec<f32>,
    /// Per row: the zero point `z`.
    zeros: Vec<i32>,
}

impl QuantRows {
    /// Quantizes `x` (`[m, k]` row-major) for the kernels of `isa`, reusing the buffers; rows
    /// in groups across `pool` (on one thread, a 128-token pass's quantisations left the other
    /// core spinning for ~8 % of a batch's time).
    pub fn quantize(&mut self, x: &[f32], m: usize, k: usize, isa: Isa, pool: &Pool) {
        let kp = k.div_ceil(4) * 4;
        self.data.clear();
        self.data.resize(m * kp, 0);
        self.scales.clear();
        self.scales.resize(m, 1.0);
        self.zeros.clear();
        self.zeros.resize(m, 0);
        let (data, scales, zeros) = (
            OutPtr(self.data.as_mut_ptr()),
            OutPtr(self.scales.as_mut_ptr()),
            OutPtr(self.zeros.as_mut_ptr()),
        );
        let task = |group: usize| {
            for r in group * QUANT_GROUP..((group + 1) * QUANT_GROUP).min(m) {
                let src = &x[r * k..(r + 1) * k];
                // SAFETY: group `group` alone writes rows `r` of the three buffers, which hold
                // `m` rows and outlive the call.
                let (dst, scale, zero) = unsafe {
                    (
                        data.slice(r * kp..(r + 1) * kp),
                        &mut *scales.at(r),
                        &mut *zeros.at(r),
                    )
                };
                (*scale, *zero) = match isa {
                    // SAFETY: the CPU has AVX2 (detected).
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx512Vnni | Isa::Avx2 => unsafe { quantize_row_avx2(src, dst) },
                    _ => quantize_row(src, dst),
                };
            }
        };
        pool.run_weighted(m.div_ceil(QUANT_GROUP), m * k, &task);
        (self.m, self.k, self.kp, self.isa) = (m, k, kp, Some(isa));
    }
}

/// Rows quantized per pool task.
const QUANT_GROUP: usize = 16;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn quantize_row_avx2(src: &[f32], dst: &mut [u8]) -> (f32, i32) {
    quantize_row(src, dst)
}

/// Quantizes one row into `dst` (padding gets the zero point); returns its scale and zero
/// point. Same code on every path, so the same bytes.
#[inline(always)]
fn quantize_row(src: &[f32], dst: &mut [u8]) -> (f32, i32) {
    let lo = src.iter().fold(0f32, |m, &x| m.min(x));
    let hi = src.iter().fold(0f32, |m, &x| m.max(x));
    let scale = (hi - lo) / 255.0;
    if !(scale > 0.0 && scale.is_finite()) {
        dst.fill(0);
        return (1.0, 0);
    }
    let zero = (-lo / scale).round_ties_even().clamp(0.0, 255.0);
    let inv = 1.0 / scale;
    for (d, &x) in dst.iter_mut().zip(src) {
        // `max`/`min` turn a NaN into 0 and bound the value, so the unchecked conversion is
        // exact and vectorises; a checked `as` cast is done one lane at a time.
        // Not `clamp`: it keeps a NaN, which the conversion below must not see.
        #[allow(clippy::manual_clamp)]
        let v = (x * inv + zero).round_ties_even().max(0.0).min(255.0);
        // SAFETY: `v` is finite and in 0..=255.
        *d = unsafe { v.to_int_unchecked::<i32>() } as u8;
    }
    dst[src.len()..].fill(zero as u8);
    (scale, zero as i32)
}

/// Turns an integer tile into outputs: `(acc − z_row · Σw_col) · s_row · s_col + bias`, then
/// `epilogue`.
/// Shared (and inlined) by every path, so all produce the same floats from the same integers.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn store_tile(
    lin: &QuantLinear,
    rows: &QuantRows,
    acc: &Tile,
    r0: usize,
    m: usize,
    p: usize,
    out: OutPtr,
    epilogue: Epilogue,
) {
    let c0 = p * NR;
    let cols = (lin.n - c0).min(NR);
    let scales = &lin.scales[c0..c0 + cols];
    let sums = &lin.sums[c0..c0 + cols];
    let bias = &lin.bias[c0..c0 + cols];
    for (r, acc_row) in acc.iter().enumerate().take(m) {
        let (sa, za) = (rows.scales[r0 + r], rows.zeros[r0 + r]);
        let dst = std::slice::from_raw_parts_mut(out.0.add((r0 + r) * lin.n + c0), cols);
        for j in 0..cols {
            let v = acc_row[j] - za * sums[j];
            dst[j] = epilogue.apply(v as f32 * (sa * scales[j]) + bias[j]);
        }
    }
}

/// Panel `p` of `lin` for every row, with `tile(r0, rows, acc)` computing the integer tile.
#[inline(always)]
unsafe fn panel_with(
    lin: &QuantLinear,
    rows: &QuantRows,
    p: usize,
    out: OutPtr,
    epilogue: Epilogue,
    mut tile: impl FnMut(usize, usize, &mut Tile),
) {
    let mut acc: Tile = [[0; NR]; MR];
    let mut r0 = 0;
    while r0 < rows.m {
        let m = (rows.m - r0).min(MR);
        tile(r0, m, &mut acc);
        store_tile(lin, rows, &acc, r0, m, p, out, epilogue);
        r0 += m;
    }
}

unsafe fn panel_scalar(lin: &QuantLinear, rows: &QuantRows, p: usize, out: OutPtr, e: Epilogue) {
    let panel = &lin.panels[p * lin.kp * NR..(p + 1) * lin.kp * NR];
    panel_with(lin, rows, p, out, e, |r0, m, acc| {
        for (r, acc_row) in acc.iter_mut().enumerate().take(m) {
            let a = &rows.data[(r0 + r) * rows.kp..(r0 + r + 1) * rows.kp];
            acc_row.fill(0);
            for (s, a4) in a.chunks_exact(4).enumerate() {
                let b = &panel[s * NR * 4..(s + 1) * NR * 4];
                for (j, b4) in b.chunks_exact(4).enumerate() {
                    acc_row[j] += (0..4)
                        .map(|t| i32::from(a4[t]) * i32::from(b4[t]))
                        .sum::<i32>();
                }
            }
        }
    });
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
unsafe fn panel_vnni(lin: &QuantLinear, rows: &QuantRows, p: usize, out: OutPtr, e: Epilogue) {
    let panel = lin.panels.as_ptr().add(p * lin.kp * NR);
    let k4 = lin.kp / 4;
    panel_with(lin, rows, p, out, e, |r0, m, acc| {
        let a = rows.data.as_ptr().add(r0 * rows.kp);
        match m {
            6 => tile_vnni::<6>(a, rows.kp, k4, panel, acc),
            5 => tile_vnni::<5>(a, rows.kp, k4, panel, acc),
            4 => tile_vnni::<4>(a, rows.kp, k4, panel, acc),
            3 => tile_vnni::<3>(a, rows.kp, k4, panel, acc),
            2 => tile_vnni::<2>(a, rows.kp, k4, panel, acc),
            _ => tile_vnni::<1>(a, rows.kp, k4, panel, acc),
        }
    });
}

/// `R` rows of u8 activations (row stride `lda` bytes) × one panel, with `vpdpbusd`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
unsafe fn tile_vnni<const R: usize>(
    a: *const u8,
    lda: usize,
    k4: usize,
    panel: *const i8,
    acc: &mut Tile,
) {
    use std::arch::x86_64::*;
    let mut c = [[_mm512_setzero_si512(); 4]; R];
    for s in 0..k4 {
        let bp = panel.add(s * NR * 4);
        let b = [
            _mm512_loadu_si512(bp as *const _),
            _mm512_loadu_si512(bp.add(64) as *const _),
            _mm512_loadu_si512(bp.add(128) as *const _),
            _mm512_loadu_si512(bp.add(192) as *const _),
        ];
        for r in 0..R {
            let av = _mm512_set1_epi32((a.add(r * lda + 4 * s) as *const i32).read_unaligned());
            for i in 0..4 {
                c[r][i] = _mm512_dpbusd_epi32(c[r][i], av, b[i]);
            }
        }
    }
    for r in 0..R {
        for i in 0..4 {
            _mm512_storeu_si512(acc[r].as_mut_ptr().add(16 * i) as *mut _, c[r][i]);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn panel_avx2(lin: &QuantLinear, rows: &QuantRows, p: usize, out: OutPtr, e: Epilogue) {
    let panel = lin.panels.as_ptr().add(p * lin.kp * NR);
    let k4 = lin.kp / 4;
    panel_with(lin, rows, p, out, e, |r0, m, acc| {
        // Two rows × 16 columns: 8 accumulators, 4 widened weight registers and the activations
        // fit in 16 registers.
        let mut r = 0;
        while r < m {
            let a = rows.data.as_ptr().add((r0 + r) * rows.kp);
            let n = (m - r).min(2);
            for q in 0..NR / 16 {
                match n {
                    2 => tile_avx2::<2>(a, rows.kp, k4, panel, q, &mut acc[r..]),
                    _ => tile_avx2::<1>(a, rows.kp, k4, panel, q, &mut acc[r..]),
                }
            }
            r += n;
        }
    });
}

/// `R` rows of u8 activations × columns `16q .. 16q + 16` of one panel: both widened to i16 and
/// multiplied with `vpmaddwd`, each i32 lane summing two `k` of one column (the two halves of a
/// column are added at the end).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile_avx2<const R: usize>(
    a: *const u8,
    lda: usize,
    k4: usize,
    panel: *const i8,
    q: usize,
    acc: &mut [[i32; NR]],
) {
    use std::arch::x86_64::*;
    let mut c = [[_mm256_setzero_si256(); 4]; R];
    for s in 0..k4 {
        let bp = panel.add(s * NR * 4 + q * 64);
        let b = [
            _mm256_cvtepi8_epi16(_mm_loadu_si128(bp as *const __m128i)),
            _mm256_cvtepi8_epi16(_mm_loadu_si128(bp.add(16) as *const __m128i)),
            _mm256_cvtepi8_epi16(_mm_loadu_si128(bp.add(32) as *const __m128i)),
            _mm256_cvtepi8_epi16(_mm_loadu_si128(bp.add(48) as *const __m128i)),
        ];
        for r in 0..R {
            let a4 = (a.add(r * lda + 4 * s) as *const i32).read_unaligned();
            let av = _mm256_cvtepu8_epi16(_mm_set1_epi32(a4));
            for i in 0..4 {
                c[r][i] = _mm256_add_epi32(c[r][i], _mm256_madd_epi16(av, b[i]));
            }
        }
    }
    for r in 0..R {
        for i in 0..4 {
            let mut lanes = [0i32; 8];
            _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, c[r][i]);
            for col in 0..4 {
                acc[r][16 * q + 4 * i + col] = lanes[2 * col] + lanes[2 * col + 1];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlu::kernels::dispatch::Isa;

    fn data(len: usize, seed: usize, spread: f32) -> Vec<f32> {
        (0..len)
            .map(|i| (((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.5 - 1.0) * spread)
            .collect()
    }

    fn naive(x: &[f32], w: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
        let mut y = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                y[i * n + j] = b[j] + (0..k).map(|kk| x[i * k + kk] * w[j * k + kk]).sum::<f32>();
            }
        }
        y
    }

    fn paths() -> Vec<Isa> {
        [Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni]
            .into_iter()
            .filter(|&isa| isa <= Isa::detect())
            .collect()
    }

    #[test]
    fn every_path_is_close_to_f32_and_identical_to_scalar() {
        let pool = Pool::new(2);
        for &(m, n, k) in &[
            (1, 16, 8),
            (7, 70, 33),
            (13, 384, 96),
            (22, 1536, 384),
            (9, 384, 1536),
            // Enough rows to quantize in groups across the pool.
            (130, 64, 384),
        ] {
            let x = data(m * k, 1, 3.0);
            let w = data(n * k, 2, 0.1);
            let b = data(n, 3, 0.5);
            let lin = QuantLinear::new(&w, &b, n, k);
            let want = naive(&x, &w, &b, m, n, k);
            // Error bound of two 8-bit roundings: each product is off by at most about
            // (|x|max·|w|max / 127) relative, summed over k with random signs.
            let bound = 3.0 * 0.1 / 127.0 * (k as f32).sqrt() * 1.5;
            let mut reference: Option<Vec<f32>> = None;
            for isa in paths() {
                let mut rows = QuantRows::default();
                rows.quantize(&x, m, k, isa, &pool);
                let mut got = vec![f32::NAN; m * n];
                lin.forward_into(&rows, &mut got, Epilogue::Bias, isa, &pool);
                let worst = got
                    .iter()
                    .zip(&want)
                    .map(|(g, e)| (g - e).abs())
                    .fold(0f32, f32::max);
                assert!(
                    worst < bound,
                    "{isa} ({m},{n},{k}): max error {worst} ≥ {bound}"
                );
                match &reference {
                    None => reference = Some(got),
                    Some(r) => assert!(r == &got, "{isa} ({m},{n},{k}) differs from scalar"),
                }
            }
        }
    }

    #[test]
    fn gelu_epilogue_matches_gelu_of_bias() {
        let pool = Pool::new(1);
        let (m, n, k) = (3, 20, 12);
        let (x, w, b) = (data(m * k, 4, 1.0), data(n * k, 5, 1.0), data(n, 6, 1.0));
        let lin = QuantLinear::new(&w, &b, n, k);
        let mut rows = QuantRows::default();
        rows.quantize(&x, m, k, Isa::detect(), &pool);
        let (mut plain, mut gelu) = (vec![0f32; m * n], vec![0f32; m * n]);
        lin.forward_into(&rows, &mut plain, Epilogue::Bias, Isa::detect(), &pool);
        lin.forward_into(&rows, &mut gelu, Epilogue::BiasGelu, Isa::detect(), &pool);
        for (p, g) in plain.iter().zip(&gelu) {
            assert_eq!(*g, Epilogue::BiasGelu.apply(*p));
        }
    }
}

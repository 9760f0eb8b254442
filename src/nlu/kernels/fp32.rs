//! Linear layers with weights packed once at load time for a register-blocked AVX2/FMA kernel.
//!
//! A customer message is ~20 tokens, so each matmul has ~20 rows: general GEMM libraries spend as
//! long re-packing the weight matrix on every call as multiplying with it. Packing the weights
//! once, into panels of 16 output columns laid out `[k][16]`, lets every call stream straight
//! from the packed panels. Rows are processed six at a time (12 accumulators of 8 lanes), and the
//! panels are shared between the threads of the kernels' [`Pool`]. This is the f32 path of
//! [`super::Linear`]; the int8 one is [`super::int8`].
// Kernel loops index several arrays in step; iterators would hide the register blocking.
#![allow(clippy::needless_range_loop)]
use super::dispatch::Isa;
use super::epilogue::{Epilogue, OutPtr};
use super::pool::Pool;

/// Output columns per panel (two AVX registers).
const NR: usize = 16;
/// Rows per register block.
const MR: usize = 6;

/// `y = x Wᵀ + b` with W packed for [`PackedLinear::forward_into`].
pub struct PackedLinear {
    n: usize,
    k: usize,
    /// `ceil(n / 16)` panels of `k × 16` floats; columns past `n` are zero.
    panels: Vec<f32>,
    bias: Vec<f32>,
}

impl PackedLinear {
    /// `weight` is `[n, k]` row-major (the PyTorch/safetensors layout), `bias` is `[n]`.
    pub fn new(weight: &[f32], bias: &[f32], n: usize, k: usize) -> Self {
        assert_eq!(weight.len(), n * k, "this is a bug: weight shape");
        assert_eq!(bias.len(), n, "this is a bug: bias shape");
        let n_panels = n.div_ceil(NR);
        let mut panels = vec![0f32; n_panels * k * NR];
        for col in 0..n {
            let (p, j) = (col / NR, col % NR);
            let base = p * k * NR;
            for kk in 0..k {
                panels[base + kk * NR + j] = weight[col * k + kk];
            }
        }
        Self {
            n,
            k,
            panels,
            bias: bias.to_vec(),
        }
    }

    /// `x` is `[m, k]` row-major; returns `[m, n]` (one thread, best kernel of this CPU).
    pub fn forward(&self, x: &[f32], m: usize) -> Vec<f32> {
        let mut out = vec![0f32; m * self.n];
        let pool = Pool::new(1);
        self.forward_into(x, m, &mut out, Epilogue::Bias, Isa::detect(), &pool);
        out
    }

    pub fn out_features(&self) -> usize {
        self.n
    }

    pub fn in_features(&self) -> usize {
        self.k
    }

    /// `x` is `[m, k]` row-major; writes `[m, n]` into `out`, one task per panel on `pool`.
    pub fn forward_into(
        &self,
        x: &[f32],
        m: usize,
        out: &mut [f32],
        epilogue: Epilogue,
        isa: Isa,
        pool: &Pool,
    ) {
        assert!(
            x.len() >= m * self.k && out.len() >= m * self.n,
            "this is a bug: packed linear buffers too small"
        );
        let out = OutPtr(out.as_mut_ptr());
        let task = |p: usize| {
            // SAFETY: panel `p` writes only its own columns of `out` (`m × n` floats); AVX2 and
            // FMA are present when `isa` is at least `Avx2` (see `Isa::detect`).
            unsafe {
                match isa {
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx2 | Isa::Avx512Vnni => panel_avx2(self, x, m, p, out, epilogue),
                    _ => panel_scalar(self, x, m, p, out, epilogue),
                }
            }
        };
        pool.run_weighted(self.n.div_ceil(NR), m * self.n * self.k, &task);
    }
}

/// Panel `p` for every row of `x`, with `block(rows of x, rows, panel, acc)` filling the tile.
#[inline(always)]
unsafe fn panel_with(
    lin: &PackedLinear,
    x: &[f32],
    m: usize,
    p: usize,
    out: OutPtr,
    epilogue: Epilogue,
    mut block: impl FnMut(&[f32], usize, &[f32], &mut [[f32; NR]; MR]),
) {
    let panel = &lin.panels[p * lin.k * NR..(p + 1) * lin.k * NR];
    let c0 = p * NR;
    let cols = (lin.n - c0).min(NR);
    let bias = &lin.bias[c0..c0 + cols];
    let mut r0 = 0;
    while r0 < m {
        let rows = (m - r0).min(MR);
        let mut acc = [[0f32; NR]; MR];
        block(&x[r0 * lin.k..], rows, panel, &mut acc);
        for (r, row) in acc.iter().enumerate().take(rows) {
            let dst = std::slice::from_raw_parts_mut(out.0.add((r0 + r) * lin.n + c0), cols);
            for j in 0..cols {
                dst[j] = epilogue.apply(row[j] + bias[j]);
            }
        }
        r0 += rows;
    }
}

unsafe fn panel_scalar(
    lin: &PackedLinear,
    x: &[f32],
    m: usize,
    p: usize,
    out: OutPtr,
    epilogue: Epilogue,
) {
    let k = lin.k;
    panel_with(lin, x, m, p, out, epilogue, |x, rows, panel, acc| {
        for r in 0..rows {
            let xr = &x[r * k..(r + 1) * k];
            for (kk, &a) in xr.iter().enumerate() {
                let b = &panel[kk * NR..(kk + 1) * NR];
                for j in 0..NR {
                    acc[r][j] += a * b[j];
                }
            }
        }
    });
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn panel_avx2(
    lin: &PackedLinear,
    x: &[f32],
    m: usize,
    p: usize,
    out: OutPtr,
    epilogue: Epilogue,
) {
    let k = lin.k;
    panel_with(lin, x, m, p, out, epilogue, |x, rows, panel, acc| {
        // A compile-time row count lets every loop over rows unroll, so the accumulators live
        // in registers instead of a stack array.
        match rows {
            6 => kernel::<6>(x, k, panel, acc),
            5 => kernel::<5>(x, k, panel, acc),
            4 => kernel::<4>(x, k, panel, acc),
            3 => kernel::<3>(x, k, panel, acc),
            2 => kernel::<2>(x, k, panel, acc),
            _ => kernel::<1>(x, k, panel, acc),
        }
    });
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn kernel<const R: usize>(x: &[f32], k: usize, panel: &[f32], acc: &mut [[f32; NR]; MR]) {
    use std::arch::x86_64::*;
    assert!(x.len() >= R * k && panel.len() >= k * NR);
    let xp = x.as_ptr();
    let bp = panel.as_ptr();
    let mut c0 = [_mm256_setzero_ps(); R];
    let mut c1 = [_mm256_setzero_ps(); R];
    for kk in 0..k {
        let b0 = _mm256_loadu_ps(bp.add(kk * NR));
        let b1 = _mm256_loadu_ps(bp.add(kk * NR + 8));
        for r in 0..R {
            let a = _mm256_broadcast_ss(&*xp.add(r * k + kk));
            c0[r] = _mm256_fmadd_ps(a, b0, c0[r]);
            c1[r] = _mm256_fmadd_ps(a, b1, c1[r]);
        }
    }
    for r in 0..R {
        _mm256_storeu_ps(acc[r].as_mut_ptr(), c0[r]);
        _mm256_storeu_ps(acc[r].as_mut_ptr().add(8), c1[r]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(x: &[f32], w: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
        let mut y = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                y[i * n + j] = b[j] + (0..k).map(|kk| x[i * k + kk] * w[j * k + kk]).sum::<f32>();
            }
        }
        y
    }

    #[test]
    fn every_path_matches_naive_matmul_for_awkward_shapes() {
        let pool = Pool::new(2);
        let paths: Vec<Isa> = [Isa::Scalar, Isa::Avx2]
            .into_iter()
            .filter(|&isa| isa <= Isa::detect())
            .collect();
        for &(m, n, k) in &[
            (1, 16, 8),
            (7, 40, 33),
            (13, 384, 96),
            (22, 48, 384),
            (100, 1152, 64),
        ] {
            let x: Vec<f32> = (0..m * k)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
                .collect();
            let w: Vec<f32> = (0..n * k)
                .map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0)
                .collect();
            let b: Vec<f32> = (0..n).map(|i| i as f32 / n as f32).collect();
            let lin = PackedLinear::new(&w, &b, n, k);
            let want = naive(&x, &w, &b, m, n, k);
            for &isa in &paths {
                let mut got = vec![f32::NAN; m * n];
                lin.forward_into(&x, m, &mut got, Epilogue::Bias, isa, &pool);
                for (g, e) in got.iter().zip(&want) {
                    assert!(
                        (g - e).abs() < 1e-3 * (1.0 + e.abs()),
                        "{isa} ({m},{n},{k}): {g} vs {e}"
                    );
                }
            }
        }
    }
}

//! Linear layers with weights packed once at load time for a register-blocked AVX2/FMA kernel.
//!
//! A customer message is ~20 tokens, so each matmul has ~20 rows: general GEMM libraries spend as
//! long re-packing the weight matrix on every call as multiplying with it. Packing the weights
//! once, into panels of 16 output columns laid out `[k][16]`, lets every call stream straight
//! from the packed panels. Rows are processed six at a time (12 accumulators of 8 lanes), and the
//! panels are shared between the threads of the rayon pool.
use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, Layout, Shape};
use rayon::prelude::*;

/// Output columns per panel (two AVX registers).
const NR: usize = 16;
/// Rows per register block.
const MR: usize = 6;

/// `y = x Wᵀ + b` with W packed for [`matmul`].
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

    pub fn out_features(&self) -> usize {
        self.n
    }

    pub fn in_features(&self) -> usize {
        self.k
    }

    /// `x` is `[m, k]` row-major; returns `[m, n]`.
    pub fn forward(&self, x: &[f32], m: usize) -> Vec<f32> {
        debug_assert_eq!(x.len(), m * self.k, "this is a bug: input shape");
        let mut out = vec![0f32; m * self.n];
        let n_panels = self.n.div_ceil(NR);
        let out_ptr = SendPtr(out.as_mut_ptr());
        let work = |p: usize| {
            let panel = &self.panels[p * self.k * NR..(p + 1) * self.k * NR];
            let cols = (self.n - p * NR).min(NR);
            let mut r0 = 0;
            while r0 < m {
                let rows = (m - r0).min(MR);
                let mut acc = [[0f32; NR]; MR];
                block(&x[r0 * self.k..], self.k, rows, panel, &mut acc);
                for (r, row) in acc.iter().enumerate().take(rows) {
                    for (j, v) in row.iter().enumerate().take(cols) {
                        // SAFETY: each (row, column) of `out` is written by exactly one panel task.
                        unsafe {
                            *out_ptr.get().add((r0 + r) * self.n + p * NR + j) =
                                v + self.bias[p * NR + j];
                        }
                    }
                }
                r0 += rows;
            }
        };
        if m * self.n * self.k < 1 << 16 {
            (0..n_panels).for_each(work);
        } else {
            (0..n_panels).into_par_iter().for_each(work);
        }
        out
    }
}

#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: used only to write disjoint elements from the panel tasks of one `forward` call.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// `acc[r][j] = Σ_kk x[r][kk] · panel[kk][j]` for `rows` rows of `x` (row stride `k`).
fn block(x: &[f32], k: usize, rows: usize, panel: &[f32], acc: &mut [[f32; NR]; MR]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA (checked above); slices are long enough:
            // `x` holds `rows` rows of `k`, `panel` holds `k × NR`.
            unsafe { block_avx2(x, k, rows, panel, acc) };
            return;
        }
    }
    for r in 0..rows {
        let xr = &x[r * k..(r + 1) * k];
        for (kk, &a) in xr.iter().enumerate() {
            let b = &panel[kk * NR..(kk + 1) * NR];
            for j in 0..NR {
                acc[r][j] += a * b[j];
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn block_avx2(x: &[f32], k: usize, rows: usize, panel: &[f32], acc: &mut [[f32; NR]; MR]) {
    assert!(x.len() >= rows * k && panel.len() >= k * NR && rows <= MR);
    // A compile-time row count lets every loop over rows unroll, so the accumulators live in
    // registers instead of a stack array.
    match rows {
        6 => kernel::<6>(x, k, panel, acc),
        5 => kernel::<5>(x, k, panel, acc),
        4 => kernel::<4>(x, k, panel, acc),
        3 => kernel::<3>(x, k, panel, acc),
        2 => kernel::<2>(x, k, panel, acc),
        _ => kernel::<1>(x, k, panel, acc),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn kernel<const R: usize>(x: &[f32], k: usize, panel: &[f32], acc: &mut [[f32; NR]; MR]) {
    use std::arch::x86_64::*;
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

/// The f32 elements of a contiguous CPU tensor, or an error naming the custom op `op`.
pub fn contiguous_f32<'a>(
    op: &str,
    storage: &'a CpuStorage,
    layout: &Layout,
) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!("{op} expects f32")
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("{op} expects a contiguous tensor")
    };
    Ok(&data[start..end])
}

/// [`PackedLinear`] as a candle op on a contiguous `[m, k]` f32 tensor.
pub struct PackedMatmul(pub Arc<PackedLinear>);

impl CustomOp1 for PackedMatmul {
    fn name(&self) -> &'static str {
        "packed-matmul"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let input = contiguous_f32(self.name(), storage, layout)?;
        let (m, k) = layout.shape().dims2()?;
        if k != self.0.k {
            candle_core::bail!("packed-matmul: input width {k}, layer expects {}", self.0.k)
        }
        let out = self.0.forward(input, m);
        Ok((CpuStorage::F32(out), Shape::from((m, self.0.n))))
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
    fn matches_naive_matmul_for_awkward_shapes() {
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
            let got = PackedLinear::new(&w, &b, n, k).forward(&x, m);
            let want = naive(&x, &w, &b, m, n, k);
            for (g, e) in got.iter().zip(&want) {
                assert!(
                    (g - e).abs() < 1e-3 * (1.0 + e.abs()),
                    "({m},{n},{k}): {g} vs {e}"
                );
            }
        }
    }
}

#[cfg(test)]
mod speed {
    use super::*;

    /// `cargo test --lib packed::speed -- --ignored --nocapture`: GFLOP/s of one layer-sized matmul.
    #[test]
    #[ignore]
    fn gflops() {
        for &(m, n, k) in &[
            (22usize, 1536usize, 384usize),
            (22, 384, 1536),
            (704, 1536, 384),
        ] {
            let x = vec![0.5f32; m * k];
            let w = vec![0.25f32; n * k];
            let b = vec![0f32; n];
            let lin = PackedLinear::new(&w, &b, n, k);
            let reps = 3_000_000_000 / (m * n * k) + 1;
            let t = std::time::Instant::now();
            for _ in 0..reps {
                std::hint::black_box(lin.forward(&x, m));
            }
            let s = t.elapsed().as_secs_f64();
            println!(
                "m={m} n={n} k={k}: {:.1} GFLOP/s",
                (2 * m * n * k * reps) as f64 / s / 1e9
            );
        }
    }
}

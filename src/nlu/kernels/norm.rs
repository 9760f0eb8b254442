//! Residual + layer norm in one pass over each row, in place (`x = LN(x + y)`).
// Kernel loops index several arrays in step; iterators would hide the register blocking.
#![allow(clippy::needless_range_loop)]
use super::dispatch::Isa;
use super::epilogue::OutPtr;
use super::pool::Pool;

/// Rows normalised per pool task.
const ROW_GROUP: usize = 16;

/// A layer norm's parameters (`γ`, `β`, `ε`) as plain vectors.
pub struct LayerNorm {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub eps: f32,
}

impl LayerNorm {
    /// `x ← LN(x + y)` row by row, groups of rows across `pool`; `x` and `y` hold rows of
    /// `gamma.len()` floats.
    pub fn add_in_place(&self, x: &mut [f32], y: &[f32], isa: Isa, pool: &Pool) {
        let h = self.gamma.len();
        let rows = (x.len() / h).min(y.len() / h);
        let base = OutPtr(x.as_mut_ptr());
        let task = |group: usize| {
            let range = group * ROW_GROUP * h..((group + 1) * ROW_GROUP).min(rows) * h;
            // SAFETY: group `group` alone touches these rows of `x`, which outlives the job.
            let x = unsafe { base.slice(range.clone()) };
            let y = &y[range];
            match isa {
                // SAFETY: the CPU has AVX2 and FMA (detected).
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 | Isa::Avx512Vnni => unsafe { self.add_avx2(x, y) },
                _ => self.add_generic(x, y),
            }
        };
        pool.run_weighted(rows.div_ceil(ROW_GROUP), rows * h * 4, &task);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn add_avx2(&self, x: &mut [f32], y: &[f32]) {
        self.add_generic(x, y)
    }

    #[inline(always)]
    fn add_generic(&self, x: &mut [f32], y: &[f32]) {
        let h = self.gamma.len();
        for (xr, yr) in x.chunks_exact_mut(h).zip(y.chunks_exact(h)) {
            for (a, b) in xr.iter_mut().zip(yr) {
                *a += b;
            }
            let mean = lane_sum(xr, |v| v) / h as f32;
            let var = lane_sum(xr, |v| (v - mean) * (v - mean)) / h as f32;
            let inv = 1.0 / (var + self.eps).sqrt();
            for ((a, g), b) in xr.iter_mut().zip(&self.gamma).zip(&self.beta) {
                *a = (*a - mean) * inv * g + b;
            }
        }
    }
}

/// `Σ f(v)` over `xs` in eight interleaved partial sums, so the compiler can vectorise it.
#[inline(always)]
pub fn lane_sum(xs: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = xs.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for c in chunks {
        for l in 0..8 {
            acc[l] += f(c[l]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_candle_layer_norm_of_the_sum() {
        use candle_core::{Device, Tensor};
        // Enough rows to be normalised in groups across the pool.
        let (rows, h) = (230, 37);
        let x: Vec<f32> = (0..rows * h)
            .map(|i| ((i * 31 % 17) as f32 - 8.0) / 3.0)
            .collect();
        let y: Vec<f32> = (0..rows * h)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0)
            .collect();
        let gamma: Vec<f32> = (0..h).map(|i| 1.0 + i as f32 / 50.0).collect();
        let beta: Vec<f32> = (0..h).map(|i| i as f32 / 100.0 - 0.1).collect();
        let t =
            |v: &[f32], s: (usize, usize)| Tensor::from_slice(v, s, &Device::Cpu).expect("tensor");
        let sum = (t(&x, (rows, h)) + t(&y, (rows, h))).expect("add");
        let want: Vec<f32> = candle_nn::ops::layer_norm(
            &sum,
            &t(&gamma, (1, h)).squeeze(0).expect("g"),
            &t(&beta, (1, h)).squeeze(0).expect("b"),
            1e-12,
        )
        .expect("ln")
        .flatten_all()
        .expect("flat")
        .to_vec1()
        .expect("vec");
        let norm = LayerNorm {
            gamma,
            beta,
            eps: 1e-12,
        };
        let pool = Pool::new(2);
        for isa in [Isa::Scalar, Isa::detect()] {
            let mut got = x.clone();
            norm.add_in_place(&mut got, &y, isa, &pool);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-5, "{isa}: {g} vs {w}");
            }
        }
    }
}

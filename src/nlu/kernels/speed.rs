//! Kernel speed for `madoguchi bench`: GFLOP/s of the linear layers at the encoder's shapes, and
//! the machine's peak for the same instructions, measured with a register-only loop (int8 counts
//! two operations per multiply-add, like f32 FMA).
// Kernel loops index several arrays in step; iterators would hide the register blocking.
#![allow(clippy::needless_range_loop)]
use std::time::{Duration, Instant};

use super::dispatch::{Isa, Kernels, Precision};
use super::epilogue::Epilogue;
use super::linear::{Linear, Scratch};
use super::pool::Pool;

/// How long each measurement runs.
const MEASURE: Duration = Duration::from_millis(300);

/// GFLOP/s of one `[m, k] × [k, n]` linear layer with `kernels` on `pool` (best of a few rounds).
pub fn linear_gflops(kernels: Kernels, pool: &Pool, m: usize, n: usize, k: usize) -> f64 {
    let wave = |len: usize, seed: usize| -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7919 + seed) % 1999) as f32 / 999.5 - 1.0)
            .collect()
    };
    let lin = Linear::new(&wave(n * k, 1), &wave(n, 2), n, k, kernels);
    let x = wave(m * k, 3);
    let mut out = vec![0f32; m * n];
    let mut scratch = Scratch::default();
    let mut run = || {
        lin.forward(
            &x,
            m,
            &mut out,
            Epilogue::Bias,
            kernels.isa,
            pool,
            &mut scratch,
        );
    };
    run();
    let (mut calls, start) = (0u64, Instant::now());
    while start.elapsed() < MEASURE {
        run();
        calls += 1;
    }
    (2 * m * n * k) as f64 * calls as f64 / start.elapsed().as_secs_f64() / 1e9
}

/// Peak GFLOP/s of one core for the multiply-add instruction `kernels` relies on (`None` for the
/// scalar path).
pub fn peak_gflops_per_core(kernels: Kernels) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        let (ops_per_call, run): (f64, unsafe fn(u64)) = match (kernels.precision, kernels.isa) {
            (_, Isa::Scalar) => return None,
            (Precision::F32, _) => (12.0 * 8.0 * 2.0, peak::fma_f32),
            (Precision::Int8, Isa::Avx2) => (12.0 * 32.0 * 2.0, peak::maddubs),
            (Precision::Int8, Isa::Avx512Vnni) => (12.0 * 64.0 * 2.0, peak::vnni),
        };
        const ITERS: u64 = 100_000;
        // SAFETY: the instruction set was detected on this CPU.
        unsafe { run(ITERS) };
        let (mut rounds, start) = (0u64, Instant::now());
        while start.elapsed() < MEASURE / 3 {
            unsafe { run(ITERS) };
            rounds += 1;
        }
        let ops = ops_per_call * (ITERS * rounds) as f64;
        Some(ops / start.elapsed().as_secs_f64() / 1e9)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = kernels;
        None
    }
}

/// Register-only loops of twelve independent accumulators: the instruction's throughput bound.
#[cfg(target_arch = "x86_64")]
mod peak {
    use std::arch::x86_64::*;
    use std::hint::black_box;

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn fma_f32(iters: u64) {
        let (a, b) = (
            black_box(_mm256_set1_ps(0.999)),
            black_box(_mm256_set1_ps(1e-3)),
        );
        let mut c = [_mm256_setzero_ps(); 12];
        for _ in 0..iters {
            for acc in c.iter_mut() {
                *acc = _mm256_fmadd_ps(a, *acc, b);
            }
        }
        black_box(c);
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn maddubs(iters: u64) {
        let (a, b) = (
            black_box(_mm256_set1_epi8(3)),
            black_box(_mm256_set1_epi8(-2)),
        );
        let ones = _mm256_set1_epi16(1);
        let mut c = [_mm256_setzero_si256(); 12];
        for _ in 0..iters {
            for acc in c.iter_mut() {
                let abs = _mm256_abs_epi8(a);
                let pairs = _mm256_maddubs_epi16(abs, _mm256_sign_epi8(b, a));
                *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(pairs, ones));
            }
        }
        black_box(c);
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn vnni(iters: u64) {
        let (a, b) = (
            black_box(_mm512_set1_epi8(3)),
            black_box(_mm512_set1_epi8(-2)),
        );
        let mut c = [_mm512_setzero_si512(); 12];
        for _ in 0..iters {
            for acc in c.iter_mut() {
                *acc = _mm512_dpbusd_epi32(*acc, a, b);
            }
        }
        black_box(c);
    }
}

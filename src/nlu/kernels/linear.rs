//! [`Linear`]: `y = x Wᵀ + b` (optionally followed by GELU) with weights packed at load time for
//! the encoder's [`Kernels`], computed across a [`Pool`] one panel of output columns per task.
use super::dispatch::{Isa, Kernels, Precision};
use super::int8::{QuantLinear, QuantRows};
use super::pool::Pool;
use crate::nlu::packed::PackedLinear;

/// What happens to `x Wᵀ + b` before it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epilogue {
    Bias,
    /// GELU (erf form) after the bias: the feed-forward block's first layer.
    BiasGelu,
}

impl Epilogue {
    #[inline(always)]
    pub fn apply(self, y: f32) -> f32 {
        match self {
            Self::Bias => y,
            Self::BiasGelu => {
                0.5 * y * (1.0 + crate::nlu::bert::erf(y * std::f32::consts::FRAC_1_SQRT_2))
            }
        }
    }
}

/// A linear layer in the precision of the encoder's kernels.
pub enum Linear {
    F32(PackedLinear),
    Int8(QuantLinear),
}

/// Buffers a [`Linear`] reuses between calls (quantized activations).
#[derive(Default)]
pub struct Scratch {
    rows: QuantRows,
}

impl Linear {
    /// `weight` is `[n, k]` row-major (the PyTorch/safetensors layout), `bias` is `[n]`.
    pub fn new(weight: &[f32], bias: &[f32], n: usize, k: usize, kernels: Kernels) -> Self {
        match kernels.precision {
            Precision::F32 => Self::F32(PackedLinear::new(weight, bias, n, k)),
            Precision::Int8 => Self::Int8(QuantLinear::new(weight, bias, n, k)),
        }
    }

    pub fn out_features(&self) -> usize {
        match self {
            Self::F32(l) => l.out_features(),
            Self::Int8(l) => l.out_features(),
        }
    }

    pub fn in_features(&self) -> usize {
        match self {
            Self::F32(l) => l.in_features(),
            Self::Int8(l) => l.in_features(),
        }
    }

    /// `x` is `[m, in]` row-major; writes `[m, out]` into `out`.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        x: &[f32],
        m: usize,
        out: &mut [f32],
        epilogue: Epilogue,
        isa: Isa,
        pool: &Pool,
        scratch: &mut Scratch,
    ) {
        assert!(
            x.len() >= m * self.in_features() && out.len() >= m * self.out_features(),
            "this is a bug: linear layer buffers too small"
        );
        match self {
            Self::F32(l) => l.forward_into(x, m, out, epilogue, isa, pool),
            Self::Int8(l) => {
                scratch.rows.quantize(x, m, l.in_features(), isa);
                l.forward_into(&scratch.rows, out, epilogue, isa, pool);
            }
        }
    }
}

/// A raw output pointer shared by the panel tasks of one call.
#[derive(Clone, Copy)]
pub(crate) struct OutPtr(pub *mut f32);
// SAFETY: each task writes a disjoint set of (row, column) elements of the output of one call,
// which outlives the call.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

//! [`Linear`]: `y = x Wᵀ + b` (optionally followed by GELU) with weights packed at load time for
//! the encoder's [`Kernels`], computed across a [`Pool`] one panel of output columns per task.
use super::dispatch::{Isa, Kernels, Precision};
use super::epilogue::Epilogue;
use super::fp32::PackedLinear;
use super::int8::{QuantLinear, QuantRows};
use super::pool::Pool;

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
                scratch.rows.quantize(x, m, l.in_features(), isa, pool);
                l.forward_into(&scratch.rows, out, epilogue, isa, pool);
            }
        }
    }
}

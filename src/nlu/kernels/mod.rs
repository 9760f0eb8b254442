//! Compute kernels of the encoder's transformer layers, chosen once at load time by CPU features.
//!
//! - [`dispatch`]: which precision (f32, int8) and instruction set (AVX-512 VNNI, AVX2, scalar)
//!   the encoder runs, from the CPU and the `--precision` / `--cpu` options.
//! - [`linear`]: a linear layer with weights packed at load time for the chosen kernel;
//!   [`fp32`] holds the f32 kernels, [`int8`] the quantized ones, [`epilogue`] what they share.
//! - [`attention`]: QKᵀ, softmax and ·V over all heads in one pass; [`norm`]: residual + layer norm.
//! - [`pool`]: a small persistent thread pool, so one message uses every core; [`speed`]: GFLOP/s
//!   of the kernels and of the machine, for `madoguchi bench`.
pub mod attention;
pub mod dispatch;
pub mod epilogue;
pub mod fp32;
pub mod int8;
pub mod linear;
pub mod norm;
pub mod pool;
pub mod speed;

pub use dispatch::{CpuLimit, Isa, Kernels, Precision, PrecisionChoice};
pub use epilogue::Epilogue;
pub use linear::Linear;
pub use pool::Pool;

#[cfg(test)]
mod parity;

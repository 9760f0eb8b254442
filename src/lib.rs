//! madoguchi (窓口, "the service counter"): a self-hosted customer-service chatbot.
//!
//! The crate is split by stage, and dependencies only point downwards:
//!
//! - [`api`]: the HTTP service (customer, agent and developer APIs); [`config`] its settings,
//!   [`telemetry`] its logs and metrics.
//! - [`web`]: the web pages (chat widget, demo shop, agent console), served with the API.
//! - [`channels`]: messaging channels (LINE) on the conversation service, like the API and pages.
//! - [`cli`]: the `madoguchi` command line (thin: parse, call a stage, print).
//! - [`studio`]: the support lead's services (train, publish, roll back, audit).
//! - [`conversation`]: the conversation service every channel calls (turns, agent actions, live
//!   events, the webhook outbox).
//! - [`dialogue`]: the per-turn decision (answer, clarify, ask for a detail, hand off), templates,
//!   entities and the handoff summary.
//! - [`eval`]: benchmark datasets, metrics and reports for `madoguchi eval`.
//! - [`nlu`]: the encoder (candle BERT), the trained intent classifier, the trainer.
//! - [`catalog`]: what the bot knows (`intents/`) and what customers say (`training-data/`).
//! - [`domain`]: the typed domain every layer shares (intent names, locales, statuses, reasons).
//! - [`store`]: conversations, messages, handoffs and feedback in SQLite or PostgreSQL.
pub mod api;
pub mod catalog;
pub mod channels;
pub mod cli;
pub mod config;
pub mod conversation;
pub mod dialogue;
pub mod domain;
pub mod eval;
pub mod nlu;
pub mod store;
pub mod studio;
pub mod telemetry;
pub mod web;

#[cfg(test)]
mod fuzz;

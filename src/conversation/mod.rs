//! (placeholder)
pub mod kpis;

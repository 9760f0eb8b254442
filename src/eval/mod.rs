//! Evaluation: public benchmark datasets, metrics, and the reports `madoguchi eval` prints.
pub mod datasets;
pub mod metrics;
pub mod runner;
pub mod finetune;
pub mod oos;

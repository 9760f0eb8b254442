//! Evaluation: public benchmark datasets, metrics, and the reports `madoguchi eval` prints.
pub mod datasets;
pub mod finetune;
pub mod metrics;
pub mod oos;
pub mod runner;

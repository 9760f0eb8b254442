//! The support lead's studio: the application services behind `/studio` and the model CLI.
//!
//! - `models`: [`ModelService`], the model this replica serves (publish, roll back, follow the
//!   database); `publishing`: what the database records, shared with the CLI; `models_error`:
//!   [`ModelError`].
//! - `audit`: the audit log; `models_api_doc`: the OpenAPI description of the model endpoints.
//! - `training`: background training runs (`training_state`: their status); `report`: the compare report and the dial;
//!   `regression`: the pinned messages every candidate is checked against.
//!
//! Layering: api / web / cli → `studio` → conversation → dialogue → nlu / catalog → store.
pub mod audit;
pub mod models;
pub mod models_api_doc;
pub mod models_error;
pub mod publishing;
pub mod regression;
pub mod report;
pub mod training;
pub mod training_state;

pub use models::{ModelPaths, ModelService};
pub use models_error::ModelError;

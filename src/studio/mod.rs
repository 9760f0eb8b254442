//! The support lead's studio: the application services behind `/studio` and the model CLI.
//!
//! - `models`: [`ModelService`], the model this replica serves (publish, roll back, follow the
//!   database); `publishing`: what the database records, shared with the CLI; `models_error`:
//!   [`ModelError`].
//! - `training`: background training runs.
//!
//! Layering: api / web / cli → `studio` → conversation → dialogue → nlu / catalog → store.
pub mod models;
pub mod models_error;
pub mod publishing;
pub mod training;

pub use models::{ModelPaths, ModelService};
pub use models_error::ModelError;

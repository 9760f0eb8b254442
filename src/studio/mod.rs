//! The support lead's studio (issue 9): the application services behind `/studio` and the model
//! CLI, between the faces (`web`, `api`, `cli`) and the conversation service.
//!
//! - `workspace`: [`Studio`] — the catalog / training-data / models directories, the file lock and
//!   the embedding cache; `edit_error`: [`EditError`].
//! - `inbox`: the annotation inbox (missed messages, filters, near-duplicate groups); `label`:
//!   what a lead does with them (assign, out of scope, ignore, new intent, undo); `mask`: personal
//!   data masked before a message becomes training data.
//! - `intents`: browse, check, preview and save intents and templates; `try_it`: what the bot would
//!   do with a message, and why.
//! - `models`: [`ModelService`], the model this replica serves (publish, roll back, follow the
//!   database); `publishing`: what the database records, shared with the CLI; `models_error`:
//!   [`ModelError`].
//! - `training`: background training runs (`training_state`: their status); `report`: the
//!   compare report and the dial; `regression`: the pinned messages every candidate is checked
//!   against.
//! - `audit`: the audit log; `models_api_doc`: the OpenAPI description of the model endpoints.
//! - `kpis`: the KPI dashboard's figures over a date range, locale and channel.
//!
//! Layering: api / web / cli → `studio` → conversation → dialogue → nlu / catalog → store.
pub mod audit;
pub mod edit_error;
pub mod inbox;
pub mod intents;
pub mod kpis;
pub mod label;
pub mod mask;
pub mod models;
pub mod models_api_doc;
pub mod models_error;
pub mod publishing;
pub mod regression;
pub mod report;
pub mod training;
pub mod training_state;
pub mod try_it;
pub mod workspace;

pub use edit_error::EditError;
pub use models::{ModelPaths, ModelService};
pub use models_error::ModelError;
pub use workspace::{Studio, Workspace};

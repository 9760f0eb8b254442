//! The support lead's studio (issue 9): the application logic behind `/studio`, between the faces
//! (`web`, `api`, `cli`) and the conversation service.
//!
//! - `workspace`: [`Studio`] — the catalog / training-data / models directories, the file lock and
//!   the embedding cache; `edit_error`: [`EditError`].
//! - `inbox`: the annotation inbox (missed messages, filters, near-duplicate groups); `label`:
//!   what a lead does with them (assign, out of scope, ignore, new intent, undo); `mask`: personal
//!   data masked before a message becomes training data.
//! - `intents`: browse, check, preview and save intents and templates; `try_it`: what the bot would
//!   do with a message, and why.
pub mod edit_error;
pub mod inbox;
pub mod intents;
pub mod label;
pub mod mask;
pub mod try_it;
pub mod workspace;

pub use edit_error::EditError;
pub use workspace::{Studio, Workspace};

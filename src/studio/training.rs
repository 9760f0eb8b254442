//! Training runs started from the studio: one at a time, in the background, with live progress.
use std::sync::Mutex;

/// The one training run of this replica (see [`super::ModelService`]).
#[derive(Default)]
pub struct TrainingSlot {
    #[allow(dead_code)]
    state: Mutex<()>,
}

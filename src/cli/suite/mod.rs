//! The conversation suite (`madoguchi eval --conversations DIR`): scripted multi-turn
//! conversations in YAML (`spec`), played against the real model through the same conversation
//! service as every channel (`play`), scored into a pass table by category (`report`).
mod play;
mod report;
mod spec;

pub use play::play_suite;
pub use spec::load_suite;

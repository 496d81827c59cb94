//! Commands of the `facematch` binary that are more than a call into the library: each owns its
//! arguments' meaning, its output and its failures.
pub mod bundle;
pub mod calibrate;
pub mod eval;

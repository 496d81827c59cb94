//! The compare service: the one sequence every two-photo API runs (analyse both photos → choose
//! each photo's face → count the faces a person would count → cosine → calibrated score). It
//! returns a typed outcome or a typed failure that names the photo; each API's dialect (in its own
//! file) turns those into its vendor's body and status. A check every route needs goes here, once.
use crate::calibration::Calibrated;
use crate::engine::{Analysis, Comparison};
use crate::error::Error;

use super::AppState;

/// Which of the two photos of a request: each dialect names it with its own field name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    A,
    B,
}

impl Slot {
    /// The dialect's name for this photo, from its (first, second) field names.
    pub fn name(self, names: (&'static str, &'static str)) -> &'static str {
        match self {
            Slot::A => names.0,
            Slot::B => names.1,
        }
    }
}

/// Why a comparison could not be made: which photo, and the engine's typed error
/// ([`Error::NoFace`] when the photo decoded but holds no face).
#[derive(Debug)]
pub struct CompareError {
    pub slot: Slot,
    pub error: Error,
}

/// One photo of the pair as the engine saw it.
#[derive(Debug)]
pub struct Side {
    pub analysis: Analysis,
    /// Faces a person would count (the chosen one included; see [`Analysis::prominent_faces`]).
    pub prominent: usize,
}

/// Both faces found: how alike they are.
#[derive(Debug, Clone, Copy)]
pub struct Scored {
    pub similarity: f32,
    /// The calibrated score s = -log10(FMR)/6 in [0, 1]; 0 when the pack is not calibrated.
    pub score: f32,
    pub calibrated: Option<Calibrated>,
    /// The deployment's decision: s at or above its threshold.
    pub is_match: bool,
}

/// The outcome of a two-photo request: both analyses and, when both photos hold a face, the score.
#[derive(Debug)]
pub struct Pair {
    pub a: Side,
    pub b: Side,
    pub scored: Option<Scored>,
}

impl Pair {
    /// The score, or [`Error::NoFace`] for the first photo without a face.
    pub fn require_faces(&self) -> Result<Scored, CompareError> {
        match self.scored {
            Some(s) => Ok(s),
            None => Err(CompareError { slot: if self.a.analysis.chosen.is_none() { Slot::A } else { Slot::B }, error: Error::NoFace }),
        }
    }

    /// A photo holds another person of comparable size (Cashfree's `MULTIPLE_FACE_DETECTED`).
    pub fn several_faces(&self) -> bool {
        self.a.prominent > 1 || self.b.prominent > 1
    }

    pub fn sides(&self) -> [(Slot, &Side); 2] {
        [(Slot::A, &self.a), (Slot::B, &self.b)]
    }
}

/// Analyses both photos (in parallel on two workers) and scores their chosen faces, deciding at the
/// deployment's threshold. An unusable photo, a busy engine or an internal failure is an error
/// naming the photo (the first photo's when both fail); a photo without a face is not: its side has
/// no chosen face and `scored` is `None` (some vendors answer 200 for that).
pub async fn compare(state: &AppState, a: Vec<u8>, b: Vec<u8>) -> Result<Pair, CompareError> {
    let (ra, rb) = super::analyse_pair(&state.engine, a, b).await.map_err(|error| CompareError { slot: Slot::A, error })?;
    let a = ra.map_err(|error| CompareError { slot: Slot::A, error })?;
    let b = rb.map_err(|error| CompareError { slot: Slot::B, error })?;
    let share = state.config.prominent_face_share;
    let (prominent_a, prominent_b) = (state.engine.prominent_faces(&a, share), state.engine.prominent_faces(&b, share));
    let c = Comparison::of(a, b);
    let scored = c.similarity.map(|similarity| {
        let calibrated = state.engine.pack().manifest.calibrated(similarity);
        let score = calibrated.map_or(0.0, |k| k.score);
        Scored { similarity, score, calibrated, is_match: score >= state.config.match_threshold }
    });
    Ok(Pair { a: Side { analysis: c.a, prominent: prominent_a }, b: Side { analysis: c.b, prominent: prominent_b }, scored })
}

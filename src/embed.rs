//! Face embedding: aligned crop → CHW tensor → model → L2-normalized vector.
use image::RgbImage;

use crate::backend::Session;
use crate::error::{Error, Result};
use crate::letterbox::write_chw;
use crate::manifest::{EmbedderSpec, Tta};

pub struct Embedder {
    session: Box<dyn Session>,
    spec: EmbedderSpec,
    buffer: Vec<f32>,
}

impl Embedder {
    pub fn new(session: Box<dyn Session>, spec: EmbedderSpec) -> Result<Embedder> {
        if session.output_names().is_empty() {
            return Err(Error::ModelOutput { model: spec.model.file.clone(), reason: "the embedder has no output".into() });
        }
        Ok(Embedder { session, spec, buffer: Vec::new() })
    }

    pub fn spec(&self) -> &EmbedderSpec {
        &self.spec
    }

    /// The input tensor of an aligned crop (for measuring the model alone).
    pub fn prepare(&mut self, crop: &RgbImage) -> Vec<f32> {
        let size = self.spec.input_size as usize;
        write_chw(crop.as_raw(), size, size, (size, size), self.spec.color_order, self.spec.mean, self.spec.std, &mut self.buffer);
        self.buffer.clone()
    }

    /// Runs the model alone on a prepared tensor (the model-only bound).
    pub fn run_tensor(&mut self, tensor: &[f32]) -> Result<usize> {
        let size = self.spec.input_size as usize;
        let mut n = 0;
        self.session.run(tensor, [1, 3, size, size], &mut |out| {
            n = out[0].len();
            Ok(())
        })?;
        Ok(n)
    }

    /// Embeds one aligned crop (`input_size` square) into a unit vector of `dim` values; with flip
    /// test-time augmentation, the sum of the crop's and its mirror's outputs, normalized.
    pub fn embed(&mut self, crop: &RgbImage) -> Result<Vec<f32>> {
        let size = self.spec.input_size as usize;
        if crop.dimensions() != (size as u32, size as u32) {
            return Err(Error::Internal(format!("aligned crop is {:?}, expected {size}x{size}", crop.dimensions())));
        }
        let mut sum = self.infer(crop)?;
        if self.spec.tta == Tta::Flip {
            let mirrored = image::imageops::flip_horizontal(crop);
            sum.iter_mut().zip(self.infer(&mirrored)?).for_each(|(s, m)| *s += m);
        }
        l2_normalized(&sum)
            .ok_or_else(|| Error::ModelOutput { model: self.spec.model.file.clone(), reason: "embedding is zero or not finite".into() })
    }

    /// The model's raw output for one crop.
    fn infer(&mut self, crop: &RgbImage) -> Result<Vec<f32>> {
        let size = self.spec.input_size as usize;
        write_chw(crop.as_raw(), size, size, (size, size), self.spec.color_order, self.spec.mean, self.spec.std, &mut self.buffer);
        let (spec, mut embedding) = (&self.spec, Vec::new());
        self.session.run(&self.buffer, [1, 3, size, size], &mut |out| {
            if out[0].len() != spec.dim {
                return Err(Error::ModelOutput {
                    model: spec.model.file.clone(),
                    reason: format!("embedding has {} values, the pack says dim = {}", out[0].len(), spec.dim),
                });
            }
            embedding = out[0].to_vec();
            Ok(())
        })?;
        Ok(embedding)
    }
}

pub fn l2_normalized(v: &[f32]) -> Option<Vec<f32>> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !norm.is_finite() || norm <= 0.0 {
        return None;
    }
    Some(v.iter().map(|x| x / norm).collect())
}

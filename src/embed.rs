//! Face embedding: aligned crop → CHW tensor → model → L2-normalized vector.
use image::RgbImage;
use ort::session::Session;
use ort::value::TensorRef;

use crate::error::{Error, Result};
use crate::letterbox::write_chw;
use crate::manifest::{EmbedderSpec, Tta};

pub struct Embedder {
    session: Session,
    spec: EmbedderSpec,
    input_name: String,
    buffer: Vec<f32>,
}

impl Embedder {
    pub fn new(session: Session, spec: EmbedderSpec) -> Result<Embedder> {
        let input_name = session
            .inputs()
            .first()
            .map(|i| i.name().to_string())
            .ok_or_else(|| Error::ModelOutput { model: spec.model.file.clone(), reason: "the embedder has no input".into() })?;
        Ok(Embedder { session, spec, input_name, buffer: Vec::new() })
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
        let input = TensorRef::from_array_view(([1usize, 3, size, size], tensor))?;
        let outputs = self.session.run(ort::inputs![self.input_name.as_str() => input])?;
        Ok(outputs[0].try_extract_tensor::<f32>()?.1.len())
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
        let input = TensorRef::from_array_view(([1usize, 3, size, size], self.buffer.as_slice()))?;
        let outputs = self.session.run(ort::inputs![self.input_name.as_str() => input])?;
        let (_, data) = outputs[0].try_extract_tensor::<f32>()?;
        if data.len() != self.spec.dim {
            return Err(Error::ModelOutput {
                model: self.spec.model.file.clone(),
                reason: format!("embedding has {} values, the pack says dim = {}", data.len(), self.spec.dim),
            });
        }
        Ok(data.to_vec())
    }
}

pub fn l2_normalized(v: &[f32]) -> Option<Vec<f32>> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !norm.is_finite() || norm <= 0.0 {
        return None;
    }
    Some(v.iter().map(|x| x / norm).collect())
}

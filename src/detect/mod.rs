//! Face detection: letterbox, run the detector, decode its outputs (per detector kind), NMS, and map
//! boxes and landmarks back to the original image's pixels.
pub mod nms;
pub mod scrfd;
pub mod yunet;

use image::RgbImage;
use ort::session::Session;
use ort::value::TensorRef;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::letterbox::{letterbox, Letterboxed};
use crate::manifest::{DetectorKind, DetectorSpec};

/// One detected face in original-image pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Face {
    /// `[x1, y1, x2, y2]`; may reach outside the image for faces cut by the border.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    pub score: f32,
    /// Right eye, left eye, nose tip, right and left mouth corner (subject's right = image left).
    pub landmarks: [[f32; 2]; 5],
}

impl Face {
    /// Box area after clipping to the image: a partial face at the border whose box runs far outside
    /// the frame must not beat the real subject.
    pub fn clipped_area(&self, width: u32, height: u32) -> f32 {
        let (w, h) = (width as f32, height as f32);
        let x1 = self.bbox[0].clamp(0.0, w);
        let y1 = self.bbox[1].clamp(0.0, h);
        let x2 = self.bbox[2].clamp(0.0, w);
        let y2 = self.bbox[3].clamp(0.0, h);
        (x2 - x1).max(0.0) * (y2 - y1).max(0.0)
    }

    fn map_back(mut self, lb: &Letterboxed) -> Face {
        for i in 0..4 {
            self.bbox[i] *= if i % 2 == 0 { lb.scale_x } else { lb.scale_y };
        }
        for p in &mut self.landmarks {
            p[0] *= lb.scale_x;
            p[1] *= lb.scale_y;
        }
        self
    }
}

/// What the detector found in one image.
#[derive(Debug, Clone, Default)]
pub struct Detections {
    /// Faces at or above the detector's threshold, largest (clipped area) first.
    pub faces: Vec<Face>,
    /// The best detection between the fallback floor and the threshold, kept for when `faces` is empty.
    pub fallback: Option<Face>,
}

pub struct Detector {
    session: Session,
    spec: DetectorSpec,
    input_name: String,
    output_names: Vec<String>,
    buffer: Vec<f32>,
}

impl Detector {
    pub fn new(session: Session, spec: DetectorSpec) -> Result<Detector> {
        let input_name = session
            .inputs()
            .first()
            .map(|i| i.name().to_string())
            .ok_or_else(|| Error::ModelOutput { model: spec.model.file.clone(), reason: "the detector has no input".into() })?;
        let output_names: Vec<String> = session.outputs().iter().map(|o| o.name().to_string()).collect();
        if output_names.len() < 9 {
            return Err(Error::ModelOutput {
                model: spec.model.file.clone(),
                reason: format!("expected at least 9 outputs (3 strides x score/box/keypoints), found {}", output_names.len()),
            });
        }
        Ok(Detector { session, spec, input_name, output_names, buffer: Vec::new() })
    }

    pub fn spec(&self) -> &DetectorSpec {
        &self.spec
    }

    /// The letterboxed input tensor of an image (for measuring the model alone).
    pub fn prepare(&mut self, img: &RgbImage) -> Result<Vec<f32>> {
        letterbox(img, self.spec.input_size, self.spec.color_order, self.spec.mean, self.spec.std, &mut self.buffer)?;
        Ok(self.buffer.clone())
    }

    /// Runs the model alone on a prepared tensor and reads its outputs (the model-only bound).
    pub fn run_tensor(&mut self, tensor: &[f32]) -> Result<usize> {
        let size = self.spec.input_size as usize;
        let input = TensorRef::from_array_view(([1usize, 3, size, size], tensor))?;
        let outputs = self.session.run(ort::inputs![self.input_name.as_str() => input])?;
        let mut n = 0;
        for name in &self.output_names {
            n += outputs[name.as_str()].try_extract_tensor::<f32>()?.1.len();
        }
        Ok(n)
    }

    pub fn detect(&mut self, img: &RgbImage) -> Result<Detections> {
        let size = self.spec.input_size;
        let lb = letterbox(img, size, self.spec.color_order, self.spec.mean, self.spec.std, &mut self.buffer)?;
        let floor = self.spec.fallback_floor.min(self.spec.score_threshold);
        let shape = [1usize, 3, size as usize, size as usize];
        let input = TensorRef::from_array_view((shape, self.buffer.as_slice()))?;
        let outputs = self.session.run(ort::inputs![self.input_name.as_str() => input])?;
        let mut tensors: Vec<&[f32]> = Vec::with_capacity(self.output_names.len());
        for name in &self.output_names {
            let (_, data) = outputs[name.as_str()].try_extract_tensor::<f32>()?;
            tensors.push(data);
        }
        let model = &self.spec.model.file;
        let raw = match self.spec.kind {
            DetectorKind::Yunet => yunet::decode(&self.output_names, &tensors, size, floor, model)?,
            DetectorKind::Scrfd => scrfd::decode(&tensors, size, floor, model)?,
        };
        let kept = nms::nms(raw, self.spec.nms_iou, self.spec.top_k);
        let (w, h) = img.dimensions();
        let mut faces = Vec::new();
        let mut fallback: Option<Face> = None;
        for face in kept.into_iter().map(|f| f.map_back(&lb)) {
            if face.score >= self.spec.score_threshold {
                faces.push(face);
            } else if fallback.is_none_or(|b| face.score > b.score) {
                fallback = Some(face);
            }
        }
        faces.sort_by(|a, b| b.clipped_area(w, h).total_cmp(&a.clipped_area(w, h)));
        Ok(Detections { faces, fallback })
    }
}

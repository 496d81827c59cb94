//! Face detection: letterbox, run the detector, decode its outputs (per detector kind), NMS, and map
//! boxes and landmarks back to the original image's pixels.
pub mod nms;
pub mod scrfd;
pub mod yunet;

use image::RgbImage;
use serde::Serialize;

use crate::backend::Session;
use crate::error::{Error, Result};
use crate::letterbox::{self, Letterboxed};
use crate::manifest::{DetectorKind, DetectorSpec, FreeInput, Refine};

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
            self.bbox[i] = if i % 2 == 0 { lb.offset_x + self.bbox[i] * lb.scale_x } else { lb.offset_y + self.bbox[i] * lb.scale_y };
        }
        for p in &mut self.landmarks {
            p[0] = lb.offset_x + p[0] * lb.scale_x;
            p[1] = lb.offset_y + p[1] * lb.scale_y;
        }
        self
    }
}

/// One detector input tensor (CHW floats) with its (width, height).
pub type InputTensor = (Vec<f32>, (u32, u32));

/// What the detector found in one image.
#[derive(Debug, Clone, Default)]
pub struct Detections {
    /// Faces at or above the detector's threshold, largest (clipped area) first.
    pub faces: Vec<Face>,
    /// The best detection between the fallback floor and the threshold, kept for when `faces` is empty.
    pub fallback: Option<Face>,
}

pub struct Detector {
    session: Box<dyn Session>,
    spec: DetectorSpec,
    output_names: Vec<String>,
    buffer: Vec<f32>,
    /// While `prepare` runs: a copy of every input tensor.
    recorded: Option<Vec<InputTensor>>,
}

impl Detector {
    pub fn new(session: Box<dyn Session>, spec: DetectorSpec) -> Result<Detector> {
        let output_names = session.output_names().to_vec();
        if output_names.len() < 9 {
            return Err(Error::ModelOutput {
                model: spec.model.file.clone(),
                reason: format!("expected at least 9 outputs (3 strides x score/box/keypoints), found {}", output_names.len()),
            });
        }
        check_input_shape(&session.input_dims(), &spec)?;
        Ok(Detector { session, spec, output_names, buffer: Vec::new(), recorded: None })
    }

    pub fn spec(&self) -> &DetectorSpec {
        &self.spec
    }

    /// Every input tensor `detect` runs the model on for this image (first pass, the retry at full
    /// size, the second look), each with its (width, height): for measuring the model alone.
    pub fn prepare(&mut self, img: &RgbImage) -> Result<Vec<InputTensor>> {
        self.recorded = Some(Vec::new());
        let detected = self.detect(img);
        let recorded = self.recorded.take().unwrap_or_default();
        detected.map(|_| recorded)
    }

    /// Runs the model alone on a prepared tensor and reads its outputs (the model-only bound).
    pub fn run_tensor(&mut self, tensor: &[f32], (width, height): (u32, u32)) -> Result<usize> {
        let mut n = 0;
        self.session.run(tensor, [1, 3, height as usize, width as usize], &mut |out| {
            n = out.iter().map(|t| t.len()).sum();
            Ok(())
        })?;
        Ok(n)
    }

    pub fn detect(&mut self, img: &RgbImage) -> Result<Detections> {
        let (mut found, first_scale) = self.detect_whole(img)?;
        if let Some(r) = self.spec.refine {
            // Only the landmarks are taken from the second look: the box and score stay the first
            // pass's, so faces are still ranked (largest first) on one scale.
            if let Some(face) = found.faces.first_mut().or(found.fallback.as_mut()) {
                if let Some(better) = self.refine(img, *face, r, first_scale)? {
                    face.landmarks = better.landmarks;
                }
            }
        }
        Ok(found)
    }

    /// The whole photo: at the pack's geometry, and, with a free input that found no confident face in
    /// a small photo, once more at the full input size (faces far from upright were found there more
    /// often). Returns the detections with the scale of the pass they come from.
    fn detect_whole(&mut self, img: &RgbImage) -> Result<(Detections, f32)> {
        let first = self.detect_at(img, self.spec.free_input)?;
        let Some(free) = self.spec.free_input else { return Ok(first) };
        let full = Some(FreeInput { min_side: self.spec.input_size, ..free });
        let (w, h) = img.dimensions();
        let same_pass =
            letterbox::plan(w, h, self.spec.input_size, self.spec.free_input) == letterbox::plan(w, h, self.spec.input_size, full);
        if !first.0.faces.is_empty() || same_pass {
            return Ok(first);
        }
        let second = self.detect_at(img, full)?;
        let better = |d: &Detections| (!d.faces.is_empty(), d.fallback.map_or(f32::MIN, |f| f.score));
        Ok(if better(&second.0) > better(&first.0) { second } else { first })
    }

    /// Looks again at one face, on a crop around it (`context` times its box) enlarged so the face is
    /// about `face_px`: the landmarks of a face the first pass saw small are more precise there. A crop
    /// is never shrunk below the photo's own pixels, and a face the first pass already saw at nearly
    /// that scale is left as it is.
    fn refine(&mut self, img: &RgbImage, face: Face, r: Refine, first_scale: f32) -> Result<Option<Face>> {
        let (w, h) = (img.width() as f32, img.height() as f32);
        let side = (face.bbox[2] - face.bbox[0]).max(face.bbox[3] - face.bbox[1]);
        if side.is_nan() || side <= 4.0 {
            return Ok(None);
        }
        let half = 0.5 * r.context * side;
        let (cx, cy) = (0.5 * (face.bbox[0] + face.bbox[2]), 0.5 * (face.bbox[1] + face.bbox[3]));
        let x0 = (cx - half).floor().clamp(0.0, w - 1.0);
        let y0 = (cy - half).floor().clamp(0.0, h - 1.0);
        let x1 = (cx + half).ceil().clamp(x0 + 1.0, w);
        let y1 = (cy + half).ceil().clamp(y0 + 1.0, h);
        let (rw, rh) = (x1 - x0, y1 - y0);
        let long = rw.max(rh);
        let max = self.spec.input_size as f32;
        let want = r.face_px / side;
        let scale = if want > 1.0 {
            // Enlarged: the crop's longest side goes to the nearest multiple of the stride, so the
            // canvas wastes nothing.
            ((long * want / 32.0).round() * 32.0).clamp(32.0, max) / long
        } else {
            (max / long).min(1.0)
        };
        if scale <= first_scale * 1.2 {
            return Ok(None);
        }
        let size = (((rw * scale).round() as u32).max(1), ((rh * scale).round() as u32).max(1));
        let canvas = (size.0.next_multiple_of(32), size.1.next_multiple_of(32));
        let faces = self.run(img, [x0 as u32, y0 as u32, rw as u32, rh as u32], size, canvas)?;
        let overlap = |f: &Face| nms::iou(&f.bbox, &face.bbox);
        Ok(faces.into_iter().filter(|f| overlap(f) > 0.5).max_by(|a, b| overlap(a).total_cmp(&overlap(b))))
    }

    /// One pass over the whole photo; returns its detections and the scale it ran at.
    fn detect_at(&mut self, img: &RgbImage, free: Option<FreeInput>) -> Result<(Detections, f32)> {
        let (w, h) = img.dimensions();
        let (size, canvas) = letterbox::plan(w, h, self.spec.input_size, free);
        let kept = self.run(img, [0, 0, w, h], size, canvas)?;
        let mut faces = Vec::new();
        let mut fallback: Option<Face> = None;
        for face in kept {
            if face.score >= self.spec.score_threshold {
                faces.push(face);
            } else if fallback.is_none_or(|b| face.score > b.score) {
                fallback = Some(face);
            }
        }
        faces.sort_by(|a, b| b.clipped_area(w, h).total_cmp(&a.clipped_area(w, h)));
        Ok((Detections { faces, fallback }, size.0 as f32 / w.max(1) as f32))
    }

    /// One detector pass over `region` resized to `size` on a `canvas`: every face at or above the
    /// fallback floor after NMS, in original-image pixels.
    fn run(&mut self, img: &RgbImage, region: letterbox::Region, size: (u32, u32), canvas: (u32, u32)) -> Result<Vec<Face>> {
        let s = &self.spec;
        let lb = letterbox::letterbox_region(img, region, size, canvas, s.color_order, s.mean, s.std, &mut self.buffer)?;
        if let Some(r) = self.recorded.as_mut() {
            r.push((self.buffer.clone(), (lb.width, lb.height)));
        }
        let floor = self.spec.fallback_floor.min(self.spec.score_threshold);
        let shape = [1usize, 3, lb.height as usize, lb.width as usize];
        let (spec, names, mut raw) = (&self.spec, &self.output_names, Vec::new());
        self.session.run(&self.buffer, shape, &mut |tensors| {
            let model = &spec.model.file;
            raw = match spec.kind {
                DetectorKind::Yunet => yunet::decode(names, tensors, (lb.width, lb.height), floor, model)?,
                DetectorKind::Scrfd => scrfd::decode(tensors, (lb.width, lb.height), floor, model)?,
            };
            Ok(())
        })?;
        Ok(nms::nms(raw, self.spec.nms_iou, self.spec.top_k).into_iter().map(|f| f.map_back(&lb)).collect())
    }
}

/// The manifest's input geometry must fit the model: a fixed input must be the declared square, and
/// `free_input` needs free (symbolic) height and width.
fn check_input_shape(shape: &[i64], spec: &DetectorSpec) -> Result<()> {
    if shape.is_empty() {
        return Ok(());
    }
    let bad = |reason: String| Error::ModelOutput { model: spec.model.file.clone(), reason };
    if shape.len() != 4 {
        return Err(bad(format!("the detector input has {} dimensions, expected 4 (NCHW)", shape.len())));
    }
    let (h, w) = (shape[2], shape[3]);
    let size = i64::from(spec.input_size);
    match spec.free_input {
        Some(_) if h > 0 || w > 0 => Err(bad(format!(
            "the manifest sets free_input, but the model's input is fixed at {h}x{w}; use a model with free height and width or drop free_input"
        ))),
        None if (h > 0 && h != size) || (w > 0 && w != size) => {
            Err(bad(format!("the model's input is fixed at {h}x{w}, but the manifest says input_size = {size}")))
        }
        _ => Ok(()),
    }
}

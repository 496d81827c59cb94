//! Detector input: resize the longest side to the network size (SIMD, antialiased bilinear), place
//! the result top-left on a zero canvas and write it as a normalized CHW float tensor.
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

use crate::error::{Error, Result};
use crate::manifest::ColorOrder;

/// How letterboxed coordinates map back to the original image: `x_orig = x · scale_x`.
#[derive(Debug, Clone, Copy)]
pub struct Letterboxed {
    pub scale_x: f32,
    pub scale_y: f32,
}

/// Fills `out` with a 1x3xSxS tensor of `img` letterboxed to `size`.
pub fn letterbox(img: &RgbImage, size: u32, order: ColorOrder, mean: f32, std: f32, out: &mut Vec<f32>) -> Result<Letterboxed> {
    let (w, h) = img.dimensions();
    let scale = size as f32 / w.max(h) as f32;
    let nw = ((w as f32 * scale).round() as u32).clamp(1, size);
    let nh = ((h as f32 * scale).round() as u32).clamp(1, size);
    let resized;
    let pixels: &[u8] = if (nw, nh) == (w, h) {
        img.as_raw()
    } else {
        let src = ImageRef::new(w, h, img.as_raw(), PixelType::U8x3).map_err(|e| Error::Internal(e.to_string()))?;
        let mut dst = Image::new(nw, nh, PixelType::U8x3);
        let options = ResizeOptions::new().resize_alg(ResizeAlg::Interpolation(FilterType::Bilinear));
        Resizer::new().resize(&src, &mut dst, &options).map_err(|e| Error::Internal(e.to_string()))?;
        resized = dst.into_vec();
        &resized
    };
    write_chw(pixels, nw as usize, nh as usize, size as usize, order, mean, std, out);
    Ok(Letterboxed { scale_x: w as f32 / nw as f32, scale_y: h as f32 / nh as f32 })
}

/// Writes interleaved RGB `pixels` (w x h) into the top-left of an S x S CHW canvas whose padding is
/// a zero pixel after normalization.
#[allow(clippy::too_many_arguments)]
pub fn write_chw(pixels: &[u8], w: usize, h: usize, size: usize, order: ColorOrder, mean: f32, std: f32, out: &mut Vec<f32>) {
    let plane = size * size;
    let pad = (0.0 - mean) / std;
    out.clear();
    out.resize(3 * plane, pad);
    let inv = 1.0 / std;
    let channel = |c: usize| match order {
        ColorOrder::Rgb => c,
        ColorOrder::Bgr => 2 - c,
    };
    let (c0, c1, c2) = (channel(0), channel(1), channel(2));
    let (p0, rest) = out.split_at_mut(plane);
    let (p1, p2) = rest.split_at_mut(plane);
    for y in 0..h {
        let row = &pixels[y * w * 3..(y + 1) * w * 3];
        let base = y * size;
        for (x, px) in row.chunks_exact(3).enumerate() {
            p0[base + x] = (px[c0] as f32 - mean) * inv;
            p1[base + x] = (px[c1] as f32 - mean) * inv;
            p2[base + x] = (px[c2] as f32 - mean) * inv;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letterboxes_top_left_with_order_and_padding() {
        let img = RgbImage::from_pixel(200, 100, image::Rgb([10, 20, 30]));
        let mut out = Vec::new();
        let lb = letterbox(&img, 64, ColorOrder::Bgr, 0.0, 1.0, &mut out).unwrap();
        assert_eq!(out.len(), 3 * 64 * 64);
        assert!((lb.scale_x - 200.0 / 64.0).abs() < 1e-6 && (lb.scale_y - 100.0 / 32.0).abs() < 1e-6);
        // BGR: plane 0 is blue.
        assert_eq!(out[0], 30.0);
        assert_eq!(out[64 * 64], 20.0);
        assert_eq!(out[2 * 64 * 64 + 31 * 64 + 63], 10.0);
        // Below the resized content: zero padding.
        assert_eq!(out[32 * 64], 0.0);
        let mut norm = Vec::new();
        letterbox(&img, 64, ColorOrder::Rgb, 127.5, 128.0, &mut norm).unwrap();
        assert!((norm[0] - (10.0 - 127.5) / 128.0).abs() < 1e-6);
        assert!((norm[40 * 64] - (-127.5 / 128.0)).abs() < 1e-6);
    }
}

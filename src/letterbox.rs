//! Detector input: resize the image (SIMD, antialiased bilinear), place the result top-left on a
//! zero canvas and write it as a normalized CHW float tensor. The canvas is the model's fixed square,
//! or, for a model whose input height and width are free, the resized image rounded up to the
//! network's stride: a 250x250 photo then costs a 256x256 pass instead of a 640x640 one.
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

use crate::error::{Error, Result};
use crate::manifest::{ColorOrder, FreeInput};

/// How letterboxed coordinates map back to the original image (`x_orig = offset_x + x · scale_x`),
/// and the canvas (network input) size.
#[derive(Debug, Clone, Copy)]
pub struct Letterboxed {
    pub scale_x: f32,
    pub scale_y: f32,
    pub offset_x: f32,
    pub offset_y: f32,
    pub width: u32,
    pub height: u32,
}

/// A rectangle of the image in whole pixels: `[x, y, width, height]`.
pub type Region = [u32; 4];

/// The resized image size and the canvas size for a `w` x `h` image: the longest side becomes
/// `max_side` on a square canvas, or, with a free input, is kept between `min_side` and `max_side`
/// and the canvas is the resized image rounded up to a multiple of the stride.
pub fn plan(w: u32, h: u32, max_side: u32, free: Option<FreeInput>) -> ((u32, u32), (u32, u32)) {
    let long = w.max(h).max(1);
    let target = match free {
        Some(f) => long.clamp(f.min_side.min(max_side), max_side),
        None => max_side,
    };
    let scale = target as f32 / long as f32;
    let nw = ((w as f32 * scale).round() as u32).clamp(1, target);
    let nh = ((h as f32 * scale).round() as u32).clamp(1, target);
    let canvas = match free {
        Some(f) => (nw.next_multiple_of(f.multiple), nh.next_multiple_of(f.multiple)),
        None => (max_side, max_side),
    };
    ((nw, nh), canvas)
}

/// Fills `out` with a 1x3xHxW tensor of `img` letterboxed as [`plan`] says.
#[allow(clippy::too_many_arguments)]
pub fn letterbox(
    img: &RgbImage,
    max_side: u32,
    free: Option<FreeInput>,
    order: ColorOrder,
    mean: f32,
    std: f32,
    out: &mut Vec<f32>,
) -> Result<Letterboxed> {
    let (w, h) = img.dimensions();
    let (size, canvas) = plan(w, h, max_side, free);
    letterbox_region(img, [0, 0, w, h], size, canvas, order, mean, std, out)
}

/// Resizes `region` of `img` to `size` and writes it top-left on a zero `canvas`, as a 1x3xHxW tensor.
#[allow(clippy::too_many_arguments)]
pub fn letterbox_region(
    img: &RgbImage,
    region: Region,
    size: (u32, u32),
    canvas: (u32, u32),
    order: ColorOrder,
    mean: f32,
    std: f32,
    out: &mut Vec<f32>,
) -> Result<Letterboxed> {
    let (w, h) = img.dimensions();
    let [rx, ry, rw, rh] = region;
    let (nw, nh) = size;
    if rw == 0 || rh == 0 || rx + rw > w || ry + rh > h || nw == 0 || nh == 0 || nw > canvas.0 || nh > canvas.1 {
        return Err(Error::Internal(format!("letterbox: region {region:?} or size {size:?} does not fit a {w}x{h} image on {canvas:?}")));
    }
    let resized;
    let pixels: &[u8] = if (rx, ry, rw, rh, nw, nh) == (0, 0, w, h, w, h) {
        img.as_raw()
    } else {
        let src = ImageRef::new(w, h, img.as_raw(), PixelType::U8x3).map_err(|e| Error::Internal(e.to_string()))?;
        let mut dst = Image::new(nw, nh, PixelType::U8x3);
        let options = ResizeOptions::new().resize_alg(ResizeAlg::Interpolation(FilterType::Bilinear)).crop(
            f64::from(rx),
            f64::from(ry),
            f64::from(rw),
            f64::from(rh),
        );
        Resizer::new().resize(&src, &mut dst, &options).map_err(|e| Error::Internal(e.to_string()))?;
        resized = dst.into_vec();
        &resized
    };
    write_chw(pixels, nw as usize, nh as usize, (canvas.0 as usize, canvas.1 as usize), order, mean, std, out);
    Ok(Letterboxed {
        scale_x: rw as f32 / nw as f32,
        scale_y: rh as f32 / nh as f32,
        offset_x: rx as f32,
        offset_y: ry as f32,
        width: canvas.0,
        height: canvas.1,
    })
}

/// Writes interleaved RGB `pixels` (w x h) into the top-left of a `canvas` (width, height) CHW tensor
/// whose padding is a zero pixel after normalization.
#[allow(clippy::too_many_arguments)]
pub fn write_chw(pixels: &[u8], w: usize, h: usize, canvas: (usize, usize), order: ColorOrder, mean: f32, std: f32, out: &mut Vec<f32>) {
    let (cw, ch) = canvas;
    let plane = cw * ch;
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
        let base = y * cw;
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
        let lb = letterbox(&img, 64, None, ColorOrder::Bgr, 0.0, 1.0, &mut out).unwrap();
        assert_eq!(out.len(), 3 * 64 * 64);
        assert!((lb.scale_x - 200.0 / 64.0).abs() < 1e-6 && (lb.scale_y - 100.0 / 32.0).abs() < 1e-6);
        // BGR: plane 0 is blue.
        assert_eq!(out[0], 30.0);
        assert_eq!(out[64 * 64], 20.0);
        assert_eq!(out[2 * 64 * 64 + 31 * 64 + 63], 10.0);
        // Below the resized content: zero padding.
        assert_eq!(out[32 * 64], 0.0);
        let mut norm = Vec::new();
        letterbox(&img, 64, None, ColorOrder::Rgb, 127.5, 128.0, &mut norm).unwrap();
        assert!((norm[0] - (10.0 - 127.5) / 128.0).abs() < 1e-6);
        assert!((norm[40 * 64] - (-127.5 / 128.0)).abs() < 1e-6);
    }

    #[test]
    fn free_input_keeps_small_images_and_rounds_to_the_stride() {
        let free = Some(FreeInput { min_side: 0, multiple: 32 });
        // An LFW photo keeps its size; the canvas is the next multiple of 32.
        assert_eq!(plan(250, 250, 640, free), ((250, 250), (256, 256)));
        // A large photo is scaled to 640 on its long side; the short side rounds up, not to 640.
        assert_eq!(plan(3000, 2171, 640, free), ((640, 463), (640, 480)));
        // A tiny one is enlarged to min_side.
        let free = Some(FreeInput { min_side: 320, multiple: 32 });
        assert_eq!(plan(100, 50, 640, free), ((320, 160), (320, 160)));
        // A fixed input is always the square.
        assert_eq!(plan(250, 250, 640, None), ((640, 640), (640, 640)));

        let img = RgbImage::from_pixel(250, 100, image::Rgb([10, 20, 30]));
        let mut out = Vec::new();
        let lb = letterbox(&img, 640, Some(FreeInput { min_side: 0, multiple: 32 }), ColorOrder::Rgb, 0.0, 1.0, &mut out).unwrap();
        assert_eq!((lb.width, lb.height), (256, 128));
        assert_eq!(out.len(), 3 * 256 * 128);
        assert_eq!((lb.scale_x, lb.scale_y), (1.0, 1.0));
        assert_eq!(out[99 * 256 + 249], 10.0);
        assert_eq!(out[99 * 256 + 250], 0.0);
    }

    #[test]
    fn a_region_maps_back_with_its_offset() {
        // A 10x10 white square at (40, 20) in a 100x50 image; the region around it enlarged 4x.
        let mut img = RgbImage::new(100, 50);
        for y in 20..30 {
            for x in 40..50 {
                img.put_pixel(x, y, image::Rgb([255, 255, 255]));
            }
        }
        let mut out = Vec::new();
        let lb = letterbox_region(&img, [35, 15, 20, 20], (80, 80), (96, 96), ColorOrder::Rgb, 0.0, 1.0, &mut out).unwrap();
        assert_eq!((lb.width, lb.height, lb.offset_x, lb.offset_y, lb.scale_x), (96, 96, 35.0, 15.0, 0.25));
        // Canvas (40, 40) is image (35 + 10, 15 + 10) = inside the square; canvas (4, 4) is outside.
        assert_eq!(out[40 * 96 + 40], 255.0);
        assert_eq!(out[4 * 96 + 4], 0.0);
        // Padding beyond the 80x80 content.
        assert_eq!(out[90 * 96 + 90], 0.0);
        assert!(letterbox_region(&img, [90, 0, 20, 20], (20, 20), (32, 32), ColorOrder::Rgb, 0.0, 1.0, &mut out).is_err());
    }
}

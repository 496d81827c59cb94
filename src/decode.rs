//! Image decoding: bytes in, upright 8-bit RGB out, with every size bounded before memory is spent.
use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};

use crate::error::{Error, Result};

/// Bounds applied to every image before and while it is decoded.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct DecodeLimits {
    /// Encoded size in bytes.
    pub max_bytes: usize,
    /// Decoded width × height: stops decompression bombs (a tiny PNG that inflates to gigabytes).
    pub max_pixels: u64,
    /// Longest side in pixels.
    pub max_dimension: u32,
    /// Shortest side in pixels: below this no face is usable.
    pub min_dimension: u32,
    /// Decoded size in bytes (width × height × channels × bytes a channel): a 16-bit RGBA photo
    /// takes 8 bytes a pixel, so the pixel bound alone does not bound memory.
    pub max_decoded_bytes: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_bytes: 15 * 1024 * 1024,
            max_pixels: 50_000_000,
            max_dimension: 16_384,
            min_dimension: 32,
            // 50 megapixels of 8-bit RGB, with room for an alpha channel.
            max_decoded_bytes: 200 * 1024 * 1024,
        }
    }
}

/// Decodes JPEG / PNG / WebP / BMP / GIF / TIFF, applies the EXIF orientation and converts gray,
/// RGBA and 16-bit images to 8-bit RGB (alpha is dropped, as OpenCV's `imread` does).
pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage> {
    if bytes.is_empty() {
        return Err(Error::EmptyImage);
    }
    if bytes.len() > limits.max_bytes {
        return Err(Error::ImageTooLarge { size: bytes.len(), limit: limits.max_bytes });
    }
    let reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|_| Error::UnsupportedFormat)?;
    if reader.format().is_none() {
        return Err(Error::UnsupportedFormat);
    }
    // JPEG decoders fill a truncated scan with gray and report success; a KYC comparison must not
    // run on half a face, so a JPEG must end its last scan with an EOI marker.
    if reader.format() == Some(image::ImageFormat::Jpeg) && !jpeg_is_complete(bytes) {
        return Err(Error::Truncated);
    }
    let mut reader = reader;
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(limits.max_dimension);
    image_limits.max_image_height = Some(limits.max_dimension);
    // The decoded buffer (checked exactly below), plus slack for the decoder's own state.
    image_limits.max_alloc = Some(limits.max_decoded_bytes.saturating_add(64 << 20));
    reader.limits(image_limits);
    let fail = |e| map_image_error(e, limits);
    let mut decoder = reader.into_decoder().map_err(fail)?;
    let (width, height) = decoder.dimensions();
    check_dimensions(width, height, limits)?;
    let bytes = decoder.total_bytes();
    if bytes > limits.max_decoded_bytes {
        return Err(Error::DecodedTooLarge { width, height, bytes, limit: limits.max_decoded_bytes });
    }
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(fail)?;
    img.apply_orientation(orientation);
    Ok(to_rgb8(img))
}

/// 8-bit RGB from any decoded layout. The common 8-bit ones are expanded here: `image`'s generic
/// conversion goes pixel by pixel through its colour model and took 80 ms for a 6.5-megapixel
/// grayscale JPEG (the decode itself: 35 ms); these straight loops take a few.
fn to_rgb8(img: DynamicImage) -> RgbImage {
    let (w, h) = (img.width(), img.height());
    let expanded = match &img {
        DynamicImage::ImageLuma8(g) => Some(g.as_raw().iter().flat_map(|&v| [v, v, v]).collect::<Vec<u8>>()),
        DynamicImage::ImageLumaA8(g) => Some(g.as_raw().chunks_exact(2).flat_map(|p| [p[0], p[0], p[0]]).collect()),
        DynamicImage::ImageRgba8(c) => Some(c.as_raw().chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect()),
        _ => None,
    };
    match (img, expanded) {
        (DynamicImage::ImageRgb8(rgb), _) => rgb,
        (other, Some(raw)) => RgbImage::from_raw(w, h, raw).unwrap_or_else(|| other.to_rgb8()),
        (other, None) => other.to_rgb8(),
    }
}

fn check_dimensions(width: u32, height: u32, limits: &DecodeLimits) -> Result<()> {
    if width > limits.max_dimension || height > limits.max_dimension {
        return Err(Error::DimensionTooLarge { width, height, limit: limits.max_dimension });
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(Error::TooManyPixels { width, height, limit: limits.max_pixels });
    }
    if width < limits.min_dimension || height < limits.min_dimension {
        return Err(Error::TooSmall { width, height, min: limits.min_dimension });
    }
    Ok(())
}

/// True when an EOI marker (FF D9) follows the last start-of-scan (FF DA). Entropy-coded data
/// byte-stuffs 0xFF, so FF D9 after the last scan is the real end of the image, not a thumbnail's.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last_sos = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    match last_sos {
        Some(p) => bytes[p..].windows(2).any(|w| w == [0xFF, 0xD9]),
        None => false,
    }
}

fn map_image_error(e: image::ImageError, limits: &DecodeLimits) -> Error {
    match e {
        image::ImageError::Unsupported(_) => Error::UnsupportedFormat,
        // Raised before the decoder reports its dimensions: name the limits instead.
        image::ImageError::Limits(_) => Error::AboveLimits {
            max_dimension: limits.max_dimension,
            max_pixels: limits.max_pixels,
            max_decoded_bytes: limits.max_decoded_bytes,
        },
        other => Error::Decode(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_of(width: u32, height: u32) -> Vec<u8> {
        let img = RgbImage::from_pixel(width, height, image::Rgb([10, 20, 30]));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
        out
    }

    #[test]
    fn fast_conversions_equal_image_s_own() {
        let gray = image::GrayImage::from_fn(7, 5, |x, y| image::Luma([(x * 30 + y * 7) as u8]));
        let rgba = image::RgbaImage::from_fn(7, 5, |x, y| image::Rgba([x as u8, y as u8, 200, 17]));
        let graya = image::GrayAlphaImage::from_fn(7, 5, |x, y| image::LumaA([(x + y) as u8, 3]));
        for img in [DynamicImage::ImageLuma8(gray), DynamicImage::ImageRgba8(rgba), DynamicImage::ImageLumaA8(graya)] {
            assert_eq!(to_rgb8(img.clone()), img.to_rgb8());
        }
    }

    #[test]
    fn rejects_empty_and_garbage() {
        let limits = DecodeLimits::default();
        assert!(matches!(decode(&[], &limits), Err(Error::EmptyImage)));
        assert!(matches!(decode(b"hello, this is not an image", &limits), Err(Error::UnsupportedFormat)));
    }

    #[test]
    fn bounds_bytes_pixels_and_sides() {
        let png = png_of(64, 48);
        let small = DecodeLimits { max_bytes: 10, ..DecodeLimits::default() };
        assert!(matches!(decode(&png, &small), Err(Error::ImageTooLarge { .. })));
        let few_pixels = DecodeLimits { max_pixels: 1000, ..DecodeLimits::default() };
        assert!(matches!(decode(&png, &few_pixels), Err(Error::TooManyPixels { width: 64, height: 48, .. })));
        let big_min = DecodeLimits { min_dimension: 50, ..DecodeLimits::default() };
        assert!(matches!(decode(&png, &big_min), Err(Error::TooSmall { .. })));
        let img = decode(&png, &DecodeLimits::default()).unwrap();
        assert_eq!(img.dimensions(), (64, 48));
        assert_eq!(img.get_pixel(3, 3).0, [10, 20, 30]);
    }

    #[test]
    fn truncated_jpeg_is_refused() {
        let img = RgbImage::from_fn(64, 64, |x, y| image::Rgb([(x * 4) as u8, (y * 4) as u8, 100]));
        let mut jpg = Vec::new();
        img.write_to(&mut Cursor::new(&mut jpg), image::ImageFormat::Jpeg).unwrap();
        assert!(decode(&jpg, &DecodeLimits::default()).is_ok());
        let cut = &jpg[..jpg.len() - 40];
        assert!(matches!(decode(cut, &DecodeLimits::default()), Err(Error::Truncated)));
    }

    #[test]
    fn decompression_bomb_is_refused_before_decoding() {
        // A 3000 x 3000 gray PNG of zeros is ~10 KB encoded; with a 1 MP budget it must be refused
        // from its header, before any pixel buffer exists.
        let img = image::GrayImage::new(3_000, 3_000);
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
        assert!(out.len() < 100_000);
        let limits = DecodeLimits { max_pixels: 1_000_000, ..DecodeLimits::default() };
        assert!(matches!(decode(&out, &limits), Err(Error::TooManyPixels { .. })));
    }

    #[test]
    fn memory_is_bounded_by_decoded_bytes_not_pixels_alone() {
        // 16-bit RGBA: 8 bytes a pixel.
        let img = image::ImageBuffer::<image::Rgba<u16>, _>::from_pixel(100, 100, image::Rgba([1, 2, 3, 4]));
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        let limits = DecodeLimits { max_decoded_bytes: 50_000, ..DecodeLimits::default() };
        match decode(&png, &limits) {
            Err(e @ Error::DecodedTooLarge { width: 100, height: 100, bytes: 80_000, limit: 50_000 }) => {
                assert!(e.to_string().contains("80000 bytes decoded"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        assert!(decode(&png, &DecodeLimits::default()).is_ok());
    }

    #[test]
    fn a_header_above_the_limits_is_named_clearly() {
        // A real PNG whose header claims 20000x20000.
        let mut png = png_of(40, 40);
        png[16..20].copy_from_slice(&20000u32.to_be_bytes());
        png[20..24].copy_from_slice(&20000u32.to_be_bytes());
        // The IHDR chunk's CRC-32 (over its type and data), so the header reads as valid.
        let crc = png[12..29].iter().fold(!0u32, |mut c, &b| {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
            }
            c
        });
        png[29..33].copy_from_slice(&(!crc).to_be_bytes());
        let e = decode(&png, &DecodeLimits::default()).unwrap_err();
        let text = e.to_string();
        assert!(!text.contains("0x0") && text.contains("16384"), "{text}");
    }
}

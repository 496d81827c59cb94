//! Images as they arrive in requests: base64 (with or without a `data:image/...;base64,` prefix) or
//! raw bytes, bounded before anything is decoded.
use base64::Engine as _;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("the image field is empty")]
    Empty,
    #[error("the image is not valid base64")]
    NotBase64,
    #[error("the image is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the data URI is not an image (`data:image/...;base64,`)")]
    NotImageDataUri,
}

/// Decodes a base64 image field. The encoded length is checked first, so an oversized field is
/// refused without allocating its decoded bytes.
pub fn decode_base64_image(field: &str, max_bytes: usize) -> Result<Vec<u8>, InputError> {
    let mut s = field.trim();
    // Scheme, media type and `;base64` are case-insensitive (RFC 2397, RFC 2045).
    if s.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("data:")) {
        let (meta, data) = s[5..].split_once(',').ok_or(InputError::NotImageDataUri)?;
        let meta = meta.to_ascii_lowercase();
        if !meta.starts_with("image/") || !meta.ends_with(";base64") {
            return Err(InputError::NotImageDataUri);
        }
        s = data;
    }
    if s.is_empty() {
        return Err(InputError::Empty);
    }
    // 4 base64 characters carry 3 bytes.
    if s.len() / 4 * 3 > max_bytes + 3 {
        return Err(InputError::TooLarge { limit: max_bytes });
    }
    let cleaned: String;
    let s = if s.contains(['\n', '\r', ' ']) {
        cleaned = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        cleaned.as_str()
    } else {
        s
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(s.trim_end_matches('=')))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')))
        .map_err(|_| InputError::NotBase64)?;
    if bytes.len() > max_bytes {
        return Err(InputError::TooLarge { limit: max_bytes });
    }
    if bytes.is_empty() {
        return Err(InputError::Empty);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_data_uri_and_errors() {
        assert_eq!(decode_base64_image("aGVsbG8=", 100).unwrap(), b"hello");
        assert_eq!(decode_base64_image("data:image/jpeg;base64,aGVsbG8=", 100).unwrap(), b"hello");
        assert_eq!(decode_base64_image("DATA:IMAGE/JPEG;BASE64,aGVsbG8=", 100).unwrap(), b"hello");
        assert_eq!(decode_base64_image("aGVs\nbG8=", 100).unwrap(), b"hello");
        assert_eq!(decode_base64_image("aGVsbG8", 100).unwrap(), b"hello");
        assert_eq!(decode_base64_image("data:text/plain;base64,aGVsbG8=", 100), Err(InputError::NotImageDataUri));
        assert_eq!(decode_base64_image("not base64 !!", 100), Err(InputError::NotBase64));
        assert_eq!(decode_base64_image("", 100), Err(InputError::Empty));
        assert_eq!(decode_base64_image(&"A".repeat(4000), 100), Err(InputError::TooLarge { limit: 100 }));
    }
}

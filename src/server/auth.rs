//! Reading credentials from headers, once for every API: one bearer parser, one bound on a
//! credential's length. Each API's extractor (in its own file) checks what it reads against the
//! store and rejects in its own error shape.
use axum::http::{header, HeaderMap};

/// Longer than any credential the server issues or accepts (JWTs included): refused unread.
pub const MAX_CREDENTIAL_LEN: usize = 4096;

/// A header's value, trimmed; `None` when absent, empty, not visible ASCII, or over the bound.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty() && v.len() <= MAX_CREDENTIAL_LEN)
}

/// `Authorization: Bearer <token>` (the scheme's case is not significant, RFC 6750).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    bearer_in(header(headers, header::AUTHORIZATION.as_str())?)
}

/// The token of a `Bearer <token>` value.
pub fn bearer_in(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "bearer  abc ".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, format!("Bearer {}", "a".repeat(MAX_CREDENTIAL_LEN)).parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}

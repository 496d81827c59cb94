//! Enrolled photos at rest, for operators who choose to keep them (`--photo-key`): XChaCha20-Poly1305
//! with a random 192-bit nonce per photo, stored as nonce || ciphertext. Without a key no photo is
//! ever written.
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

pub struct PhotoKey(XChaCha20Poly1305);

impl std::fmt::Debug for PhotoKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PhotoKey(<redacted>)")
    }
}

const NONCE: usize = 24;

impl PhotoKey {
    /// A key written as 64 hexadecimal characters (32 random bytes, e.g. `openssl rand -hex 32`).
    pub fn from_hex(text: &str) -> Result<PhotoKey, String> {
        let bytes = hex::decode(text.trim()).map_err(|_| "the photo key must be 64 hexadecimal characters".to_string())?;
        if bytes.len() != 32 {
            return Err("the photo key must be 64 hexadecimal characters (32 bytes)".into());
        }
        XChaCha20Poly1305::new_from_slice(&bytes).map(PhotoKey).map_err(|_| "invalid photo key".to_string())
    }

    pub fn encrypt(&self, photo: &[u8]) -> Result<Vec<u8>, String> {
        let mut nonce = [0u8; NONCE];
        getrandom::fill(&mut nonce).map_err(|e| format!("no random source: {e}"))?;
        let ct = self.0.encrypt(XNonce::from_slice(&nonce), photo).map_err(|_| "encryption failed".to_string())?;
        Ok([nonce.as_slice(), &ct].concat())
    }

    /// `None` when the data was not sealed with this key (or was altered).
    pub fn decrypt(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE {
            return None;
        }
        let (nonce, ct) = sealed.split_at(NONCE);
        self.0.decrypt(XNonce::from_slice(nonce), ct).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper_detection() {
        let k = PhotoKey::from_hex(&"ab".repeat(32)).unwrap();
        let sealed = k.encrypt(b"a photo").unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"a photo"));
        assert_eq!(k.decrypt(&sealed).unwrap(), b"a photo");
        let mut bad = sealed.clone();
        bad[30] ^= 1;
        assert!(k.decrypt(&bad).is_none());
        assert!(PhotoKey::from_hex(&"cd".repeat(32)).unwrap().decrypt(&sealed).is_none());
        assert!(PhotoKey::from_hex("abcd").is_err());
        assert_eq!(format!("{k:?}"), "PhotoKey(<redacted>)");
    }
}

//! Clients for the face-match APIs facematch speaks, so `facematch eval --endpoint VENDOR=URL` can
//! send every pair through a vendor's wire format (to the real vendor with a user's credentials, or
//! to a facematch server) and put its scores beside the local ones. Requests are built exactly as
//! the vendors' docs show (`../shared/vendor-docs/`); responses are read into one shape.
use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    Valify,
    Faceki,
    /// Didit v2: Bearer token, `options` JSON string.
    Didit,
    /// Didit v3: `x-api-key`, threshold as a form field.
    DiditV3,
    Videosdk,
    Cashfree,
    Native,
}

impl std::str::FromStr for Vendor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "valify" => Vendor::Valify,
            "faceki" => Vendor::Faceki,
            "didit" | "didit-v2" => Vendor::Didit,
            "didit-v3" => Vendor::DiditV3,
            "videosdk" => Vendor::Videosdk,
            "cashfree" => Vendor::Cashfree,
            "native" | "facematch" => Vendor::Native,
            other => return Err(format!("unknown vendor `{other}` (valify, faceki, didit, didit-v3, videosdk, cashfree, native)")),
        })
    }
}

/// One vendor answer, on a common footing: `score` in 0..1 where the vendor gives one
/// (Didit's 0-100 divided by 100), `decision` where it gives one.
#[derive(Debug, Clone, PartialEq)]
pub struct VendorAnswer {
    pub score: Option<f64>,
    pub decision: Option<bool>,
    /// Faces the vendor reported as a problem (no face, several faces), for the per-pair CSV.
    pub note: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("{0}")]
    Config(String),
    #[error("HTTP request failed: {0}")]
    Http(String),
    #[error("HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("unexpected response: {0}")]
    Response(String),
}

pub struct Endpoint {
    pub vendor: Vendor,
    base: String,
    creds: HashMap<String, String>,
    client: reqwest::blocking::Client,
}

/// `--credentials key=value,key=value`: valify `token`, `bundle_key`; didit `token`; didit-v3
/// `api_key`; videosdk `jwt`; cashfree `client_id`, `client_secret`; faceki `token`; native `token`
/// (optional).
pub fn parse_credentials(s: &str) -> HashMap<String, String> {
    s.split(',').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn mime_of(bytes: &[u8]) -> &'static str {
    match image::guess_format(bytes) {
        Ok(image::ImageFormat::Png) => "image/png",
        Ok(image::ImageFormat::WebP) => "image/webp",
        _ => "image/jpeg",
    }
}

fn part(bytes: &[u8], name: &str) -> reqwest::blocking::multipart::Part {
    let mime = mime_of(bytes);
    let ext = mime.trim_start_matches("image/");
    reqwest::blocking::multipart::Part::bytes(bytes.to_vec())
        .file_name(format!("{name}.{ext}"))
        .mime_str(mime)
        .unwrap_or_else(|_| reqwest::blocking::multipart::Part::bytes(bytes.to_vec()))
}

fn random_id() -> String {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    format!("fm-eval-{}", hex::encode(b))
}

impl Endpoint {
    pub fn new(vendor: Vendor, base: &str, creds: HashMap<String, String>) -> Result<Endpoint, EndpointError> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| EndpointError::Config(e.to_string()))?;
        Ok(Endpoint { vendor, base: base.trim_end_matches('/').to_string(), creds, client })
    }

    fn cred(&self, key: &str) -> Result<&str, EndpointError> {
        self.creds
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| EndpointError::Config(format!("{:?} needs --credentials {key}=...", self.vendor)))
    }

    /// Sends one pair (A = reference / document photo, B = selfie) and reads the answer.
    pub fn compare(&self, a: &[u8], b: &[u8]) -> Result<VendorAnswer, EndpointError> {
        let c = &self.client;
        let req = match self.vendor {
            Vendor::Valify => c
                .post(format!("{}/api/v1.1/face/match/", self.base))
                .bearer_auth(self.cred("token")?)
                .json(&json!({"first_img": b64(a), "second_img": b64(b), "bundle_key": self.cred("bundle_key")?})),
            Vendor::Didit => {
                let form = reqwest::blocking::multipart::Form::new().part("user_image", part(b, "user")).part("ref_image", part(a, "reference"));
                c.post(format!("{}/v2/face-match/", self.base)).bearer_auth(self.cred("token")?).multipart(form)
            }
            Vendor::DiditV3 => {
                let form = reqwest::blocking::multipart::Form::new()
                    .part("user_image", part(b, "user"))
                    .part("ref_image", part(a, "reference"))
                    .text("save_api_request", "false");
                c.post(format!("{}/v3/face-match/", self.base)).header("x-api-key", self.cred("api_key")?).multipart(form)
            }
            Vendor::Videosdk => c
                .post(format!("{}/ai/v1/face-verification/verify", self.base))
                .header("Authorization", self.cred("jwt")?)
                .json(&json!({"img1": format!("data:{};base64,{}", mime_of(a), b64(a)), "img2": format!("data:{};base64,{}", mime_of(b), b64(b))})),
            Vendor::Cashfree => {
                let form = reqwest::blocking::multipart::Form::new()
                    .text("verification_id", random_id())
                    .part("first_image", part(a, "first"))
                    .part("second_image", part(b, "second"));
                c.post(format!("{}/verification/face-match", self.base))
                    .header("x-client-id", self.cred("client_id")?)
                    .header("x-client-secret", self.cred("client_secret")?)
                    .multipart(form)
            }
            Vendor::Native => {
                let r = c.post(format!("{}/v1/compare", self.base)).json(&json!({"image_a": b64(a), "image_b": b64(b)}));
                match self.creds.get("token") {
                    Some(t) => r.bearer_auth(t),
                    None => r,
                }
            }
            Vendor::Faceki => {
                return Err(EndpointError::Config(
                    "FACEKI's face-check is 1:N (one selfie against enrolled people) and has no two-photo compare: \
                     enroll the reference photos first, then check selfies (enrolled faces are a later feature)"
                        .into(),
                ))
            }
        };
        let resp = req.send().map_err(|e| EndpointError::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        let text = resp.text().map_err(|e| EndpointError::Http(e.to_string()))?;
        let body: Value =
            serde_json::from_str(&text).map_err(|_| EndpointError::Status { status, body: text.chars().take(300).collect() })?;
        if !(200..300).contains(&status) {
            return Err(EndpointError::Status { status, body: body.to_string().chars().take(300).collect() });
        }
        parse(self.vendor, &body)
    }
}

/// Reads a vendor's 200 body into a [`VendorAnswer`].
pub fn parse(vendor: Vendor, body: &Value) -> Result<VendorAnswer, EndpointError> {
    let missing = |what: &str| EndpointError::Response(format!("{vendor:?}: `{what}` missing or of the wrong type"));
    // Some docs (Valify's, Python-style) show numbers as strings.
    let num = |v: &Value| v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok()));
    let boolean = |v: &Value| v.as_bool().or_else(|| v.as_str().and_then(|s| s.to_ascii_lowercase().parse().ok()));
    Ok(match vendor {
        Vendor::Valify => {
            let r = &body["result"];
            VendorAnswer {
                score: num(&r["confidence"]),
                decision: Some(boolean(&r["is_similar"]).ok_or_else(|| missing("result.is_similar"))?),
                note: String::new(),
            }
        }
        Vendor::Didit | Vendor::DiditV3 => {
            let fm = &body["face_match"];
            let status = fm["status"].as_str().ok_or_else(|| missing("face_match.status"))?;
            let note = fm["warnings"]
                .as_array()
                .map(|w| w.iter().filter_map(|x| x["risk"].as_str()).collect::<Vec<_>>().join(" "))
                .unwrap_or_default();
            VendorAnswer { score: num(&fm["score"]).map(|s| s / 100.0), decision: Some(status == "Approved"), note }
        }
        Vendor::Videosdk => VendorAnswer {
            score: None,
            decision: Some(body["verified"].as_bool().ok_or_else(|| missing("verified"))?),
            note: String::new(),
        },
        Vendor::Cashfree => {
            let result = body["face_match_result"].as_str().ok_or_else(|| missing("face_match_result"))?;
            let status = body["status"].as_str().unwrap_or_default();
            VendorAnswer {
                score: num(&body["face_match_score"]),
                decision: Some(result == "YES"),
                note: if status == "SUCCESS" { String::new() } else { status.to_string() },
            }
        }
        Vendor::Faceki => {
            let d = &body["data"];
            let verified = d["face_verified"].as_bool().ok_or_else(|| missing("data.face_verified"))?;
            let confidence = d["kyc_records"].as_array().and_then(|r| r.first()).and_then(|r| num(&r["kycResponse"]["face"]["confidence"]));
            VendorAnswer { score: confidence, decision: Some(verified), note: String::new() }
        }
        Vendor::Native => VendorAnswer { score: num(&body["score"]), decision: body["match"].as_bool(), note: String::new() },
    })
}

/// Spearman rank correlation (average ranks for ties).
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 3 {
        return None;
    }
    fn ranks(v: &[f64]) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
        let mut r = vec![0.0; v.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
                j += 1;
            }
            for k in i..=j {
                r[idx[k]] = (i + j) as f64 / 2.0 + 1.0;
            }
            i = j + 1;
        }
        r
    }
    let (rx, ry) = (ranks(x), ranks(y));
    let n = rx.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let cov: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = rx.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = ry.iter().map(|b| (b - my).powi(2)).sum();
    (vx > 0.0 && vy > 0.0).then(|| cov / (vx * vy).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 200 examples of the vendors' own docs (../shared/vendor-docs), as printed there.
    #[test]
    fn reads_the_docs_example_responses() {
        // valify-face-match.md (values shown as strings in the doc's Python-style example).
        let v = json!({"result": {"is_similar": true, "confidence": 0.91}, "transaction_id": "t", "trials_remaining": 3});
        assert_eq!(parse(Vendor::Valify, &v).unwrap(), VendorAnswer { score: Some(0.91), decision: Some(true), note: String::new() });
        let v = json!({"result": {"is_similar": "False", "confidence": "0.12"}, "transaction_id": "t", "trials_remaining": "3"});
        assert_eq!(parse(Vendor::Valify, &v).unwrap().decision, Some(false));
        // didit-face-match.md example response.
        let d = json!({"request_id": "11111111-2222-3333-4444-555555555555", "face_match": {"status": "In Review", "score": 65.43,
            "source_image": "https://example.com/source-image.jpg", "target_image": "https://example.com/target-image.jpg",
            "warnings": [{"risk": "LOW_FACE_MATCH_SIMILARITY", "additional_data": null, "log_type": "warning",
            "short_description": "Low face match similarity", "long_description": "..."}]}, "created_at": "2024-07-24T08:54:25.443172Z"});
        let a = parse(Vendor::Didit, &d).unwrap();
        assert!((a.score.unwrap() - 0.6543).abs() < 1e-9 && a.decision == Some(false) && a.note == "LOW_FACE_MATCH_SIMILARITY");
        // Didit v3 with no face: score null (NOTES.md).
        let d3 = json!({"request_id": "x", "face_match": {"status": "Declined", "score": null, "warnings": [{"risk": "NO_REFERENCE_IMAGE"}]}, "created_at": "x"});
        assert_eq!(parse(Vendor::DiditV3, &d3).unwrap().score, None);
        // videosdk-face-match.md: { "verified": true }
        assert_eq!(parse(Vendor::Videosdk, &json!({"verified": true})).unwrap().decision, Some(true));
        // cashfree-face-match.md examples.
        let c = json!({"status": "SUCCESS", "ref_id": 21637861, "verification_id": "21637861", "face_match_result": "YES", "face_match_score": 0.95});
        assert_eq!(parse(Vendor::Cashfree, &c).unwrap(), VendorAnswer { score: Some(0.95), decision: Some(true), note: String::new() });
        let c = json!({"status": "MULTIPLE_FACE_DETECTED", "ref_id": 21637861, "verification_id": "21637861", "face_match_result": "NO", "face_match_score": 0});
        let a = parse(Vendor::Cashfree, &c).unwrap();
        assert_eq!((a.decision, a.note.as_str()), (Some(false), "MULTIPLE_FACE_DETECTED"));
        // faceki-face-check.md (abridged to the fields read).
        let f = json!({"responseCode": 0, "data": {"face_verified": true, "all_face_ids": ["2f1ebdb7-e6d1-448e-9b2c-3ddfe97672d7"],
            "kyc_records": [{"_id": "644b7cff16cc73de26ff9b9c", "kycResponse": {"face": {"isIdentical": true, "confidence": "0.786"}}}]}});
        assert_eq!(parse(Vendor::Faceki, &f).unwrap(), VendorAnswer { score: Some(0.786), decision: Some(true), note: String::new() });
        // A body without the fields is an error, not a silent "no".
        assert!(parse(Vendor::Cashfree, &json!({"status": "SUCCESS"})).is_err());
    }

    #[test]
    fn vendor_names_and_credentials() {
        assert_eq!("Didit-V3".parse::<Vendor>().unwrap(), Vendor::DiditV3);
        assert!("acme".parse::<Vendor>().is_err());
        let c = parse_credentials("client_id=abc, client_secret=s=1");
        assert_eq!(c["client_id"], "abc");
        assert_eq!(c["client_secret"], "s=1");
    }

    #[test]
    fn spearman_of_monotone_and_reversed() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert!((spearman(&x, &[10.0, 20.0, 25.0, 100.0]).unwrap() - 1.0).abs() < 1e-12);
        assert!((spearman(&x, &[4.0, 3.0, 2.0, 1.0]).unwrap() + 1.0).abs() < 1e-12);
    }
}

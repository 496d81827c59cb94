//! FACEKI face-check (`faceki-face-check.md`): `POST /facelink/api/face-check`, multipart
//! `selfie_image`, `Authorization: Bearer <token>` from `/getToken` (client id and secret in the
//! query string or a JSON body). A 1:N search of the enrolled subjects: the matching subjects'
//! KYC records come back as `kyc_records`. Every body carries `responseCode` (0 = success; the
//! other codes are in [`codes`]).
use std::collections::HashMap;

use axum::extract::{FromRequest, Multipart, Query, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::error::ApiError;
use super::subjects::identify_blocking;
use super::AppState;
use crate::store::{StoreError, Subject};

/// facematch's `responseCode`s (FACEKI publishes only 0).
pub mod codes {
    pub const INVALID_CREDENTIALS: i64 = 4001;
    pub const INVALID_TOKEN: i64 = 4002;
    pub const SELFIE_MISSING: i64 = 4003;
    pub const SELFIE_INVALID: i64 = 4004;
    pub const SELFIE_TOO_LARGE: i64 = 4005;
    pub const NO_FACE: i64 = 4006;
    pub const BUSY: i64 = 4290;
    pub const INTERNAL: i64 = 5000;
}

pub const TOKEN_TTL_SECS: i64 = 3600;
/// Candidates examined per face-check.
const TOP_K: usize = 10;

#[derive(Serialize, ToSchema)]
pub struct FacekiErrorBody {
    #[serde(rename = "responseCode")]
    pub response_code: i64,
    pub message: String,
}

pub struct FacekiError(StatusCode, i64, String);

impl IntoResponse for FacekiError {
    fn into_response(self) -> Response {
        (self.0, Json(FacekiErrorBody { response_code: self.1, message: self.2 })).into_response()
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, StoreError> + Send + 'static) -> Result<T, FacekiError> {
    super::store_call(f).await.map_err(FacekiError::from)
}

impl From<ApiError> for FacekiError {
    fn from(e: ApiError) -> FacekiError {
        match e.status {
            StatusCode::SERVICE_UNAVAILABLE => FacekiError(StatusCode::TOO_MANY_REQUESTS, codes::BUSY, "Server busy, retry shortly".into()),
            StatusCode::PAYLOAD_TOO_LARGE => FacekiError(StatusCode::PAYLOAD_TOO_LARGE, codes::SELFIE_TOO_LARGE, e.message),
            StatusCode::INTERNAL_SERVER_ERROR => {
                FacekiError(StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL, "Internal server error".into())
            }
            _ => FacekiError(StatusCode::BAD_REQUEST, codes::SELFIE_INVALID, e.message),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct FacekiTokenData {
    pub access_token: String,
    pub expires_in: i64,
}

#[derive(Serialize, ToSchema)]
pub struct FacekiTokenResponse {
    #[serde(rename = "responseCode")]
    pub response_code: i64,
    pub data: FacekiTokenData,
}

/// A FACEKI access token for a `faceki` client: `clientId` and `clientSecret` (or `client_id`,
/// `client_secret`) in the query string or a JSON body; GET or POST.
#[utoipa::path(post, path = "/getToken", tag = "faceki",
    params(("clientId" = Option<String>, Query), ("clientSecret" = Option<String>, Query)),
    request_body(content = Object, content_type = "application/json", description = "`{\"clientId\": ..., \"clientSecret\": ...}` (optional when in the query)"),
    responses(
        (status = 200, body = FacekiTokenResponse),
        (status = 401, description = "responseCode 4001", body = FacekiErrorBody),
    ))]
pub async fn token(State(state): State<AppState>, Query(query): Query<HashMap<String, String>>, req: Request) -> Response {
    let mut given = query;
    if req.method() == Method::POST {
        let is_json = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("json"));
        if is_json {
            if let Ok(Json(Value::Object(body))) = Json::<Value>::from_request(req, &()).await {
                for (k, v) in body {
                    if let Value::String(s) = v {
                        given.entry(k).or_insert(s);
                    }
                }
            }
        }
    }
    let pick = |a: &str, b: &str| given.get(a).or_else(|| given.get(b)).filter(|v| !v.is_empty() && v.len() <= 256).cloned();
    let (Some(id), Some(secret)) = (pick("clientId", "client_id"), pick("clientSecret", "client_secret")) else {
        return FacekiError(StatusCode::UNAUTHORIZED, codes::INVALID_CREDENTIALS, "Invalid client credentials".into()).into_response();
    };
    let store = state.store.clone();
    let issued = blocking(move || {
        if !store.check_client("faceki", &id, &secret)? {
            return Ok(None);
        }
        store.issue_token("faceki", &id, "access", TOKEN_TTL_SECS).map(Some)
    })
    .await;
    match issued {
        Ok(Some(t)) => {
            Json(FacekiTokenResponse { response_code: 0, data: FacekiTokenData { access_token: t, expires_in: TOKEN_TTL_SECS } })
                .into_response()
        }
        Ok(None) => FacekiError(StatusCode::UNAUTHORIZED, codes::INVALID_CREDENTIALS, "Invalid client credentials".into()).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(ToSchema)]
#[allow(dead_code)] // documentation of the request
pub struct FaceCheckRequest {
    #[schema(value_type = String, format = Binary)]
    selfie_image: Vec<u8>,
}

#[derive(Serialize, ToSchema)]
pub struct FaceCheckData {
    pub face_verified: bool,
    /// The matching faces' ids, best first.
    pub all_face_ids: Vec<String>,
    /// The matching subjects' records (the enrolled record plus `_id`, `faceID`, `imageID`,
    /// `fullName`, `documentId`, `status`, `createdAt`, `updatedAt`; image links are empty strings
    /// because photos are not stored).
    #[schema(value_type = Vec<Object>)]
    pub kyc_records: Vec<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct FaceCheckResponse {
    #[serde(rename = "responseCode")]
    pub response_code: i64,
    pub data: FaceCheckData,
}

/// The record FACEKI returns for a matched subject.
fn kyc_record(s: &Subject, face_id: &str, base: &str) -> Value {
    let mut o: Map<String, Value> = s.record.as_object().cloned().unwrap_or_default();
    let image_id = s.faces.iter().find(|f| f.face_id == face_id).map(|f| f.image_id.clone()).unwrap_or_default();
    o.insert("_id".into(), json!(s.subject_id));
    o.insert("faceID".into(), json!(face_id));
    o.insert("imageID".into(), json!(image_id));
    o.insert("status".into(), json!(s.status));
    o.insert("createdAt".into(), json!(s.created_at));
    o.insert("updatedAt".into(), json!(s.updated_at));
    if let Some(n) = &s.full_name {
        o.insert("fullName".into(), json!(n));
    }
    if let Some(d) = &s.document_id {
        o.insert("documentId".into(), json!(d));
    }
    // With `--photo-key` the enrolled photo is linked (native API key needed to fetch it); else no
    // photo exists and the image links are empty unless the record brought its own.
    if s.faces.iter().any(|f| f.face_id == face_id && f.has_photo) {
        o.insert("selfieImage".into(), json!(format!("{base}/v1/subjects/{}/faces/{face_id}/photo", s.subject_id)));
    }
    for link in ["selfieImage", "idFrontImage", "idBackImage", "documentCropFaceImageUrl"] {
        o.entry(link).or_insert(json!(""));
    }
    o.entry("deleteStatus").or_insert(json!("ACTIVE"));
    Value::Object(o)
}

/// Is this selfie someone already enrolled? (1:N over the enrolled faces.)
#[utoipa::path(post, path = "/facelink/api/face-check", tag = "faceki",
    request_body(content = FaceCheckRequest, content_type = "multipart/form-data"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "responseCode 0; or 4006 (no face in the selfie)", body = FaceCheckResponse),
        (status = 400, description = "4003 selfie_image missing, 4004 not an image", body = FacekiErrorBody),
        (status = 401, description = "4002 missing, invalid or expired token", body = FacekiErrorBody),
        (status = 413, description = "4005", body = FacekiErrorBody),
        (status = 429, description = "4290 busy", body = FacekiErrorBody),
        (status = 500, description = "5000", body = FacekiErrorBody),
    ))]
pub async fn face_check(State(state): State<AppState>, req: Request) -> Result<Response, FacekiError> {
    let base = super::didit::base_url(&state, req.headers());
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty() && t.len() <= 256);
    let bad_token = || FacekiError(StatusCode::UNAUTHORIZED, codes::INVALID_TOKEN, "Invalid or expired token".into());
    let token = token.ok_or_else(bad_token)?;
    let store = state.store.clone();
    blocking(move || store.check_token("faceki", "access", &token)).await?.ok_or_else(bad_token)?;

    let max = state.config.max_upload_bytes;
    let too_large =
        || FacekiError(StatusCode::PAYLOAD_TOO_LARGE, codes::SELFIE_TOO_LARGE, format!("selfie_image is larger than {max} bytes"));
    let missing = || FacekiError(StatusCode::BAD_REQUEST, codes::SELFIE_MISSING, "selfie_image is required".into());
    let mut mp = Multipart::from_request(req, &()).await.map_err(|_| missing())?;
    let mut selfie = None;
    loop {
        match mp.next_field().await {
            Ok(Some(f)) if f.name() == Some("selfie_image") => {
                let b = f.bytes().await.map_err(|e| if e.status() == StatusCode::PAYLOAD_TOO_LARGE { too_large() } else { missing() })?;
                if b.len() > max {
                    return Err(too_large());
                }
                selfie = Some(b.to_vec());
            }
            Ok(Some(_)) => {} // other fields are ignored
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(_) => return Err(missing()),
        }
    }
    let selfie = selfie.filter(|s| !s.is_empty()).ok_or_else(missing)?;
    let a = super::analyse(&state.engine, selfie, true).await.map_err(|e| FacekiError::from(ApiError::for_image(&e, "selfie_image")))?;
    let Some(embedding) = a.embedding else {
        return Ok(
            Json(FacekiErrorBody { response_code: codes::NO_FACE, message: "No face detected in selfie_image".into() }).into_response()
        );
    };
    let target = state.config.identify_fmr;
    let (_, candidates) = identify_blocking(&state, embedding, TOP_K, target).await.map_err(FacekiError::from)?;
    let matches: Vec<_> = candidates.into_iter().filter(|c| c.is_match).collect();
    let store = state.store.clone();
    let (all_face_ids, kyc_records) = blocking(move || {
        // Best match first; one record per person. A subject deleted while this search ran is left
        // out, its faces with it.
        let mut subjects: std::collections::HashMap<String, bool> = std::collections::HashMap::new();
        let (mut face_ids, mut records) = (Vec::new(), Vec::new());
        for c in matches {
            let exists = match subjects.get(&c.subject_id) {
                Some(&e) => e,
                None => {
                    let s = store.subject(&c.subject_id)?;
                    if let Some(s) = &s {
                        records.push(kyc_record(s, &c.face_id, &base));
                    }
                    subjects.insert(c.subject_id.clone(), s.is_some());
                    s.is_some()
                }
            };
            if exists {
                face_ids.push(c.face_id);
            }
        }
        Ok((face_ids, records))
    })
    .await?;
    let data = FaceCheckData { face_verified: !kyc_records.is_empty(), all_face_ids, kyc_records };
    Ok(Json(FaceCheckResponse { response_code: 0, data }).into_response())
}

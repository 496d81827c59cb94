//! FACEKI face-check (`faceki-face-check.md`): `POST /facelink/api/face-check`, multipart
//! `selfie_image`, `Authorization: Bearer <token>` from `/getToken` (client id and secret in the
//! query string or a JSON body). A 1:N search of the enrolled subjects: the matching subjects'
//! KYC records come back as `kyc_records`. Every body carries `responseCode` (0 = success; the
//! other codes are in [`codes`]).
use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::error::ApiError;
use super::form::{self, FormError};
use super::subjects::{identify_blocking, Candidate};
use super::{auth, AppState};
use crate::engine::Depth;
use crate::error::{Error, ErrorKind};
use crate::score::vendor;
use crate::store::{StoreError, Subject};

/// facematch's `responseCode`s (FACEKI publishes only 0).
pub mod codes {
    pub const INVALID_CREDENTIALS: i64 = 4001;
    pub const INVALID_TOKEN: i64 = 4002;
    pub const SELFIE_MISSING: i64 = 4003;
    pub const SELFIE_INVALID: i64 = 4004;
    pub const SELFIE_TOO_LARGE: i64 = 4005;
    pub const NO_FACE: i64 = 4006;
    pub const REQUEST_INVALID: i64 = 4000;
    pub const NOT_FOUND: i64 = 4040;
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

/// A request the framework refused before the handler ran, in FACEKI's shape.
pub fn refused(status: StatusCode, message: String) -> FacekiError {
    FacekiError(status, codes::REQUEST_INVALID, message)
}

/// A path under FACEKI's prefixes that no route serves.
pub fn not_found() -> FacekiError {
    FacekiError(StatusCode::NOT_FOUND, codes::NOT_FOUND, "Not found".into())
}

fn internal() -> FacekiError {
    FacekiError(StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL, "Internal server error".into())
}

/// State-store and search failures (already logged where they arose) are FACEKI's 5000.
impl From<ApiError> for FacekiError {
    fn from(_: ApiError) -> FacekiError {
        internal()
    }
}

/// FACEKI's dialect of an engine error on the selfie (a selfie without a face is not one: that is
/// a 200 with `face_verified: false`).
impl From<Error> for FacekiError {
    fn from(e: Error) -> FacekiError {
        match (e.kind(), &e) {
            (ErrorKind::Busy, _) => FacekiError(StatusCode::TOO_MANY_REQUESTS, codes::BUSY, "Server busy, retry shortly".into()),
            (ErrorKind::Internal, _) => {
                tracing::error!(error = %e, "faceki: analysis failed");
                internal()
            }
            (_, Error::ImageTooLarge { .. }) => {
                FacekiError(StatusCode::PAYLOAD_TOO_LARGE, codes::SELFIE_TOO_LARGE, format!("selfie_image: {e}"))
            }
            _ => FacekiError(StatusCode::BAD_REQUEST, codes::SELFIE_INVALID, format!("selfie_image: {e}")),
        }
    }
}

/// A caller with a live FACEKI access token (`Authorization: Bearer`).
pub struct FacekiClient;

impl FromRequestParts<AppState> for FacekiClient {
    type Rejection = FacekiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, FacekiError> {
        let bad_token = || FacekiError(StatusCode::UNAUTHORIZED, codes::INVALID_TOKEN, "Invalid or expired token".into());
        let token = auth::bearer(&parts.headers).ok_or_else(bad_token)?.to_string();
        let store = state.store.clone();
        blocking(move || store.check_token("faceki", "access", &token)).await?.ok_or_else(bad_token).map(|_| FacekiClient)
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
    /// The matching subjects' records: every top-level field of FACEKI's example with its JSON type
    /// (the enrolled record's values where it has them, else empty), `kycResponse.face`
    /// (`isIdentical`, `confidence` as a string) from this match.
    #[schema(value_type = Vec<Object>)]
    pub kyc_records: Vec<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct FaceCheckResponse {
    #[serde(rename = "responseCode")]
    pub response_code: i64,
    pub data: FaceCheckData,
}

/// The top-level fields of a `kyc_records` item in the doc's example, each with an empty value of
/// its JSON type: typed clients find every field they were written against.
fn record_template() -> Map<String, Value> {
    let empty = json!({
        "_id": "", "kycResponse": {}, "livenessResponse": {}, "fullName": "", "referenceId": "", "documentId": "",
        "DOB": "", "localName": "", "country": "", "countryCode": "", "countryCodeISO3": "", "idFrontImage": "",
        "idBackImage": "", "status": "", "deleteStatus": "ACTIVE", "companyId": "", "selfieImage": "",
        "documentCropFaceImageUrl": "", "faceID": "", "imageID": "", "difcCode": "", "link": "",
        "deviceDetails": {"ipAddress": "", "browserName": "", "osName": ""}, "modifiedBy": "", "createdAt": "",
        "updatedAt": "", "__v": 0
    });
    match empty {
        Value::Object(o) => o,
        _ => Map::new(),
    }
}

fn same_type(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// The record FACEKI returns for a matched subject: the doc's fields with the enrolled record's
/// values where it has them in the right JSON type, the subject's own ids and dates, and
/// `kycResponse.face` from this match.
fn kyc_record(s: &Subject, c: &Candidate, base: &str, at: f32) -> Value {
    let mut o = record_template();
    for (k, v) in s.record.as_object().into_iter().flatten() {
        match o.get(k) {
            Some(t) if !same_type(t, v) => {} // a wrong type would crash a typed client: the empty value stays
            _ => {
                o.insert(k.clone(), v.clone());
            }
        }
    }
    let image_id = s.faces.iter().find(|f| f.face_id == c.face_id).map(|f| f.image_id.clone()).unwrap_or_default();
    o.insert("_id".into(), json!(s.subject_id));
    o.insert("faceID".into(), json!(c.face_id));
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
    // photo exists and the image links stay as the record gave them, or empty.
    if s.faces.iter().any(|f| f.face_id == c.face_id && f.has_photo) {
        o.insert("selfieImage".into(), json!(format!("{base}/v1/subjects/{}/faces/{}/photo", s.subject_id, c.face_id)));
    }
    let confidence = vendor::FACEKI.wire(c.score.unwrap_or(0.0), at);
    let face = json!({"isIdentical": c.is_match, "confidence": format!("{confidence:.3}")});
    if let Some(Value::Object(kyc)) = o.get_mut("kycResponse") {
        kyc.insert("face".into(), face);
    }
    Value::Object(o)
}

/// Is this selfie someone already enrolled? (1:N over the enrolled faces.)
#[utoipa::path(post, path = "/facelink/api/face-check", tag = "faceki",
    request_body(content = FaceCheckRequest, content_type = "multipart/form-data"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "responseCode 0; or 4006 with `face_verified: false` (no face in the selfie)", body = FaceCheckResponse),
        (status = 400, description = "4003 selfie_image missing, 4004 not an image", body = FacekiErrorBody),
        (status = 401, description = "4002 missing, invalid or expired token", body = FacekiErrorBody),
        (status = 413, description = "4005", body = FacekiErrorBody),
        (status = 429, description = "4290 busy", body = FacekiErrorBody),
        (status = 500, description = "5000", body = FacekiErrorBody),
    ))]
pub async fn face_check(State(state): State<AppState>, _: FacekiClient, req: Request) -> Result<Response, FacekiError> {
    let base = super::didit::base_url(&state, req.headers());
    let max = state.config.max_upload_bytes;
    let missing = || FacekiError(StatusCode::BAD_REQUEST, codes::SELFIE_MISSING, "selfie_image is required".into());
    // Other fields are ignored, within the upload limit.
    let mut form = form::read(req, &["selfie_image"], max, |_| max).await.map_err(|e| match e {
        FormError::BodyTooLarge | FormError::FileTooLarge { .. } => {
            FacekiError(StatusCode::PAYLOAD_TOO_LARGE, codes::SELFIE_TOO_LARGE, format!("selfie_image is larger than {max} bytes"))
        }
        _ => missing(),
    })?;
    let selfie = form.files.remove("selfie_image").filter(|s| !s.is_empty()).ok_or_else(missing)?;
    let a = super::analyse(&state.engine, selfie, Depth::Embedding).await?;
    let Some(embedding) = a.embedding else {
        let data = FaceCheckData { face_verified: false, all_face_ids: Vec::new(), kyc_records: Vec::new() };
        return Ok(
            Json(json!({"responseCode": codes::NO_FACE, "message": "No face detected in selfie_image", "data": data})).into_response()
        );
    };
    let target = state.config.identify_fmr;
    let (_, candidates) = identify_blocking(&state, embedding, TOP_K, target).await.map_err(FacekiError::from)?;
    let matches: Vec<_> = candidates.into_iter().filter(|c| c.is_match).collect();
    let (store, at) = (state.store.clone(), state.config.match_threshold);
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
                        records.push(kyc_record(s, &c, &base, at));
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

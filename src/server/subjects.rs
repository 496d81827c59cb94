//! Enrolled faces, native API: `POST /v1/subjects` (photo + KYC record), `GET /v1/subjects`,
//! `GET|PATCH|DELETE /v1/subjects/{id}`, `POST /v1/subjects/{id}/faces`, and `POST /v1/identify`
//! (1:N search). The store keeps records and embeddings, never photos; the gallery keeps the
//! embeddings in memory for the search.
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use super::native::{embed_upload, fingerprint, read_fields, used_face, ErrorBody, NativeClient, UsedFace, MAX_RECORD_BYTES};
use super::{store_call, AppState};
use crate::engine::Depth;
use crate::gallery::{Exact, FaceRef, Hit};
use crate::store::{NewFace, Once, RecordUpdate, StoreError, StoreResult, Subject};

/// At most this many candidates per search.
pub const MAX_TOP_K: usize = 100;

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "subject_not_found", "no subject with this id")
}

/// Subject ids are UUIDs: anything else cannot exist (and is not looked up).
fn valid_id(id: &str) -> Result<(), ApiError> {
    uuid::Uuid::parse_str(id).map(|_| ()).map_err(|_| not_found())
}

fn parse_record(text: Option<&String>) -> Result<Value, ApiError> {
    match text {
        None => Ok(Value::Object(Default::default())),
        Some(t) => match serde_json::from_str::<Value>(t) {
            Ok(v @ Value::Object(_)) if t.len() <= MAX_RECORD_BYTES => Ok(v),
            _ => Err(ApiError::bad_request("invalid_record", format!("record: a JSON object of at most {MAX_RECORD_BYTES} bytes"))),
        },
    }
}

/// The upload sealed with the photo key, when the operator keeps photos.
fn seal(state: &AppState, photo: &[u8]) -> Result<Option<Vec<u8>>, ApiError> {
    match &state.config.photo_key {
        None => Ok(None),
        Some(k) => k.encrypt(photo).map(Some).map_err(|e| {
            tracing::error!(error = %e, "photo encryption");
            ApiError::internal()
        }),
    }
}

/// An optional `Idempotency-Key` header (1 to 255 visible ASCII characters): a retry of a
/// subject write with the same key and the same request answers what the first one wrote, even
/// after a crash between its commit and its answer; the same key with another request is a 422.
pub struct IdempotencyKey(pub Option<String>);

impl FromRequestParts<AppState> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        let Some(v) = parts.headers.get("idempotency-key") else { return Ok(IdempotencyKey(None)) };
        match v.to_str() {
            Ok(k) if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()) => Ok(IdempotencyKey(Some(k.to_string()))),
            _ => Err(ApiError::bad_request("invalid_field", "Idempotency-Key: 1 to 255 visible ASCII characters")),
        }
    }
}

/// `POST /v1/subjects` as JSON (multipart: a file part `image` and a text part `record`).
#[derive(ToSchema)]
#[allow(dead_code)] // documentation of the request
pub struct EnrollRequest {
    /// Base64 photo (a `data:image/...;base64,` prefix is accepted); the largest face is enrolled.
    image: String,
    /// Free-form KYC record (JSON object, at most 64 KiB). `fullName`, `documentId` and `status`
    /// (default `ACCEPTED`) are indexed and returned by FACEKI's face-check.
    #[schema(value_type = Option<Object>)]
    record: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct EnrollResponse {
    #[serde(flatten)]
    pub subject: SubjectView,
    /// The face enrolled from this photo.
    pub face_id: String,
    /// Faces found in the photo (the largest was enrolled).
    pub faces_in_photo: usize,
    pub used_face: Option<UsedFace>,
}

#[derive(Serialize, ToSchema)]
pub struct FaceView {
    pub face_id: String,
    pub image_id: String,
    /// The embedding model; a face of another model than the server's is not searched.
    pub model: String,
    pub created_at: String,
    /// An encrypted photo is kept (`GET .../faces/{face_id}/photo`).
    pub has_photo: bool,
}

#[derive(Serialize, ToSchema)]
pub struct SubjectView {
    pub subject_id: String,
    #[schema(value_type = Object)]
    pub record: Value,
    pub full_name: Option<String>,
    pub document_id: Option<String>,
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
    pub faces: Vec<FaceView>,
}

impl From<Subject> for SubjectView {
    fn from(s: Subject) -> SubjectView {
        SubjectView {
            subject_id: s.subject_id,
            record: s.record,
            full_name: s.full_name,
            document_id: s.document_id,
            status: s.status,
            created_at: s.created_at,
            updated_at: s.updated_at,
            faces: s
                .faces
                .into_iter()
                .map(|f| FaceView {
                    face_id: f.face_id,
                    image_id: f.image_id,
                    model: f.model,
                    created_at: f.created_at,
                    has_photo: f.has_photo,
                })
                .collect(),
        }
    }
}

/// Enroll a person: the largest face of the photo and a KYC record.
#[utoipa::path(post, path = "/v1/subjects", tag = "subjects",
    request_body(content((EnrollRequest = "application/json"), (EnrollRequest = "multipart/form-data"))),
    security(("api_key" = [])),
    responses(
        (status = 201, description = "Enrolled (stored durably before this answer)", body = EnrollResponse),
        (status = 400, description = "Missing image, bad base64, bad record", body = ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, description = "No face in the photo", body = ErrorBody),
        (status = 503, description = "Busy", body = ErrorBody),
    ))]
pub async fn enroll(
    State(state): State<AppState>,
    NativeClient(client): NativeClient,
    IdempotencyKey(key): IdempotencyKey,
    req: Request,
) -> Result<(StatusCode, Json<EnrollResponse>), ApiError> {
    let mut fields = read_fields(&state, req, &["image"]).await?;
    let hash = fields.fingerprint("POST /v1/subjects");
    let record = parse_record(fields.text.get("record"))?;
    let photo = fields.images.remove("image").unwrap_or_default();
    let sealed = seal(&state, &photo)?;
    let (a, embedding) = embed_upload(&state, photo, "image", Depth::Embedding).await?;
    let model = state.engine.pack().manifest.embedding_model_id();
    let (store, e) = (state.store.clone(), embedding.clone());
    let subject = store_call(move || {
        let once = key.as_deref().map(|key| Once { client_id: &client, key, request_hash: &hash });
        store.create_subject(&record, &NewFace { embedding: &e, model: &model, sealed_photo: sealed.as_deref(), once })
    })
    .await?;
    let face_id = subject.faces.first().map(|f| f.face_id.clone()).unwrap_or_default();
    if let Some(f) = subject.faces.first() {
        state.gallery.insert(f.key, &embedding);
    }
    Ok((
        StatusCode::CREATED,
        Json(EnrollResponse { subject: subject.into(), face_id, faces_in_photo: a.face_count(), used_face: used_face(&a) }),
    ))
}

/// Add another face (another photo) to a subject.
#[utoipa::path(post, path = "/v1/subjects/{id}/faces", tag = "subjects",
    params(("id" = String, Path)),
    request_body(content((super::native::ImageRequest = "application/json"), (super::native::ImageRequest = "multipart/form-data"))),
    security(("api_key" = [])),
    responses(
        (status = 201, body = FaceView),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub async fn add_face(
    State(state): State<AppState>,
    NativeClient(client): NativeClient,
    IdempotencyKey(key): IdempotencyKey,
    Path(id): Path<String>,
    req: Request,
) -> Result<(StatusCode, Json<FaceView>), ApiError> {
    valid_id(&id)?;
    let mut fields = read_fields(&state, req, &["image"]).await?;
    let hash = fields.fingerprint(&format!("POST /v1/subjects/{id}/faces"));
    let photo = fields.images.remove("image").unwrap_or_default();
    let sealed = seal(&state, &photo)?;
    let (_, embedding) = embed_upload(&state, photo, "image", Depth::Embedding).await?;
    let model = state.engine.pack().manifest.embedding_model_id();
    let (store, e, sid) = (state.store.clone(), embedding.clone(), id.clone());
    let face = store_call(move || {
        let once = key.as_deref().map(|key| Once { client_id: &client, key, request_hash: &hash });
        store.add_face(&sid, &NewFace { embedding: &e, model: &model, sealed_photo: sealed.as_deref(), once })
    })
    .await?
    .ok_or_else(not_found)?;
    state.gallery.insert(face.key, &embedding);
    Ok((
        StatusCode::CREATED,
        Json(FaceView {
            face_id: face.face_id,
            image_id: face.image_id,
            model: face.model,
            created_at: face.created_at,
            has_photo: face.has_photo,
        }),
    ))
}

/// The enrolled photo of a face, decrypted (only with `--photo-key`; 404 otherwise).
#[utoipa::path(get, path = "/v1/subjects/{id}/faces/{face_id}/photo", tag = "subjects",
    params(("id" = String, Path), ("face_id" = String, Path)), security(("api_key" = [])),
    responses((status = 200, description = "The photo as uploaded"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn photo(
    State(state): State<AppState>,
    _: NativeClient,
    Path((id, face_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    valid_id(&id)?;
    valid_id(&face_id)?;
    let no_photo = || ApiError::new(StatusCode::NOT_FOUND, "photo_not_found", "no photo is kept for this face");
    let key = state.config.photo_key.clone().ok_or_else(no_photo)?;
    let store = state.store.clone();
    let sealed = store_call(move || store.face_photo(&id, &face_id)).await?.ok_or_else(no_photo)?;
    let photo = key.decrypt(&sealed).ok_or_else(|| {
        tracing::error!("a stored photo does not decrypt with the configured key");
        ApiError::internal()
    })?;
    let ct = image::guess_format(&photo).ok().map(|f| f.to_mime_type()).unwrap_or("application/octet-stream");
    Ok(([(axum::http::header::CONTENT_TYPE, ct), (axum::http::header::CACHE_CONTROL, "no-store")], photo).into_response())
}

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// Default 0.
    offset: Option<i64>,
    /// Default 50, at most 500.
    limit: Option<i64>,
    /// Only subjects whose id starts with this, or whose full name or document id contains it
    /// (case-insensitive); at most 256 characters.
    q: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SubjectList {
    pub total: i64,
    pub subjects: Vec<SubjectView>,
}

/// List enrolled subjects, oldest first.
#[utoipa::path(get, path = "/v1/subjects", tag = "subjects", params(ListQuery), security(("api_key" = [])),
    responses((status = 200, body = SubjectList), (status = 401, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, _: NativeClient, Query(q): Query<ListQuery>) -> Result<Json<SubjectList>, ApiError> {
    let (offset, limit) = (q.offset.unwrap_or(0).max(0), q.limit.unwrap_or(50).clamp(1, 500));
    let filter = q.q.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    if filter.as_ref().is_some_and(|t| t.chars().count() > 256) {
        return Err(ApiError::bad_request("invalid_field", "q: at most 256 characters"));
    }
    let store = state.store.clone();
    let (total, subjects) = store_call(move || {
        let f = filter.as_deref();
        Ok((store.count_subjects(f)?, store.list_subjects(offset, limit, f)?))
    })
    .await?;
    Ok(Json(SubjectList { total, subjects: subjects.into_iter().map(SubjectView::from).collect() }))
}

#[utoipa::path(get, path = "/v1/subjects/{id}", tag = "subjects", params(("id" = String, Path)), security(("api_key" = [])),
    responses((status = 200, body = SubjectView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(State(state): State<AppState>, _: NativeClient, Path(id): Path<String>) -> Result<Json<SubjectView>, ApiError> {
    valid_id(&id)?;
    let store = state.store.clone();
    let s = store_call(move || store.subject(&id)).await?.ok_or_else(not_found)?;
    Ok(Json(s.into()))
}

/// Update the record with a JSON merge patch (RFC 7396): `{"record": {"status": "REJECTED", "old": null}}`.
#[utoipa::path(patch, path = "/v1/subjects/{id}", tag = "subjects", params(("id" = String, Path)), security(("api_key" = [])),
    request_body(content = Object, description = "`{\"record\": {...merge patch...}}`"),
    responses((status = 200, body = SubjectView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn patch(
    State(state): State<AppState>,
    NativeClient(client): NativeClient,
    IdempotencyKey(key): IdempotencyKey,
    Path(id): Path<String>,
    req: Request,
) -> Result<Json<SubjectView>, ApiError> {
    valid_id(&id)?;
    let Json(body): Json<Value> =
        Json::from_request(req, &()).await.map_err(|e| ApiError::new(e.status(), "invalid_json", e.body_text()))?;
    let patch = patch_of(&body)?.clone();
    let hash = fingerprint(&format!("PATCH /v1/subjects/{id}"), [("record", patch.to_string().as_bytes())]);
    let store = state.store.clone();
    let update = store_call(move || {
        let once = key.as_deref().map(|key| Once { client_id: &client, key, request_hash: &hash });
        store.update_subject(&id, &patch, MAX_RECORD_BYTES, once)
    });
    match update.await? {
        RecordUpdate::Updated(s) => Ok(Json(s.into())),
        RecordUpdate::NotFound => Err(not_found()),
        RecordUpdate::TooLarge => {
            Err(ApiError::bad_request("invalid_record", format!("record: the patched record would exceed {MAX_RECORD_BYTES} bytes")))
        }
    }
}

/// The merge patch of a PATCH body: `record`, a JSON object of at most [`MAX_RECORD_BYTES`].
pub fn patch_of(body: &Value) -> Result<&Value, ApiError> {
    match body.get("record") {
        Some(p @ Value::Object(_)) if p.to_string().len() <= MAX_RECORD_BYTES => Ok(p),
        _ => Err(ApiError::bad_request("invalid_record", format!("record: a JSON object of at most {MAX_RECORD_BYTES} bytes"))),
    }
}

/// Delete a subject: its record and embeddings are removed from the database file and the gallery.
#[utoipa::path(delete, path = "/v1/subjects/{id}", tag = "subjects", params(("id" = String, Path)), security(("api_key" = [])),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    NativeClient(client): NativeClient,
    IdempotencyKey(key): IdempotencyKey,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    valid_id(&id)?;
    let hash = fingerprint(&format!("DELETE /v1/subjects/{id}"), []);
    let (store, sid) = (state.store.clone(), id.clone());
    let deleted = store_call(move || {
        let once = key.as_deref().map(|key| Once { client_id: &client, key, request_hash: &hash });
        store.delete_subject(&sid, once)
    });
    let keys = deleted.await?.ok_or_else(not_found)?;
    state.gallery.remove(&keys);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// One gallery face scored against a probe, with the 1:N false-match rate.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Candidate {
    pub subject_id: String,
    pub face_id: String,
    pub similarity: f32,
    /// Calibrated score of this one comparison (-log10(fmr)/6).
    pub score: Option<f32>,
    /// False-match rate of one comparison at this similarity.
    pub fmr: Option<f64>,
    /// False-match rate of the whole search: the chance that any of the gallery's N faces of other
    /// people scores this high, 1 - (1 - fmr)^N.
    pub fmr_search: Option<f64>,
    #[serde(rename = "match")]
    pub is_match: bool,
}

/// The top `k` candidates for an embedding; `match` where the search's FMR is at most `target_fmr`.
pub fn identify_embedding(state: &AppState, embedding: &[f32], k: usize, target_fmr: f64) -> StoreResult<(usize, Vec<Candidate>)> {
    let n = state.gallery.len();
    let manifest = &state.engine.pack().manifest;
    let hits: Vec<Hit> = state.gallery.search(embedding, k, &mut |keys| {
        Ok::<_, StoreError>(
            state
                .store
                .faces_by_key(keys)?
                .into_iter()
                .map(|f| Exact { key: f.key, face: FaceRef { face_id: f.face_id, subject_id: f.subject_id }, embedding: f.embedding })
                .collect(),
        )
    })?;
    let candidates = hits
        .into_iter()
        .map(|h| {
            let cal = manifest.calibrated(h.similarity);
            let fmr_search = cal.map(|c| -f64::exp_m1(n as f64 * f64::ln_1p(-c.fmr.min(1.0 - 1e-16))));
            Candidate {
                subject_id: h.face.subject_id,
                face_id: h.face.face_id,
                similarity: h.similarity,
                score: cal.map(|c| c.score),
                fmr: cal.map(|c| c.fmr),
                fmr_search,
                is_match: fmr_search.is_some_and(|f| f <= target_fmr),
            }
        })
        .collect();
    Ok((n, candidates))
}

/// [`identify_embedding`] off the async runtime's threads: the scan is CPU work (about 1 ms per
/// 100,000 enrolled faces here) and must not hold up other requests' I/O.
pub async fn identify_blocking(
    state: &AppState,
    embedding: Vec<f32>,
    k: usize,
    target_fmr: f64,
) -> Result<(usize, Vec<Candidate>), ApiError> {
    let state = state.clone();
    store_call(move || identify_embedding(&state, &embedding, k, target_fmr)).await
}

/// `POST /v1/identify` as JSON (multipart: file part `image`, text parts as below).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct IdentifyRequest {
    image: String,
    /// Candidates to return (default 5, at most 100).
    top_k: Option<usize>,
    /// Target false-match rate of the whole search (default: the server's `--identify-fmr`, 1e-3).
    fmr: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct IdentifyResponse {
    /// Enrolled faces searched (N).
    pub gallery_size: usize,
    /// The search's target false-match rate.
    pub fmr_target: f64,
    /// The per-comparison FMR that target requires with this gallery: fmr_target / N.
    pub fmr_per_comparison: f64,
    pub candidates: Vec<Candidate>,
    pub faces_in_photo: usize,
    pub used_face: Option<UsedFace>,
}

/// Search the enrolled faces for the largest face of a photo (exact cosine over every face).
#[utoipa::path(post, path = "/v1/identify", tag = "subjects",
    request_body(content((IdentifyRequest = "application/json"), (IdentifyRequest = "multipart/form-data"))),
    security(("api_key" = [])),
    responses(
        (status = 200, body = IdentifyResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, description = "No face in the photo", body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn identify(State(state): State<AppState>, _: NativeClient, req: Request) -> Result<Json<IdentifyResponse>, ApiError> {
    let mut fields = read_fields(&state, req, &["image"]).await?;
    let k = match fields.text.get("top_k") {
        None => 5,
        Some(t) => t
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|k| (1..=MAX_TOP_K).contains(k))
            .ok_or_else(|| ApiError::bad_request("invalid_field", format!("top_k: an integer from 1 to {MAX_TOP_K}")))?,
    };
    let target = match fields.text.get("fmr") {
        None => state.config.identify_fmr,
        Some(t) => t
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| *f > 0.0 && *f < 1.0)
            .ok_or_else(|| ApiError::bad_request("invalid_field", "fmr: must lie strictly between 0 and 1"))?,
    };
    let (a, embedding) = embed_upload(&state, fields.images.remove("image").unwrap_or_default(), "image", Depth::Embedding).await?;
    let (n, candidates) = identify_blocking(&state, embedding, k, target).await?;
    Ok(Json(IdentifyResponse {
        gallery_size: n,
        fmr_target: target,
        fmr_per_comparison: target / n.max(1) as f64,
        candidates,
        faces_in_photo: a.face_count(),
        used_face: used_face(&a),
    }))
}

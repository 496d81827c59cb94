//! `Idempotency-Key` on subject writes through the real router and a real SQLite file: a retry with
//! the same key and request answers what the first wrote (also after a restart, as when the first
//! answer was lost to a crash after the commit); the same key with another request is refused.
mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use common::*;
use facematch::server::{router, AppState, ServerConfig};
use facematch::store::{SqliteStore, Store};
use serde_json::{json, Value};
use tower::ServiceExt;

async fn post(state: &AppState, path: &str, key: Option<&str>, body: Value) -> (StatusCode, Value) {
    let mut req = Request::post(path).header("authorization", NATIVE_BEARER).header("content-type", "application/json");
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let resp = router(state.clone()).oneshot(req.body(Body::from(body.to_string())).unwrap()).await.unwrap();
    let status = resp.status();
    (status, serde_json::from_slice(&axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap()).unwrap_or(Value::Null))
}

fn open(path: &std::path::Path) -> (Arc<SqliteStore>, AppState) {
    let store = Arc::new(SqliteStore::open(path).unwrap());
    with_native_key(store.as_ref());
    let state = AppState::new(engine_arc(), store.clone(), ServerConfig::default());
    (store, state)
}

#[tokio::test]
async fn a_retried_enrollment_is_written_once() {
    let dir = std::env::temp_dir().join(format!("fm-idem-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("facematch.sqlite");
    let photo = base64::engine::general_purpose::STANDARD.encode(read(&sample("newton.png")));
    let body = json!({"image": photo, "record": {"fullName": "Isaac Newton"}});

    let (first, first_state) = {
        let (_store, state) = open(&path);
        let (s, v) = post(&state, "/v1/subjects", Some("enroll-42"), body.clone()).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        (v, state)
    };
    drop(first_state);
    // A new process on the same file (the first answer was lost): the retry gets the first answer.
    let (store, state) = open(&path);
    let (s, again) = post(&state, "/v1/subjects", Some("enroll-42"), body.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{again}");
    assert_eq!((&again["subject_id"], &again["face_id"]), (&first["subject_id"], &first["face_id"]));
    assert_eq!(store.count_subjects().unwrap(), 1, "the retry wrote a second subject");
    assert_eq!(state.gallery.len(), 1);
    // The same key with another request: refused, nothing written.
    let other = json!({"image": photo, "record": {"fullName": "Someone Else"}});
    let (s, v) = post(&state, "/v1/subjects", Some("enroll-42"), other.clone()).await;
    assert_eq!((s, &v["error"]["code"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("idempotency_key_reused")), "{v}");
    assert_eq!(store.count_subjects().unwrap(), 1);
    // Without a key each call writes; another key is another write.
    let (s, _) = post(&state, "/v1/subjects", Some("enroll-43"), other).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(store.count_subjects().unwrap(), 2);
    // Adding a face: once per key too.
    let id = first["subject_id"].as_str().unwrap();
    let face = json!({"image": photo});
    let (s, f1) = post(&state, &format!("/v1/subjects/{id}/faces"), Some("face-1"), face.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{f1}");
    let (_, f2) = post(&state, &format!("/v1/subjects/{id}/faces"), Some("face-1"), face).await;
    assert_eq!(f1["face_id"], f2["face_id"]);
    assert_eq!(store.subject(id).unwrap().unwrap().faces.len(), 2);
    // A key that is not one: 400 naming the header.
    let (s, v) = post(&state, "/v1/subjects", Some("bad key with spaces"), body).await;
    assert_eq!((s, &v["error"]["code"]), (StatusCode::BAD_REQUEST, &json!("invalid_field")), "{v}");
    assert!(v["error"]["message"].as_str().unwrap().starts_with("Idempotency-Key"));
    std::fs::remove_dir_all(&dir).ok();
}

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
    send(state, "POST", path, key, body).await
}

async fn send(state: &AppState, method: &str, path: &str, key: Option<&str>, body: Value) -> (StatusCode, Value) {
    let mut req =
        Request::builder().method(method).uri(path).header("authorization", NATIVE_BEARER).header("content-type", "application/json");
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
    assert_eq!(store.count_subjects(None).unwrap(), 1, "the retry wrote a second subject");
    assert_eq!(state.gallery.len(), 1);
    // The same key with another request: refused, nothing written.
    let other = json!({"image": photo, "record": {"fullName": "Someone Else"}});
    let (s, v) = post(&state, "/v1/subjects", Some("enroll-42"), other.clone()).await;
    assert_eq!((s, &v["error"]["code"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("idempotency_key_reused")), "{v}");
    assert_eq!(store.count_subjects(None).unwrap(), 1);
    // Without a key each call writes; another key is another write.
    let (s, _) = post(&state, "/v1/subjects", Some("enroll-43"), other).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(store.count_subjects(None).unwrap(), 2);
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

/// A record update and a deletion with a key happen once: the retry of a patch does not apply it
/// over a change made since, and the retry of a deletion answers 204 again instead of a 404 that
/// would make a client believe the subject never existed.
#[tokio::test]
async fn a_retried_update_or_deletion_happens_once() {
    let dir = std::env::temp_dir().join(format!("fm-idem-w-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (store, state) = open(&dir.join("facematch.sqlite"));
    let photo = base64::engine::general_purpose::STANDARD.encode(read(&sample("newton.png")));
    let (s, v) = post(&state, "/v1/subjects", None, json!({"image": photo, "record": {"status": "PENDING"}})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let path = format!("/v1/subjects/{}", v["subject_id"].as_str().unwrap());
    let approve = json!({"record": {"status": "ACCEPTED"}});
    let (s, v) = send(&state, "PATCH", &path, Some("approve-1"), approve.clone()).await;
    assert_eq!((s, &v["record"]["status"]), (StatusCode::OK, &json!("ACCEPTED")), "{v}");
    // Another writer changes the status; the retry of the first patch must not undo that change.
    let (s, _) = send(&state, "PATCH", &path, None, json!({"record": {"status": "REJECTED"}})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = send(&state, "PATCH", &path, Some("approve-1"), approve).await;
    assert_eq!((s, &v["record"]["status"]), (StatusCode::OK, &json!("REJECTED")), "the retry applied its patch again: {v}");
    let (s, v) = send(&state, "PATCH", &path, Some("approve-1"), json!({"record": {"status": "X"}})).await;
    assert_eq!((s, &v["error"]["code"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("idempotency_key_reused")), "{v}");
    // Deletion: 204, and 204 again on the retry with the key; a retry without one is a 404.
    let (s, _) = send(&state, "DELETE", &path, Some("delete-1"), Value::Null).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = send(&state, "DELETE", &path, Some("delete-1"), Value::Null).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = send(&state, "DELETE", &path, None, Value::Null).await;
    assert_eq!((s, &v["error"]["code"]), (StatusCode::NOT_FOUND, &json!("subject_not_found")), "{v}");
    assert_eq!(store.count_subjects(None).unwrap(), 0);
    // The patch's retry, once its subject is gone: 409, in the native shape.
    let (s, v) = send(&state, "PATCH", &path, Some("approve-1"), json!({"record": {"status": "ACCEPTED"}})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    std::fs::remove_dir_all(&dir).ok();
}

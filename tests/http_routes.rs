//! Paths as vendors' clients write them: a trailing slash or none, and unknown paths answered in
//! the shape of the API whose prefix they share. Through the real router.
mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use facematch::server::{router, AppState, ServerConfig};
use facematch::store::SqliteStore;
use serde_json::{json, Value};
use tower::ServiceExt;

async fn send(state: &AppState, req: Request<Body>) -> (StatusCode, Value) {
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn state() -> AppState {
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    with_native_key(store.as_ref());
    AppState::new(engine_arc(), store, ServerConfig::default())
}

/// Each route with the other trailing-slash form reaches the same handler (no credentials: each
/// vendor's own auth error proves the handler ran).
#[tokio::test]
async fn trailing_slash_either_way() {
    let s = state();
    let cases: [(&str, StatusCode, &str); 6] = [
        ("/verification/face-match/", StatusCode::BAD_REQUEST, "code"),
        ("/ai/v1/face-verification/verify/", StatusCode::UNAUTHORIZED, "message"),
        ("/facelink/api/face-check/", StatusCode::UNAUTHORIZED, "responseCode"),
        ("/v2/face-match", StatusCode::UNAUTHORIZED, "detail"),
        ("/api/v1.1/face/match", StatusCode::FORBIDDEN, "message"),
        ("/v1/compare/", StatusCode::UNAUTHORIZED, "error"),
    ];
    for (path, status, field) in cases {
        let (got, v) = send(&s, Request::post(path).body(Body::empty()).unwrap()).await;
        assert_eq!(got, status, "{path}: {v}");
        assert!(v.get(field).is_some(), "{path}: {v}");
    }
    // The query string survives the retry.
    let (got, v) = send(&s, Request::get("/getToken/?clientId=a&clientSecret=b").body(Body::empty()).unwrap()).await;
    assert_eq!((got, &v["responseCode"]), (StatusCode::UNAUTHORIZED, &json!(4001)), "{v}");
}

#[tokio::test]
async fn unknown_paths_answer_in_their_apis_shape() {
    let s = state();
    let cases = [
        ("/api/v9/nothing", json!({"message": "Not Found"})),
        ("/v2/nothing/", json!({"detail": "Not found."})),
        (
            "/verification/nothing",
            json!({"type": "invalid_request_error", "code": "request_url_not_found", "message": "The requested URL was not found"}),
        ),
        ("/ai/v1/nothing", json!({"message": "Not Found"})),
        ("/facelink/api/nothing", json!({"responseCode": 4040, "message": "Not found"})),
    ];
    for (path, body) in cases {
        assert_eq!(send(&s, Request::post(path).body(Body::empty()).unwrap()).await, (StatusCode::NOT_FOUND, body), "{path}");
    }
    let (got, v) = send(&s, Request::get("/nothing").body(Body::empty()).unwrap()).await;
    assert_eq!((got, &v["error"]["code"]), (StatusCode::NOT_FOUND, &json!("not_found")), "{v}");
}

/// The framework's own refusals (wrong method, malformed query or path, wrong content type) come
/// in the shape of the path's API, never as empty or plain-text bodies.
#[tokio::test]
async fn framework_refusals_answer_in_their_apis_shape() {
    let s = state();
    let (st, v) = send(&s, Request::get("/verification/face-match").body(Body::empty()).unwrap()).await;
    assert_eq!(
        (st, &v["type"], &v["code"]),
        (StatusCode::METHOD_NOT_ALLOWED, &json!("invalid_request_error"), &json!("request_invalid")),
        "{v}"
    );
    let (st, v) = send(&s, Request::get("/v2/face-match/").body(Body::empty()).unwrap()).await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
    assert!(v["detail"].is_string(), "{v}");
    let (st, v) = send(&s, Request::get("/v1/compare").body(Body::empty()).unwrap()).await;
    assert_eq!((st, &v["error"]["code"]), (StatusCode::METHOD_NOT_ALLOWED, &json!("invalid_request")), "{v}");
    let (st, v) = send(&s, Request::post("/api/o/token/").header("content-type", "application/json").body(Body::from("{}")).unwrap()).await;
    assert_eq!(st, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(v["message"].is_string(), "{v}");
    let (st, v) =
        send(&s, Request::get("/v1/subjects?limit=abc").header("authorization", NATIVE_BEARER).body(Body::empty()).unwrap()).await;
    assert!(st.is_client_error() && v["error"]["message"].is_string(), "{st} {v}");
    let (st, v) = send(&s, Request::get("/didit/images/%ff.jpg").body(Body::empty()).unwrap()).await;
    assert!(st.is_client_error() && v["detail"].is_string(), "{st} {v}");
}

//! The API description agrees with the code: `/openapi.json` lists every route the router serves,
//! real responses carry exactly the documented fields, and the docs page works offline.
mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use common::*;
use facematch::server::{router, AppState, ServerConfig};
use serde_json::{json, Value};
use tower::ServiceExt;

fn state() -> AppState {
    let store = Arc::new(facematch::store::SqliteStore::in_memory().unwrap());
    with_native_key(store.as_ref());
    AppState::new(engine_arc(), store, ServerConfig::default())
}

async fn get(path: &str) -> (StatusCode, String) {
    let resp = router(state()).oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8_lossy(&bytes).to_string())
}

/// The property names of a component schema, sorted.
fn properties(spec: &Value, schema: &str) -> Vec<String> {
    let mut k: Vec<String> = spec["components"]["schemas"][schema]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("schema {schema} is not documented"))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

#[tokio::test]
async fn every_documented_route_is_served_and_every_vendor_route_is_documented() {
    let (s, text) = get("/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    let spec: Value = serde_json::from_str(&text).unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let paths: Vec<&String> = spec["paths"].as_object().unwrap().keys().collect();
    for p in [
        "/v1/compare",
        "/v1/detect",
        "/v1/embed",
        "/v1/subjects",
        "/v1/subjects/{id}",
        "/v1/subjects/{id}/faces",
        "/v1/identify",
        "/getToken",
        "/facelink/api/face-check",
        "/api/o/token/",
        "/api/v1.1/face/match/",
        "/auth/v2/token/",
        "/v2/face-match/",
        "/v3/face-match/",
        "/ai/v1/face-verification/verify",
        "/verification/face-match",
        "/didit/images/{id}",
        "/health",
        "/ready",
        "/metrics",
    ] {
        assert!(paths.iter().any(|x| *x == p), "{p} is not in /openapi.json");
    }
    // Each documented operation is answered by its handler, not by the 404 fallback or a 405.
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let id =
                if path.starts_with("/didit") { "0123456789abcdef0123456789abcdef.jpg" } else { "7b0e7a4e-0000-4000-8000-000000000000" };
            let uri = path.replace("{id}", id);
            let req = Request::builder().method(method.to_uppercase().as_str()).uri(&uri).body(Body::empty()).unwrap();
            let resp = router(state()).oneshot(req).await.unwrap();
            let status = resp.status();
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_ne!(&body[..], br#"{"message":"Not Found"}"#, "{method} {path} fell through to the fallback");
        }
    }
}

#[tokio::test]
async fn real_responses_carry_exactly_the_documented_fields() {
    let spec: Value = serde_json::from_str(&get("/openapi.json").await.1).unwrap();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let newton = read(&sample("newton.png"));
    let body = json!({"image_a": b64(&newton), "image_b": b64(&read(&sample("gauss.png")))});
    let req = Request::post("/v1/compare")
        .header("authorization", NATIVE_BEARER)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = router(state()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = serde_json::from_slice(&axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap()).unwrap();
    assert_eq!(keys(&v), properties(&spec, "CompareResponse"));
    assert_eq!(keys(&v["image_a"]), properties(&spec, "ImageReport"));
    assert_eq!(keys(&v["image_a"]["used_face"]), properties(&spec, "UsedFace"));
    assert_eq!(keys(&v["image_a"]["faces"][0]), properties(&spec, "Face"));
    assert_eq!(keys(&v["image_a"]["timings_ms"]), properties(&spec, "StageTimings"));
    assert_eq!(keys(&v["decision"]), properties(&spec, "Decision"));
    assert_eq!(keys(&v["thresholds"][0]), properties(&spec, "ThresholdPoint"));

    let req = Request::post("/v1/compare")
        .header("authorization", NATIVE_BEARER)
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap();
    let v: Value =
        serde_json::from_slice(&axum::body::to_bytes(router(state()).oneshot(req).await.unwrap().into_body(), usize::MAX).await.unwrap())
            .unwrap();
    assert_eq!(keys(&v), properties(&spec, "ErrorBody"));
    assert_eq!(keys(&v["error"]), properties(&spec, "ErrorDetail"));

    // Vendor error bodies, from requests without credentials.
    let req = Request::post("/verification/face-match").body(Body::empty()).unwrap();
    let v: Value =
        serde_json::from_slice(&axum::body::to_bytes(router(state()).oneshot(req).await.unwrap().into_body(), usize::MAX).await.unwrap())
            .unwrap();
    assert_eq!(keys(&v), properties(&spec, "CashfreeErrorBody"));
    for (path, schema) in [
        ("/v2/face-match/", "DiditErrorBody"),
        ("/ai/v1/face-verification/verify", "VideoSdkErrorBody"),
        ("/api/v1.1/face/match/", "ValifyErrorBody"),
    ] {
        let req = Request::post(path).header("authorization", NATIVE_BEARER).body(Body::empty()).unwrap();
        let v: Value = serde_json::from_slice(
            &axum::body::to_bytes(router(state()).oneshot(req).await.unwrap().into_body(), usize::MAX).await.unwrap(),
        )
        .unwrap();
        let documented = properties(&spec, schema);
        assert!(keys(&v).iter().all(|k| documented.contains(k)), "{path}: {v} vs {documented:?}");
    }
}

#[tokio::test]
async fn the_docs_page_needs_nothing_from_outside() {
    let (s, html) = get("/docs").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("/openapi.json"));
    for external in ["http://", "https://", "//cdn", "<link", "src="] {
        assert!(!html.contains(external), "the docs page refers to `{external}`");
    }
}

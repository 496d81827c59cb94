//! The console's assets and the native calls it relies on that nothing else tests: `GET /` and its
//! files with their Content-Security-Policy, `GET /v1/status`, and the subject search `q`. Through
//! the real router, on the real engine.
mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::*;
use facematch::server::{router, AppState, ServerConfig};
use facematch::store::SqliteStore;
use serde_json::{json, Value};
use tower::ServiceExt;

fn state() -> AppState {
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    with_native_key(store.as_ref());
    AppState::new(engine_arc(), store, ServerConfig::default())
}

async fn get(state: &AppState, path: &str, key: bool) -> axum::response::Response {
    let mut req = Request::get(path);
    if key {
        req = req.header(header::AUTHORIZATION, NATIVE_BEARER);
    }
    router(state.clone()).oneshot(req.body(Body::empty()).unwrap()).await.unwrap()
}

async fn json_of(r: axum::response::Response) -> Value {
    serde_json::from_slice(&axum::body::to_bytes(r.into_body(), usize::MAX).await.unwrap()).unwrap()
}

#[tokio::test]
async fn console_assets_are_same_origin_only() {
    let s = state();
    for (path, ty) in [
        ("/", "text/html"),
        ("/console/app.js", "text/javascript"),
        ("/console/app.css", "text/css"),
        ("/console/icon.svg", "image/svg+xml"),
    ] {
        let r = get(&s, path, false).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let h = r.headers();
        assert!(h[header::CONTENT_TYPE].to_str().unwrap().starts_with(ty), "{path}");
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        for rule in ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"] {
            assert!(csp.contains(rule), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("http"), "{path}: nothing inline, no other origin: {csp}");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let body = axum::body::to_bytes(r.into_body(), usize::MAX).await.unwrap();
        // (An SVG's namespace name is an identifier, never fetched.)
        let text = String::from_utf8(body.to_vec()).unwrap().replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        // Nothing in the page or its files names another origin (no CDN, no font service).
        assert!(!text.contains("https://") && !text.contains("http://"), "{path} names another origin");
    }
}

#[tokio::test]
async fn status_reports_the_pack_the_calibration_and_the_engine() {
    let s = state();
    let r = get(&s, "/v1/status", false).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(r).await["error"]["code"], "unauthorized");
    let r = get(&s, "/v1/status", true).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v = json_of(r).await;
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["pack"]["name"], "yunet-sface");
    let m = &s.engine.pack().manifest;
    assert_eq!(
        v["pack"]["models"][0],
        json!({"role": "detector", "file": m.detector.model.file, "sha256": m.detector.model.sha256, "backend": m.detector.backend.to_string()})
    );
    assert_eq!(v["pack"]["models"][1]["sha256"], json!(m.embedder.model.sha256));
    let points = v["calibration"]["points"].as_array().unwrap();
    assert_eq!(points.len(), m.calibration.as_ref().unwrap().points.len());
    for p in points {
        assert!(p["fmr"].is_f64() && p["cosine"].is_f64() && p["score"].is_f64() && p["extrapolated"].is_boolean());
        let tar = p["tar"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&tar), "{p}");
    }
    // TAR falls as the FMR does.
    let tars: Vec<f64> = points.iter().map(|p| p["tar"].as_f64().unwrap()).collect();
    assert!(tars.windows(2).all(|w| w[1] <= w[0]), "{tars:?}");
    assert_eq!(v["match_threshold_score"], json!(0.75));
    assert!((v["match_threshold_fmr"].as_f64().unwrap() - 10f64.powf(-4.5)).abs() < 1e-9);
    assert_eq!(v["gallery_faces"], 0);
    assert_eq!(v["photos_kept"], false);
    assert!(v["engine"]["workers"].as_u64().unwrap() >= 1 && v["engine"]["queue"].is_u64() && v["engine"]["queue_depth"].is_u64());
}

#[tokio::test]
async fn subject_search_over_http() {
    let s = state();
    let photo = read(&sample("newton.png"));
    for (name, doc) in [("Isaac Newton", "PD-1643"), ("Carl Friedrich Gauss", "PD-1777")] {
        let (ct, body) =
            multipart(&[Part::File("image", &photo), Part::Text("record", &json!({"fullName": name, "documentId": doc}).to_string())]);
        let req = Request::post("/v1/subjects")
            .header(header::AUTHORIZATION, NATIVE_BEARER)
            .header(header::CONTENT_TYPE, ct)
            .body(Body::from(body))
            .unwrap();
        assert_eq!(router(s.clone()).oneshot(req).await.unwrap().status(), StatusCode::CREATED);
    }
    let names =
        |v: &Value| v["subjects"].as_array().unwrap().iter().map(|s| s["full_name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let v = json_of(get(&s, "/v1/subjects?q=newton", true).await).await;
    assert_eq!((v["total"].clone(), names(&v)), (json!(1), vec!["Isaac Newton".to_string()]));
    let v = json_of(get(&s, "/v1/subjects?q=pd-17", true).await).await;
    assert_eq!(names(&v), vec!["Carl Friedrich Gauss".to_string()], "a document id, any case");
    let v = json_of(get(&s, "/v1/subjects?q=%25", true).await).await;
    assert_eq!(v["total"], 0, "% is no wildcard");
    let v = json_of(get(&s, "/v1/subjects?q=%20%20", true).await).await;
    assert_eq!(v["total"], 2, "a blank search lists everyone");
    let r = get(&s, &format!("/v1/subjects?q={}", "x".repeat(257)), true).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v = json_of(r).await;
    assert_eq!(v["error"]["code"], "invalid_field");
    assert!(v["error"]["message"].as_str().unwrap().starts_with("q:"), "{v}");
}

//! Valify contract tests (`valify-face-match.md`) through the real router with real models: the
//! OAuth token endpoint, both paths, both body layouts, every documented status and message.
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

fn state_with(store: Arc<dyn Store>) -> AppState {
    AppState::new(engine_arc(), store, ServerConfig::default())
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn send(state: &AppState, req: Request<Body>) -> (StatusCode, Value) {
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let s = resp.status();
    (s, serde_json::from_slice(&axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap()).unwrap_or(Value::Null))
}

async fn token(state: &AppState, form: &str) -> (StatusCode, Value) {
    send(
        state,
        Request::post("/api/o/token/")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(form.to_string()))
            .unwrap(),
    )
    .await
}

async fn face_match(state: &AppState, path: &str, bearer: Option<&str>, body: Value) -> (StatusCode, Value) {
    let mut req = Request::post(path).header("content-type", "application/json");
    if let Some(t) = bearer {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    send(state, req.body(Body::from(body.to_string())).unwrap()).await
}

#[tokio::test]
async fn token_then_match_in_both_layouts_and_paths() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let c = store.add_client("valify", None).unwrap();
    let bundle = store.add_bundle_key(None).unwrap();
    let state = state_with(store);
    let (s, t) = token(&state, &format!("grant_type=client_credentials&client_id={}&client_secret={}", c.client_id, c.secret)).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(keys(&t), ["access_token", "expires_in", "refresh_token", "scope", "token_type"]);
    assert_eq!(t["token_type"], "Bearer");
    assert!(t["expires_in"].is_i64());
    let access = t["access_token"].as_str().unwrap().to_string();

    let newton = read(&sample("newton.png"));
    let mirror = {
        let img = image::load_from_memory(&newton).unwrap().fliph();
        let mut out = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
        out
    };
    let gauss = read(&sample("gauss.png"));
    // Top level, as the doc's Python example sends it, to the example's URL.
    let (s, v) = face_match(
        &state,
        "/api/v1/face/match",
        Some(&access),
        json!({"first_img": b64(&newton), "second_img": b64(&mirror), "bundle_key": bundle, "lang": "en"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(keys(&v), ["result", "transaction_id", "trials_remaining"]);
    assert_eq!(keys(&v["result"]), ["confidence", "is_similar"]);
    assert_eq!(v["result"]["is_similar"], true);
    assert!(v["result"]["confidence"].as_f64().unwrap() >= 0.75);
    assert!(v["transaction_id"].is_string() && v["trials_remaining"].is_i64());
    // Nested under `data`, as the doc's table shows it, to the v1.1 URL (with its slash).
    let (s, v2) = face_match(
        &state,
        "/api/v1.1/face/match/",
        Some(&access),
        json!({"data": {"first_img": b64(&newton), "second_img": b64(&gauss), "bundle_key": bundle}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v2}");
    assert_eq!(v2["result"]["is_similar"], false);
    assert_ne!(v["transaction_id"], v2["transaction_id"]);
    // A refresh token gives a new access token.
    let (s, r) = token(&state, &format!("grant_type=refresh_token&refresh_token={}", t["refresh_token"].as_str().unwrap())).await;
    assert_eq!(s, StatusCode::OK);
    assert_ne!(r["access_token"], t["access_token"]);
}

#[tokio::test]
async fn documented_errors() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let c = store.add_client("valify", None).unwrap();
    let bundle = store.add_bundle_key(None).unwrap();
    let limited = store.add_bundle_key(Some(1)).unwrap();
    let state = state_with(store);
    let (s, v) = token(&state, &format!("grant_type=client_credentials&client_id={}&client_secret=wrong", c.client_id)).await;
    assert_eq!((s, v), (StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"})));
    let (s, _) = token(&state, "grant_type=authorization_code").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (_, t) =
        token(&state, &format!("grant_type=password&client_id={}&client_secret={}&username=u&password=p", c.client_id, c.secret)).await;
    let access = t["access_token"].as_str().unwrap().to_string();
    let newton = b64(&read(&sample("newton.png")));
    let ok = |bundle: &str| json!({"first_img": newton, "second_img": newton, "bundle_key": bundle});
    let p = "/api/v1.1/face/match/";
    assert_eq!(
        face_match(&state, p, Some(&access), json!({"first_img": newton, "second_img": newton})).await,
        (
            StatusCode::BAD_REQUEST,
            json!({"message": "Bad Request – invalid request received (e.g. missing Bundle key, required parameters or invalid json) | Make sure all the required parameters are included"})
        )
    );
    assert_eq!(
        face_match(&state, p, Some(&access), ok("not-a-bundle")).await,
        (StatusCode::UNAUTHORIZED, json!({"message": "Unauthorized – your Bundle key is invalid"}))
    );
    assert_eq!(
        face_match(&state, p, None, ok(&bundle)).await,
        (StatusCode::FORBIDDEN, json!({"message": "Forbidden – specified access_token could not be found"}))
    );
    assert_eq!(face_match(&state, p, Some("bogus"), ok(&bundle)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        face_match(&state, "/api/v2/face/match", Some(&access), ok(&bundle)).await,
        (StatusCode::NOT_FOUND, json!({"message": "Not Found"}))
    );
    assert_eq!(
        face_match(&state, p, Some(&access), json!({"first_img": newton, "second_img": "*** not base64 ***", "bundle_key": bundle})).await,
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, json!({"message": "Unsupported Media Type"}))
    );
    let white = b64(&blank_png(300));
    let (s, v) = face_match(&state, p, Some(&access), json!({"first_img": newton, "second_img": white, "bundle_key": bundle})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(keys(&v), ["error_code", "message"]);
    assert_eq!(v["error_code"], facematch::server::valify::codes::NO_FACE_SECOND);
    // A bundle with one trial: the first call leaves 0, the next is refused.
    let (s, v) = face_match(&state, p, Some(&access), ok(&limited)).await;
    assert_eq!((s, v["trials_remaining"].as_i64()), (StatusCode::OK, Some(0)));
    let (s, v) = face_match(&state, p, Some(&access), ok(&limited)).await;
    assert_eq!((s, v["error_code"].as_i64()), (StatusCode::UNPROCESSABLE_ENTITY, Some(facematch::server::valify::codes::TRIALS_EXHAUSTED)));
}

#[tokio::test]
async fn issued_tokens_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("fm-valify-{}", std::process::id()));
    let path = dir.join("facematch.sqlite");
    let (access, bundle) = {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
        let c = store.add_client("valify", None).unwrap();
        let bundle = store.add_bundle_key(None).unwrap();
        let state = state_with(store);
        let (_, t) = token(&state, &format!("grant_type=client_credentials&client_id={}&client_secret={}", c.client_id, c.secret)).await;
        (t["access_token"].as_str().unwrap().to_string(), bundle)
    };
    let state = state_with(Arc::new(SqliteStore::open(&path).unwrap()));
    let newton = b64(&read(&sample("newton.png")));
    let (s, v) =
        face_match(&state, "/api/v1/face/match/", Some(&access), json!({"first_img": newton, "second_img": newton, "bundle_key": bundle}))
            .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    std::fs::remove_dir_all(&dir).ok();
}

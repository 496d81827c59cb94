//! Didit contract tests (`didit-face-match.md` v2, NOTES.md v3) through the real router with real
//! models: token exchange, the doc's multipart request, exact fields and JSON types, decisions,
//! warnings, crop URLs, and the documented errors.
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

struct Fx {
    state: AppState,
    token: String,
    api_key: String,
    id: String,
    secret: String,
}

async fn send(state: &AppState, req: Request<Body>) -> (StatusCode, Value) {
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let s = resp.status();
    (s, serde_json::from_slice(&axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap()).unwrap_or(Value::Null))
}

async fn token_call(state: &AppState, basic: &str, form: &str) -> (StatusCode, Value) {
    send(
        state,
        Request::post("/auth/v2/token/")
            .header("authorization", format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(basic)))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(form.to_string()))
            .unwrap(),
    )
    .await
}

async fn fx() -> Fx {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let c = store.add_client("didit", None).unwrap();
    let api_key = store.issue_token("didit", &c.client_id, "api_key", 3600).unwrap();
    let state = AppState::new(engine_arc(), store, ServerConfig::default());
    let (s, t) = token_call(&state, &format!("{}:{}", c.client_id, c.secret), "grant_type=client_credentials").await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert!(t["expires_in"].is_i64());
    Fx { state, token: t["access_token"].as_str().unwrap().to_string(), api_key, id: c.client_id, secret: c.secret }
}

async fn post(f: &Fx, path: &str, auth: &[(&str, String)], parts: &[Part<'_>]) -> (StatusCode, Value) {
    let (ct, body) = multipart(parts);
    let mut req = Request::post(path).header("content-type", ct).header("host", "kyc.test");
    for (k, v) in auth {
        req = req.header(*k, v);
    }
    send(&f.state, req.body(Body::from(body)).unwrap()).await
}

fn risks(v: &Value) -> Vec<String> {
    v["face_match"]["warnings"].as_array().unwrap().iter().map(|w| w["risk"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn v2_doc_request_gives_the_doc_response() {
    let f = fx().await;
    let bearer = [("authorization", format!("Bearer {}", f.token))];
    let newton = read(&sample("newton.png"));
    let mirror = mirrored_jpeg(&newton);
    let (s, v) = post(
        &f,
        "/v2/face-match",
        &bearer,
        &[
            Part::File("user_image", &mirror),
            Part::File("ref_image", &newton),
            Part::Text("options", "{\"face_match_score_decline_threshold\": 40}"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(keys(&v), ["created_at", "face_match", "request_id"]);
    assert_eq!(keys(&v["face_match"]), ["score", "source_image", "status", "target_image", "warnings"]);
    assert!(uuid::Uuid::parse_str(v["request_id"].as_str().unwrap()).is_ok());
    assert!(time::OffsetDateTime::parse(v["created_at"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).is_ok());
    assert_eq!(v["face_match"]["status"], "Approved");
    let score = v["face_match"]["score"].as_f64().unwrap();
    assert!(score > 40.0 && score <= 100.0 && (score * 100.0).round() == score * 100.0);
    // newton.png is 768x432: below the 480x480 minimum, so each image is compared with a warning.
    assert_eq!(risks(&v), ["LOW_IMAGE_RESOLUTION", "LOW_IMAGE_RESOLUTION"]);
    for w in v["face_match"]["warnings"].as_array().unwrap() {
        assert_eq!(keys(w), ["additional_data", "log_type", "long_description", "risk", "short_description"]);
    }
    // The crop URL serves the aligned face.
    let url = v["face_match"]["source_image"].as_str().unwrap();
    let path = url.strip_prefix("http://kyc.test").unwrap();
    let resp = router(f.state.clone()).oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let jpeg = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    assert_eq!(image::load_from_memory(&jpeg).unwrap().width(), 112);
    let resp = router(f.state.clone())
        .oneshot(Request::get("/didit/images/00000000000000000000000000000000.jpg").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    // Different people at Didit's documented default (30, which stands for the deployment's
    // decision point): Declined with LOW_FACE_MATCH_SIMILARITY.
    let gauss = read(&sample("gauss.png"));
    let (_, v) = post(&f, "/v2/face-match/", &bearer, &[Part::File("user_image", &newton), Part::File("ref_image", &gauss)]).await;
    assert_eq!(v["face_match"]["status"], "Declined", "{v}");
    assert!(v["face_match"]["score"].as_f64().unwrap() < 30.0);
    assert!(risks(&v).contains(&"LOW_FACE_MATCH_SIMILARITY".to_string()));
    // A review threshold above the score: In Review.
    let (_, v) = post(
        &f,
        "/v2/face-match/",
        &bearer,
        &[
            Part::File("user_image", &newton),
            Part::File("ref_image", &gauss),
            Part::Text("options", "{\"face_match_score_decline_threshold\": 0, \"face_match_score_review_threshold\": 100}"),
        ],
    )
    .await;
    assert_eq!(v["face_match"]["status"], "In Review", "{v}");
    // Several faces: the largest is used, with a warning.
    let (s, v) = post(
        &f,
        "/v2/face-match/",
        &bearer,
        &[Part::File("user_image", &newton), Part::File("ref_image", &read(&sample("solvay_conference_1927.jpg")))],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(risks(&v).contains(&"MULTIPLE_FACES_DETECTED".to_string()));
    // No face: 200, Declined, NO_REFERENCE_IMAGE, score null.
    let white = blank_png(500);
    let (s, v) = post(&f, "/v2/face-match/", &bearer, &[Part::File("user_image", &newton), Part::File("ref_image", &white)]).await;
    assert_eq!((s, &v["face_match"]["status"], &v["face_match"]["score"]), (StatusCode::OK, &json!("Declined"), &Value::Null));
    assert!(risks(&v).contains(&"NO_REFERENCE_IMAGE".to_string()));
}

#[tokio::test]
async fn v3_shape_and_rules() {
    let f = fx().await;
    let key = [("x-api-key", f.api_key.clone())];
    let newton = read(&sample("newton.png"));
    let (s, v) = post(
        &f,
        "/v3/face-match/",
        &key,
        &[
            Part::File("user_image", &mirrored_jpeg(&newton)),
            Part::File("ref_image", &newton),
            Part::Text("face_match_score_decline_threshold", "30"),
            Part::Text("vendor_data", "user-42"),
            Part::Text("metadata", "{\"a\": 1}"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(keys(&v["face_match"]), ["ref_image", "score", "status", "user_image", "warnings"]);
    assert_eq!(v["face_match"]["status"], "Approved");
    let e = &v["face_match"]["user_image"]["entities"][0];
    assert_eq!(keys(e), ["bbox", "confidence"]);
    assert_eq!(e["bbox"].as_array().unwrap().len(), 4);
    assert_eq!(v["face_match"]["ref_image"]["best_angle"], 0);
    // v3 has no In Review; no face with save_api_request=false gives score 0.
    let white = blank_png(500);
    let (_, v) = post(
        &f,
        "/v3/face-match/",
        &key,
        &[Part::File("user_image", &newton), Part::File("ref_image", &white), Part::Text("save_api_request", "false")],
    )
    .await;
    assert_eq!((&v["face_match"]["status"], &v["face_match"]["score"]), (&json!("Declined"), &json!(0)));
    let (s, v) = post(&f, "/v3/face-match/", &[], &[Part::File("user_image", &newton), Part::File("ref_image", &newton)]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(v["detail"].is_string());
    let (s, _) = post(
        &f,
        "/v3/face-match/",
        &[("x-api-key", "wrong".into())],
        &[Part::File("user_image", &newton), Part::File("ref_image", &newton)],
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn v2_errors() {
    let f = fx().await;
    let newton = read(&sample("newton.png"));
    // v2 doc: "401 Unauthorized: Invalid or missing access_token".
    let (s, v) = post(&f, "/v2/face-match/", &[], &[Part::File("user_image", &newton), Part::File("ref_image", &newton)]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(keys(&v), ["detail"]);
    let (s, _) = post(
        &f,
        "/v2/face-match/",
        &[("authorization", "Bearer nope".into())],
        &[Part::File("user_image", &newton), Part::File("ref_image", &newton)],
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let bearer = [("authorization", format!("Bearer {}", f.token))];
    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec();
    let (s, v) = post(&f, "/v2/face-match/", &bearer, &[Part::File("user_image", &gif), Part::File("ref_image", &newton)]).await;
    assert_eq!((s, v), (StatusCode::BAD_REQUEST, json!({"detail": "Invalid image format. Supported formats: JPEG, PNG, WebP."})));
    let (s, v) = post(&f, "/v2/face-match/", &bearer, &[Part::File("user_image", &newton)]).await;
    assert_eq!((s, v["detail"].as_str()), (StatusCode::BAD_REQUEST, Some("ref_image is required.")));
    let (s, _) = post(
        &f,
        "/v2/face-match/",
        &bearer,
        &[
            Part::File("user_image", &newton),
            Part::File("ref_image", &newton),
            Part::Text("options", "{\"face_match_score_decline_threshold\": 140}"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = token_call(&f.state, &format!("{}:wrong", f.id), "grant_type=client_credentials").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = token_call(&f.state, &format!("{}:{}", f.id, f.secret), "grant_type=password").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

/// v2 declines a score *below* the threshold (its doc), v3 one *at or below* (its published rule):
/// a threshold equal to the printed score approves on v2 and declines on v3.
#[tokio::test]
async fn a_score_equal_to_the_threshold() {
    let f = fx().await;
    let newton = read(&sample("newton.png"));
    let gauss = read(&sample("gauss.png"));
    let bearer = [("authorization", format!("Bearer {}", f.token))];
    let (_, v) = post(&f, "/v2/face-match", &bearer, &[Part::File("user_image", &newton), Part::File("ref_image", &gauss)]).await;
    let score = v["face_match"]["score"].as_f64().unwrap();
    assert!(score > 0.0, "{v}");
    let options = format!("{{\"face_match_score_decline_threshold\": {score}}}");
    let (_, v) = post(
        &f,
        "/v2/face-match",
        &bearer,
        &[Part::File("user_image", &newton), Part::File("ref_image", &gauss), Part::Text("options", &options)],
    )
    .await;
    assert_eq!((v["face_match"]["status"].as_str(), v["face_match"]["score"].as_f64()), (Some("Approved"), Some(score)), "{v}");
    let t = score.to_string();
    let (_, v) = post(
        &f,
        "/v3/face-match",
        &[("x-api-key", f.api_key.clone())],
        &[Part::File("user_image", &newton), Part::File("ref_image", &gauss), Part::Text("face_match_score_decline_threshold", &t)],
    )
    .await;
    assert_eq!((v["face_match"]["status"].as_str(), v["face_match"]["score"].as_f64()), (Some("Declined"), Some(score)), "{v}");
}

/// `created_at` as the doc prints it: at most 6 fractional digits (Python's `%f`), UTC `Z`.
#[tokio::test]
async fn created_at_has_microseconds() {
    let f = fx().await;
    let newton = read(&sample("newton.png"));
    let (_, v) = post(
        &f,
        "/v3/face-match/",
        &[("x-api-key", f.api_key.clone())],
        &[Part::File("user_image", &newton), Part::File("ref_image", &newton)],
    )
    .await;
    let t = v["created_at"].as_str().unwrap();
    let (_, frac) = t.strip_suffix('Z').unwrap().split_once('.').unwrap();
    assert_eq!(frac.len(), 6, "{t}");
    assert!(time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).is_ok());
}

/// Didit's documented default (30) declines different people: newton vs gauss above, and every
/// different-person pair of LFW View 1 DevTest here (500 pairs).
#[tokio::test]
async fn the_default_threshold_declines_lfw_devtest_impostors() {
    let Some(eval) = shared_eval() else { return };
    let f = fx().await;
    let root = eval.join("lfw-view1/lfw");
    let img = |n: &str, i: &str| read(&root.join(n).join(format!("{n}_{:04}.jpg", i.parse::<u32>().unwrap())));
    let list = std::fs::read_to_string(eval.join("lfw-view1/pairsDevTest.txt")).unwrap();
    let impostors: Vec<Vec<&str>> = list.lines().map(|l| l.split_whitespace().collect::<Vec<_>>()).filter(|x| x.len() == 4).collect();
    assert_eq!(impostors.len(), 500);
    let key = [("x-api-key", f.api_key.clone())];
    let (mut approved, mut declined, mut highest) = (Vec::new(), 0, 0.0f64);
    for p in &impostors {
        let (a, b) = (img(p[0], p[1]), img(p[2], p[3]));
        let (s, v) = post(&f, "/v3/face-match/", &key, &[Part::File("user_image", &a), Part::File("ref_image", &b)]).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        match v["face_match"]["status"].as_str() {
            Some("Declined") => declined += 1,
            _ => approved.push(format!("{} {} {} {}: {}", p[0], p[1], p[2], p[3], v["face_match"]["score"])),
        }
        highest = highest.max(v["face_match"]["score"].as_f64().unwrap_or(0.0));
    }
    println!(
        "Didit default (30): {} of 500 LFW DevTest impostor pairs approved, {declined} declined; highest score {highest}",
        approved.len()
    );
    assert!(approved.is_empty(), "approved strangers: {approved:?}");
}

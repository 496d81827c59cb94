//! Cashfree contract tests (`../shared/vendor-docs/cashfree-face-match.md`) through the real router,
//! with real models and photos: exact fields and JSON types, every documented error's status, type,
//! code and message.
mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use facematch::server::{router, AppState, ServerConfig};
use facematch::store::{SqliteStore, Store};
use serde_json::{json, Value};
use tower::ServiceExt;

struct Fixture {
    state: AppState,
    id: String,
    secret: String,
}

fn fixture_with(store: Arc<dyn Store>) -> Fixture {
    let c = store.add_client("cashfree", None).unwrap();
    let state = AppState::new(engine_arc(), store, ServerConfig::default());
    Fixture { state, id: c.client_id, secret: c.secret }
}

fn fixture() -> Fixture {
    fixture_with(Arc::new(SqliteStore::in_memory().unwrap()))
}

async fn post(f: &Fixture, headers: &[(&str, &str)], parts: &[Part<'_>]) -> (StatusCode, Value) {
    let (ct, body) = multipart(parts);
    let mut req = Request::post("/verification/face-match").header("content-type", ct);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = router(f.state.clone()).oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn assert_error(got: (StatusCode, Value), status: StatusCode, kind: &str, code: &str, message: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1, json!({"type": kind, "code": code, "message": message}));
}

#[tokio::test]
async fn success_responses_have_exactly_the_docs_fields() {
    let f = fixture();
    let auth = [("x-client-id", f.id.as_str()), ("x-client-secret", f.secret.as_str())];
    let newton = read(&sample("newton.png"));
    let mirror = mirrored_jpeg(&newton);
    let (s, v) = post(
        &f,
        &auth,
        &[
            Part::Text("verification_id", "test_verification_id"),
            Part::File("first_image", &newton),
            Part::File("second_image", &mirror),
            Part::Text("threshold", "0.75"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(keys(&v), ["face_match_result", "face_match_score", "ref_id", "status", "verification_id"]);
    assert_eq!(v["status"], "SUCCESS");
    assert_eq!(v["face_match_result"], "YES");
    assert!(v["ref_id"].is_i64() && v["verification_id"] == "test_verification_id");
    let score = v["face_match_score"].as_f64().unwrap();
    assert!((0.75..=1.0).contains(&score));

    let gauss = read(&sample("gauss.png"));
    let (s, v) = post(
        &f,
        &auth,
        &[Part::Text("verification_id", "v.2-b_c"), Part::File("first_image", &newton), Part::File("second_image", &gauss)],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!((v["status"].as_str(), v["face_match_result"].as_str()), (Some("SUCCESS"), Some("NO")));
    assert!(v["face_match_score"].as_f64().unwrap() < 0.75);

    let solvay = read(&sample("solvay_conference_1927.jpg"));
    let (s, v) =
        post(&f, &auth, &[Part::Text("verification_id", "v3"), Part::File("first_image", &solvay), Part::File("second_image", &newton)])
            .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["status"], "MULTIPLE_FACE_DETECTED");
    assert_eq!(v["face_match_result"], "NO");
    assert_eq!(v["face_match_score"].as_f64(), Some(0.0));

    // The same id again: 409.
    let again = post(
        &f,
        &auth,
        &[Part::Text("verification_id", "test_verification_id"), Part::File("first_image", &newton), Part::File("second_image", &mirror)],
    )
    .await;
    assert_error(again, StatusCode::CONFLICT, "validation_error", "verification_id_already_exists", "verification ID already exists");
}

#[tokio::test]
async fn every_documented_error() {
    let f = fixture();
    let auth = [("x-client-id", f.id.as_str()), ("x-client-secret", f.secret.as_str())];
    let newton = read(&sample("newton.png"));
    let ok_parts = |vid: &'static str| {
        vec![Part::Text("verification_id", vid), Part::File("first_image", &newton), Part::File("second_image", &newton)]
    };
    assert_error(
        post(&f, &[("x-client-secret", "x")], &ok_parts("a1")).await,
        StatusCode::BAD_REQUEST,
        "validation_error",
        "x-client-id_missing",
        "x-client-id is missing in the request.",
    );
    assert_error(
        post(&f, &[("x-client-id", f.id.as_str()), ("x-client-secret", "wrong")], &ok_parts("a2")).await,
        StatusCode::UNAUTHORIZED,
        "authentication_error",
        "authentication_failed",
        "Invalid clientId and clientSecret combination",
    );
    assert_error(
        post(&f, &auth, &[Part::Text("verification_id", "a3"), Part::File("second_image", &newton)]).await,
        StatusCode::BAD_REQUEST,
        "validation_error",
        "first_image_missing",
        "First image is missing in the request",
    );
    assert_error(
        post(&f, &auth, &[Part::Text("verification_id", "a4"), Part::File("first_image", &newton)]).await,
        StatusCode::BAD_REQUEST,
        "validation_error",
        "second_image_missing",
        "Second image is missing in the request",
    );
    let long = "x".repeat(51);
    assert_error(
        post(&f, &auth, &[Part::Text("verification_id", &long), Part::File("first_image", &newton), Part::File("second_image", &newton)])
            .await,
        StatusCode::BAD_REQUEST,
        "validation_error",
        "verification_id_length_exceeded",
        "verification_id can include a maximum of 50 characters.",
    );
    assert_error(
        post(
            &f,
            &auth,
            &[Part::Text("verification_id", "bad id!"), Part::File("first_image", &newton), Part::File("second_image", &newton)],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "validation_error",
        "verification_id_value_invalid",
        "verification_id can include only alphanum, dot, hyphen and underscores",
    );
    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec();
    assert_error(
        post(&f, &auth, &[Part::Text("verification_id", "a5"), Part::File("first_image", &gif), Part::File("second_image", &newton)]).await,
        StatusCode::BAD_REQUEST,
        "validation_error",
        "file_format_invalid",
        "please upload the file of valid format(jpeg/jpg/png)",
    );
    let mut big = vec![0xFFu8, 0xD8, 0xFF];
    big.resize(5 * 1024 * 1024 + 10, 0);
    let (s, v) =
        post(&f, &auth, &[Part::Text("verification_id", "a6"), Part::File("first_image", &big), Part::File("second_image", &newton)]).await;
    assert_eq!(
        (s, v["code"].as_str(), v["type"].as_str()),
        (StatusCode::BAD_REQUEST, Some("file_size_exceeded"), Some("validation_error")),
        "{v}"
    );
    let (s, v) = post(
        &f,
        &auth,
        &[
            Part::Text("verification_id", "a7"),
            Part::File("first_image", &newton),
            Part::File("second_image", &newton),
            Part::Text("threshold", "1.5"),
        ],
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::BAD_REQUEST, Some("threshold_value_invalid")));
    // A rejected request does not burn its id: the same id then succeeds.
    let (s, v) = post(&f, &auth, &ok_parts("a5")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Fields the doc does not name are ignored, whatever their length.
    let note = "x".repeat(10_000);
    let mut parts = ok_parts("a8");
    parts.push(Part::Text("note", &note));
    let (s, v) = post(&f, &auth, &parts).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn verification_ids_stay_used_across_a_restart() {
    let dir = std::env::temp_dir().join(format!("fm-cf-restart-{}", std::process::id()));
    let path = dir.join("facematch.sqlite");
    let newton = read(&sample("newton.png"));
    let (id, secret) = {
        let f = fixture_with(Arc::new(SqliteStore::open(&path).unwrap()));
        let auth = [("x-client-id", f.id.as_str()), ("x-client-secret", f.secret.as_str())];
        let (s, _) = post(
            &f,
            &auth,
            &[Part::Text("verification_id", "persist-1"), Part::File("first_image", &newton), Part::File("second_image", &newton)],
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        (f.id.clone(), f.secret.clone())
    };
    // A new store on the same file, as after a restart; the credentials still work too.
    let state = AppState::new(engine_arc(), Arc::new(SqliteStore::open(&path).unwrap()), ServerConfig::default());
    let f = Fixture { state, id, secret };
    let auth = [("x-client-id", f.id.as_str()), ("x-client-secret", f.secret.as_str())];
    let again = post(
        &f,
        &auth,
        &[Part::Text("verification_id", "persist-1"), Part::File("first_image", &newton), Part::File("second_image", &newton)],
    )
    .await;
    assert_error(again, StatusCode::CONFLICT, "validation_error", "verification_id_already_exists", "verification ID already exists");
    std::fs::remove_dir_all(&dir).ok();
}

fn fixture_config(config: ServerConfig) -> Fixture {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let c = store.add_client("cashfree", None).unwrap();
    Fixture { state: AppState::new(engine_arc(), store, config), id: c.client_id, secret: c.secret }
}

/// A request that passes authentication and then fails validation cheaply (no verification_id).
async fn post_from(f: &Fixture, ip: [u8; 4], extra: &[(&str, &str)]) -> (StatusCode, Value) {
    let (ct, body) = multipart(&[Part::Text("threshold", "0.5")]);
    let mut req = Request::post("/verification/face-match")
        .header("content-type", ct)
        .header("x-client-id", f.id.as_str())
        .header("x-client-secret", f.secret.as_str());
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let mut req = req.body(Body::from(body)).unwrap();
    req.extensions_mut().insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((ip, 40000))));
    let resp = router(f.state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn rate_limits_answer_the_docs_429s() {
    let f = fixture_config(ServerConfig { cashfree_rate_per_ip: 2, ..ServerConfig::default() });
    for _ in 0..2 {
        assert_eq!(post_from(&f, [10, 0, 0, 1], &[]).await.1["code"], "verification_id_missing");
    }
    assert_error(
        post_from(&f, [10, 0, 0, 1], &[]).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_error",
        "too_many_requests_per_ip",
        "Too many requests from the IP, rate limit reached",
    );
    assert_eq!(post_from(&f, [10, 0, 0, 2], &[]).await.1["code"], "verification_id_missing", "another IP has its own budget");

    let f = fixture_config(ServerConfig { cashfree_rate_per_operation: 1, ..ServerConfig::default() });
    assert_eq!(post_from(&f, [10, 0, 0, 1], &[]).await.1["code"], "verification_id_missing");
    assert_error(
        post_from(&f, [10, 0, 0, 2], &[]).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_error",
        "too_many_requests_per_operation",
        "Too many requests for this operation, rate limit reached",
    );
}

#[tokio::test]
async fn x_cf_signature_is_required_and_checked_when_a_key_is_configured() {
    use base64::Engine as _;
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    use rsa::{Oaep, RsaPrivateKey};
    let mut rng = rand::thread_rng();
    let private = RsaPrivateKey::new(&mut rng, 2048).unwrap();
    let public = private.to_public_key();
    let pem = private.to_pkcs8_pem(LineEnding::LF).unwrap();
    let key = facematch::server::cashfree::SignatureKey::from_pem(&pem).unwrap();
    assert_eq!(format!("{key:?}"), "SignatureKey(<redacted>)");
    let f = fixture_config(ServerConfig { cashfree_signature_key: Some(Arc::new(key)), ..ServerConfig::default() });
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    // As Cashfree's clients do: base64(RSA-OAEP-SHA1("<clientId>.<unix time>")) with the public key.
    let mut sign = |text: String| {
        base64::engine::general_purpose::STANDARD.encode(public.encrypt(&mut rng, Oaep::new::<sha1::Sha1>(), text.as_bytes()).unwrap())
    };
    let good = sign(format!("{}.{now}", f.id));
    let old = sign(format!("{}.{}", f.id, now - 3600));
    let other = sign(format!("someone-else.{now}"));

    let forbidden = |m: &str| (StatusCode::FORBIDDEN, json!({"type": "validation_error", "code": "authentication_failed", "message": m}));
    assert_eq!(post_from(&f, [10, 0, 0, 1], &[]).await, forbidden("x-cf-signature missing in the request header"));
    for bad in [old.as_str(), other.as_str(), "bm90IGEgc2lnbmF0dXJl", "%%%"] {
        assert_eq!(post_from(&f, [10, 0, 0, 1], &[("x-cf-signature", bad)]).await, forbidden("x-cf-signature is invalid or expired"));
    }
    let (s, v) = post_from(&f, [10, 0, 0, 1], &[("x-cf-signature", good.as_str())]).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::BAD_REQUEST, Some("verification_id_missing")), "a valid signature passes");
}

/// An ID document's small ghost portrait is not "another person": the document compared with its
/// own main portrait (cropped out, as a selfie would frame it) is SUCCESS / YES. And the printed
/// score decides (a threshold equal to it is YES).
#[tokio::test]
async fn a_ghost_portrait_is_not_multiple_faces() {
    let Some(eval) = shared_eval() else { return };
    let f = fixture();
    let auth = [("x-client-id", f.id.as_str()), ("x-client-secret", f.secret.as_str())];
    for (i, doc) in ["mrz_specimens/id_cards/Latvia.png", "mrz_specimens/passports/Czech_Republic.png"].iter().enumerate() {
        let bytes = read(&eval.join("id_documents").join(doc));
        let a = f.state.engine.analyse(bytes.clone(), facematch::engine::Depth::Faces).unwrap();
        assert!(a.face_count() >= 2, "{doc}: the ghost portrait is no longer detected; this test proves nothing");
        let b = a.chosen.unwrap().face.bbox;
        let (w, h) = (b[2] - b[0], b[3] - b[1]);
        let img = image::load_from_memory(&bytes).unwrap();
        let (x, y) = ((b[0] - w * 0.5).max(0.0) as u32, (b[1] - h * 0.5).max(0.0) as u32);
        let crop = img.crop_imm(x, y, (w * 2.0) as u32, (h * 2.0) as u32).to_rgb8();
        let mut selfie = Vec::new();
        crop.write_to(&mut std::io::Cursor::new(&mut selfie), image::ImageFormat::Jpeg).unwrap();
        let vid = format!("ghost-{i}");
        let (s, v) =
            post(&f, &auth, &[Part::Text("verification_id", &vid), Part::File("first_image", &bytes), Part::File("second_image", &selfie)])
                .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!((v["status"].as_str(), v["face_match_result"].as_str()), (Some("SUCCESS"), Some("YES")), "{doc}: {v}");
    }
    // The printed score decides: a threshold equal to it is YES (different people, a low score).
    let newton = read(&sample("newton.png"));
    let gauss = read(&sample("gauss.png"));
    let pair = |vid: &'static str| {
        vec![Part::Text("verification_id", vid), Part::File("first_image", &newton), Part::File("second_image", &gauss)]
    };
    let (_, v) = post(&f, &auth, &pair("printed-1")).await;
    assert_eq!(v["face_match_result"], "NO", "{v}");
    let printed = v["face_match_score"].as_f64().unwrap();
    assert!(printed > 0.0 && printed < 0.75, "{v}");
    let mut parts = pair("printed-2");
    let t = printed.to_string();
    parts.push(Part::Text("threshold", &t));
    let (_, v) = post(&f, &auth, &parts).await;
    assert_eq!((v["face_match_result"].as_str(), v["face_match_score"].as_f64()), (Some("YES"), Some(printed)), "threshold {t}: {v}");
}

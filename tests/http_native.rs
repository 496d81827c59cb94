//! The native HTTP API through the real router (tower oneshot) and one real server on port 0,
//! with real models and photos.
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
    static ENGINE: std::sync::OnceLock<Arc<facematch::Engine>> = std::sync::OnceLock::new();
    let engine = ENGINE.get_or_init(|| Arc::new(engine("yunet-sface"))).clone();
    let store = Arc::new(facematch::store::SqliteStore::in_memory().unwrap());
    with_native_key(store.as_ref());
    AppState::new(
        engine,
        store,
        ServerConfig { max_body_bytes: 8 * 1024 * 1024, max_upload_bytes: 3 * 1024 * 1024, ..ServerConfig::default() },
    )
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn mirrored(bytes: &[u8]) -> Vec<u8> {
    let img = image::load_from_memory(bytes).unwrap().fliph();
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Jpeg).unwrap();
    out
}

async fn call(path: &str, body: Value) -> (StatusCode, Value) {
    let req = Request::post(path)
        .header("authorization", NATIVE_BEARER)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = router(state()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn compare_same_person_and_different_people() {
    let newton = read(&sample("newton.png"));
    let (status, body) =
        call("/v1/compare", json!({"image_a": b64(&newton), "image_b": format!("data:image/jpeg;base64,{}", b64(&mirrored(&newton)))}))
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["similarity"].as_f64().unwrap() > 0.6);
    assert!(body["score"].as_f64().unwrap() >= 0.75 && body["match"] == json!(true));
    assert!(body["fmr"].as_f64().unwrap() < 1e-4);
    assert_eq!(body["image_a"]["face_count"], json!(1));
    assert_eq!(body["image_b"]["used_face"]["landmarks"].as_array().unwrap().len(), 5);
    assert!(body["thresholds"].as_array().unwrap().iter().any(|t| t["fmr"] == json!(0.001)));
    // The media type's case is not significant (RFC 9110).
    let req = Request::post("/v1/compare")
        .header("authorization", NATIVE_BEARER)
        .header("content-type", "APPLICATION/JSON")
        .body(Body::from(json!({"image_a": b64(&newton), "image_b": b64(&newton)}).to_string()))
        .unwrap();
    assert_eq!(router(state()).oneshot(req).await.unwrap().status(), StatusCode::OK);
    let (status, body) = call("/v1/compare", json!({"image_a": b64(&newton), "image_b": b64(&read(&sample("gauss.png")))})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["match"], json!(false));
    assert!(body["score"].as_f64().unwrap() < 0.5, "{body}");
    // A requested FMR of 1e-2 means a threshold score of 1/3.
    let (_, body) = call("/v1/compare", json!({"image_a": b64(&newton), "image_b": b64(&newton), "fmr": 0.01})).await;
    assert!((body["decision"]["threshold_score"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-4);
}

#[tokio::test]
async fn compare_errors_are_in_shape() {
    let newton = b64(&read(&sample("newton.png")));
    let (s, b) = call("/v1/compare", json!({"image_a": newton})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("missing_image")));
    let (s, b) = call("/v1/compare", json!({"image_a": newton, "image_b": "%%% not base64"})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_base64")));
    let (s, b) = call("/v1/compare", json!({"image_a": newton, "image_b": b64(b"plain text")})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("unsupported_format")));
    let white = blank_png(200);
    let (s, b) = call("/v1/compare", json!({"image_a": newton, "image_b": b64(&white)})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("no_face")));
    assert!(b["error"]["message"].as_str().unwrap().contains("image_b"));
    let (s, b) = call("/v1/compare", json!({"image_a": newton, "image_b": newton, "threshold": "high"})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_field")));
    // A wrong-typed field is refused, naming it, never read as absent (a looser default decision).
    for (field, raw) in [("fmr", "[1e-6]"), ("threshold", "[0.99]"), ("fmr", "1e400"), ("threshold", "null"), ("fmr", "{}")] {
        let body = format!("{{\"image_a\": \"{newton}\", \"image_b\": \"{newton}\", \"{field}\": {raw}}}");
        let req = Request::post("/v1/compare")
            .header("authorization", NATIVE_BEARER)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let resp = router(state()).oneshot(req).await.unwrap();
        let status = resp.status();
        let b: Value = serde_json::from_slice(&axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap()).unwrap();
        assert_eq!((status, b["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_field")), "{field}: {raw}: {b}");
        assert!(b["error"]["message"].as_str().unwrap().starts_with(field), "{b}");
    }
    for record in [json!([1, 2]), Value::Null, json!("text")] {
        let (s, b) = call("/v1/subjects", json!({"image": newton, "record": record})).await;
        assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_field")), "record {record}: {b}");
    }
    // An image over the per-image limit (3 MB here) is refused before decoding.
    let (s, b) = call("/v1/compare", json!({"image_a": newton, "image_b": "A".repeat(4_200_000)})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("image_too_large")), "{b}");
    // A body over the request limit (8 MB here).
    let (s, _) = call("/v1/compare", json!({"image_a": "A".repeat(9_000_000)})).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let req = Request::post("/v1/compare")
        .header("authorization", NATIVE_BEARER)
        .header("content-type", "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    assert_eq!(router(state()).oneshot(req).await.unwrap().status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn multipart_detect_embed_and_health() {
    let boundary = "fmboundary";
    let solvay = read(&sample("solvay_conference_1927.jpg"));
    let mut body =
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"s.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n")
            .into_bytes();
    body.extend_from_slice(&solvay);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let req = Request::post("/v1/detect")
        .header("authorization", NATIVE_BEARER)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(Body::from(body))
        .unwrap();
    let resp = router(state()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = serde_json::from_slice(&axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap()).unwrap();
    assert_eq!(v["faces"].as_array().unwrap().len(), 29);
    let (s, v) = call("/v1/embed", json!({"image": b64(&read(&sample("gauss.png")))})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["embedding"].as_array().unwrap().len(), 128);
    // Liveness runs no model; readiness runs one inference, then answers from its cache.
    let st = state();
    let get = |path: &'static str| {
        let st = st.clone();
        async move {
            let resp = router(st).oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
            let status = resp.status();
            (status, serde_json::from_slice::<Value>(&axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap()).unwrap())
        }
    };
    let (s, v) = get("/health").await;
    assert_eq!((s, &v["status"]), (StatusCode::OK, &json!("ok")), "{v}");
    assert!(v.get("inference_ms").is_none(), "liveness must not run a model: {v}");
    let (s, first) = get("/ready").await;
    assert_eq!((s, &first["status"]), (StatusCode::OK, &json!("ready")), "{first}");
    assert!(first["inference_ms"].as_f64().unwrap() > 0.0);
    let (_, second) = get("/ready").await;
    assert_eq!(second["inference_ms"], first["inference_ms"], "a second deep check within 10 s is the cached one");
}

/// `/health` answers 200 while the engine is saturated: a liveness probe must not restart a busy,
/// healthy server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveness_while_busy() {
    let mut c = facematch::EngineConfig::new(models_dir(), "yunet-sface");
    (c.workers, c.intra_threads, c.queue_depth) = (1, 1, 1);
    let engine = Arc::new(facematch::Engine::new(c).unwrap());
    let state = AppState::new(engine.clone(), Arc::new(facematch::store::SqliteStore::in_memory().unwrap()), ServerConfig::default());
    let big = read(&sample("solvay_conference_1927.jpg"));
    // Fill the worker and the one queue slot.
    let (tx, rx) = std::sync::mpsc::channel();
    let mut queued = 0;
    while queued < 8 {
        let tx = tx.clone();
        if engine
            .try_analyse(big.clone(), facematch::engine::Depth::Embedding, move |r| {
                let _ = tx.send(r.is_ok());
            })
            .is_err()
        {
            break;
        }
        queued += 1;
    }
    assert!(queued < 8, "the queue should be full");
    let resp = router(state).oneshot(Request::get("/health").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    drop(tx);
    assert!(rx.iter().all(|ok| ok));
}

/// A real server on port 0, driven by the `eval --endpoint native=...` client over loopback.
#[test]
fn real_server_and_the_native_eval_client() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = rt.spawn(facematch::server::serve(listener, state()));
    let ep = facematch::eval::endpoint::Endpoint::new(
        facematch::eval::endpoint::Vendor::Native,
        &format!("http://{addr}"),
        [("token".to_string(), NATIVE_KEY.to_string())].into_iter().collect(),
    )
    .unwrap();
    let newton = read(&sample("newton.png"));
    let same = ep.compare(&newton, &mirrored(&newton)).unwrap();
    assert_eq!(same.decision, Some(true));
    let different = ep.compare(&newton, &read(&sample("gauss.png"))).unwrap();
    assert_eq!(different.decision, Some(false));
    assert!(same.score.unwrap() > different.score.unwrap());
    // Many clients at once: every request answered, correctly.
    let answers: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (ep, newton) = (&ep, &newton);
                s.spawn(move || {
                    let other = if i % 2 == 0 { mirrored(newton) } else { read(&sample("gauss.png")) };
                    ep.compare(newton, &other).map(|a| a.decision == Some(i % 2 == 0)).unwrap_or(false)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(answers.iter().all(|&ok| ok), "{answers:?}");
    server.abort();
}

#[tokio::test]
async fn metrics_are_labelled_by_route_pattern_with_explicit_buckets() {
    let newton = b64(&read(&sample("newton.png")));
    let (s, _) = call("/v1/compare", json!({"image_a": newton, "image_b": newton})).await;
    assert_eq!(s, StatusCode::OK);
    let _ = call("/v1/no/such/route/12345", json!({})).await;
    for m in ["FOO12345", "BAR67890"] {
        let req = Request::builder().method(m).uri("/v1/compare").body(Body::empty()).unwrap();
        router(state()).oneshot(req).await.unwrap();
    }
    let resp = router(state()).oneshot(Request::get("/metrics").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = String::from_utf8(axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap().to_vec()).unwrap();
    assert!(text.contains("facematch_requests_total{route=\"/v1/compare\",method=\"POST\",status=\"200\"}"), "{text}");
    assert!(text.contains("route=\"unmatched\"") && !text.contains("12345"), "raw paths must not become labels");
    assert!(!text.contains("FOO12345") && text.contains("method=\"other\""), "methods are labelled from a closed set");
    assert!(text.contains("facematch_stage_duration_seconds_bucket{stage=\"embed\",le=\"0.05\"}"), "{text}");
    assert!(text.contains("facematch_faces_per_image_bucket{le=\"1\"}"));
    assert!(text.contains("facematch_queue_depth"));
}

/// One worker, one queue slot, many simultaneous requests: every request is answered, either with
/// a result or with the route's own "busy" shape; none is lost or left hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overload_is_answered_in_shape() {
    let mut c = facematch::EngineConfig::new(models_dir(), "yunet-sface");
    c.workers = 1;
    c.intra_threads = 1;
    c.queue_depth = 1;
    let engine = Arc::new(facematch::Engine::new(c).unwrap());
    let store = Arc::new(facematch::store::SqliteStore::in_memory().unwrap());
    let cf = facematch::store::Store::add_client(store.as_ref(), "cashfree", None).unwrap();
    with_native_key(store.as_ref());
    let state = AppState::new(engine, store, ServerConfig::default());
    let newton = read(&sample("newton.png"));
    let body = json!({"image_a": b64(&newton), "image_b": b64(&newton)}).to_string();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (state, body, newton, cf) = (state.clone(), body.clone(), newton.clone(), (cf.client_id.clone(), cf.secret.clone()));
        tasks.push(tokio::spawn(async move {
            let req = if i % 2 == 0 {
                Request::post("/v1/compare")
                    .header("authorization", NATIVE_BEARER)
                    .header("content-type", "application/json")
                    .body(Body::from(body))
                    .unwrap()
            } else {
                let b = "xx";
                let mut m = Vec::new();
                m.extend_from_slice(
                    format!("--{b}\r\nContent-Disposition: form-data; name=\"verification_id\"\r\n\r\nload-{i}\r\n").as_bytes(),
                );
                for name in ["first_image", "second_image"] {
                    m.extend_from_slice(
                        format!("--{b}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"a.png\"\r\n\r\n").as_bytes(),
                    );
                    m.extend_from_slice(&newton);
                    m.extend_from_slice(b"\r\n");
                }
                m.extend_from_slice(format!("--{b}--\r\n").as_bytes());
                Request::post("/verification/face-match")
                    .header("content-type", format!("multipart/form-data; boundary={b}"))
                    .header("x-client-id", cf.0)
                    .header("x-client-secret", cf.1)
                    .body(Body::from(m))
                    .unwrap()
            };
            let resp = router(state).oneshot(req).await.unwrap();
            let status = resp.status();
            let retry_after = resp.headers().get("retry-after").is_some();
            let v: Value = serde_json::from_slice(&axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap()).unwrap();
            assert!(status == StatusCode::OK || retry_after, "request {i}: a busy answer without Retry-After");
            (i, status, v)
        }));
    }
    let mut busy = 0;
    for t in tasks {
        let (i, status, v) =
            tokio::time::timeout(std::time::Duration::from_secs(120), t).await.expect("a request was left hanging").unwrap();
        match (i % 2, status) {
            (0, StatusCode::OK) => assert_eq!(v["match"], json!(true)),
            (0, StatusCode::SERVICE_UNAVAILABLE) => {
                assert_eq!(v["error"]["code"], "busy");
                busy += 1;
            }
            (1, StatusCode::OK) => assert_eq!(v["face_match_result"], "YES"),
            (1, StatusCode::TOO_MANY_REQUESTS) => {
                assert_eq!(v["code"], "too_many_requests_per_operation");
                busy += 1;
            }
            other => panic!("request {i}: unexpected {other:?}: {v}"),
        }
    }
    assert!(busy > 0, "16 simultaneous requests on one worker with one queue slot should overflow");
}

#[tokio::test]
async fn the_native_api_needs_a_key() {
    for (auth, status) in
        [(None, StatusCode::UNAUTHORIZED), (Some("Bearer wrong"), StatusCode::UNAUTHORIZED), (Some(NATIVE_BEARER), StatusCode::BAD_REQUEST)]
    {
        let mut req = Request::post("/v1/detect").header("content-type", "application/json");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = router(state()).oneshot(req.body(Body::from("{}")).unwrap()).await.unwrap();
        assert_eq!(resp.status(), status);
        let v: Value = serde_json::from_slice(&axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap()).unwrap();
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(v["error"]["code"], "unauthorized");
        }
    }
    let req = Request::post("/v1/detect").header("content-type", "application/json").header("x-api-key", NATIVE_KEY);
    assert_eq!(router(state()).oneshot(req.body(Body::from("{}")).unwrap()).await.unwrap().status(), StatusCode::BAD_REQUEST);
}

/// A refused request's body is read before the busy answer: a client still uploading two large
/// photos (Python's urllib, which stops at a broken pipe) reads the 503 and its Retry-After
/// instead of a reset connection.
#[test]
fn a_busy_answer_reaches_a_client_still_uploading() {
    let mut c = facematch::EngineConfig::new(models_dir(), "yunet-sface");
    (c.workers, c.intra_threads, c.queue_depth) = (1, 1, 1);
    let engine = Arc::new(facematch::Engine::new(c).unwrap());
    let store = Arc::new(facematch::store::SqliteStore::in_memory().unwrap());
    with_native_key(store.as_ref());
    let state = AppState::new(engine.clone(), store, ServerConfig::default());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}/v1/compare", listener.local_addr().unwrap());
    let server = rt.spawn(facematch::server::serve(listener, state));
    // Keep the one worker and its queue full of group photos for the client's whole upload.
    let big = read(&sample("solvay_conference_1927.jpg"));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let filler = {
        let (engine, stop) = (engine.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = engine.try_analyse(big.clone(), facematch::engine::Depth::Embedding, |_| {});
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(200));
    let photo = sample("gauss.png"); // 1.6 MB: a 4.3 MB JSON body, far more than a socket buffer
    let script = r#"
import base64, json, sys, urllib.request, urllib.error
b64 = base64.b64encode(open(sys.argv[2], 'rb').read()).decode()
body = json.dumps({"image_a": b64, "image_b": b64}).encode()
req = urllib.request.Request(sys.argv[1], data=body, headers={"content-type": "application/json", "authorization": sys.argv[3]})
try:
    urllib.request.urlopen(req, timeout=60).read(); print("200")
except urllib.error.HTTPError as e:
    print(e.code, e.headers.get("Retry-After"), json.loads(e.read())["error"]["code"])
"#;
    let out = std::process::Command::new("python3").args(["-c", script, &url, photo.to_str().unwrap(), NATIVE_BEARER]).output().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    filler.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the client saw no answer: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.trim(), "503 1 busy");
    server.abort();
}

//! Several servers on one real PostgreSQL (a throwaway cluster per test, `common/postgres.rs`):
//! the store's rules enforced by the database across connections, two real `facematch serve`
//! processes sharing state (cross-node search within the sync bound, a Cashfree id spent once, a
//! Valify quota admitted exactly, revocation everywhere at once, kill -9 of one node during
//! enrollments, restart and catch-up), and `facematch migrate` from SQLite without loss.
mod common;
#[path = "common/postgres.rs"]
mod pg;

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use common::*;
use facematch::store::{BundleUse, NewFace, Once, PostgresStore, Store, StoreError};
use serde_json::{json, Value};

const CASHFREE_SECRET: &str = "cashfree-secret-0123456789";
const VALIFY_SECRET: &str = "valify-secret-0123456789";
const TEMP_KEY: &str = "temporary-native-key-0123456789";
const SYNC_MS: u64 = 100;

fn unit(seed: u32) -> Vec<f32> {
    let v: Vec<f32> = (0..128).map(|i| ((i as f32 + 1.0) * (seed as f32 + 1.7)).sin()).collect();
    let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
    v.into_iter().map(|a| a / n).collect()
}

#[test]
fn the_store_keeps_its_rules_across_connections() {
    let cluster = pg::Cluster::start("rules");
    let url = cluster.database("rules");
    let (a, b) = (Arc::new(PostgresStore::connect(&url).unwrap()), Arc::new(PostgresStore::connect(&url).unwrap()));
    assert!(a.is_empty().unwrap());

    // Clients: hashed, checked, and a revocation on one connection is seen by the other at once.
    let c = a.add_client("cashfree", None).unwrap();
    assert!(b.check_client("cashfree", &c.client_id, &c.secret).unwrap());
    assert!(!b.check_client("cashfree", &c.client_id, "wrong").unwrap());
    assert!(matches!(b.add_client("cashfree", Some(&c.client_id)), Err(StoreError::Conflict)));
    let token = a.issue_token("cashfree", &c.client_id, "access", 60).unwrap();
    assert_eq!(b.check_token("cashfree", "access", &token).unwrap().as_deref(), Some(c.client_id.as_str()));
    assert!(b.revoke_client("cashfree", &c.client_id).unwrap());
    assert!(!a.check_client("cashfree", &c.client_id, &c.secret).unwrap());
    assert_eq!(a.check_token("cashfree", "access", &token).unwrap(), None);
    assert!(a.provision_client("valify", "ops", "0123456789abcdef").unwrap());
    assert!(!b.provision_client("valify", "ops", "0123456789abcdef").unwrap(), "same secret: nothing changes");
    let v = a.add_client("videosdk", Some("k1")).unwrap();
    assert_eq!(b.signing_secret("videosdk", "k1").unwrap(), Some(v.secret));

    // One Cashfree id reserved by 16 threads over both connections at the same moment: one wins.
    let gate = Arc::new(Barrier::new(16));
    let wins: Vec<bool> = (0..16)
        .map(|i| {
            let (s, gate) = (if i % 2 == 0 { a.clone() } else { b.clone() }, gate.clone());
            std::thread::spawn(move || {
                gate.wait();
                s.reserve_cashfree_id("race-1", "cf").is_ok()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{wins:?}");

    // A quota of 5 under 20 concurrent trials: exactly 5 admitted, each with its own remaining count.
    let key = a.add_bundle_key(Some(5)).unwrap();
    let gate = Arc::new(Barrier::new(20));
    let uses: Vec<BundleUse> = (0..20)
        .map(|i| {
            let (s, gate, key) = (if i % 2 == 0 { a.clone() } else { b.clone() }, gate.clone(), key.clone());
            std::thread::spawn(move || {
                gate.wait();
                s.use_bundle_trial(&key).unwrap()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let mut remaining: Vec<i64> = uses.iter().filter_map(|u| if let BundleUse::Ok { remaining } = u { *remaining } else { None }).collect();
    remaining.sort();
    assert_eq!(remaining, [0, 1, 2, 3, 4]);
    assert_eq!(uses.iter().filter(|u| **u == BundleUse::Exhausted).count(), 15);
    assert_eq!(a.use_bundle_trial("no-such-key").unwrap(), BundleUse::Unknown);

    // Subjects: one Idempotency-Key sent to both connections at once writes one subject.
    let model = "sface-test";
    let emb = unit(1);
    let gate = Arc::new(Barrier::new(2));
    let ids: Vec<String> = [a.clone(), b.clone()]
        .into_iter()
        .map(|s| {
            let (gate, emb) = (gate.clone(), emb.clone());
            std::thread::spawn(move || {
                let once = Some(Once { client_id: "ops", key: "enroll-1", request_hash: "h1" });
                gate.wait();
                s.create_subject(&json!({"fullName": "Ada"}), &NewFace { embedding: &emb, model, sealed_photo: None, once })
                    .unwrap()
                    .subject_id
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert_eq!(ids[0], ids[1]);
    assert_eq!(a.count_subjects(None).unwrap(), 1);
    let once = Some(Once { client_id: "ops", key: "enroll-1", request_hash: "other" });
    assert!(matches!(
        a.create_subject(&json!({}), &NewFace { embedding: &emb, model, sealed_photo: None, once }),
        Err(StoreError::KeyReused)
    ));

    // The gallery feed: a snapshot's position, then every later change in order, as it is now.
    let mut seen = Vec::new();
    let position = b.gallery_feed().unwrap().gallery_snapshot(model, &mut |f| seen.push(f.key)).unwrap();
    assert_eq!(seen.len(), 1);
    let added = a.add_face(&ids[0], &NewFace { embedding: &unit(2), model, sealed_photo: Some(b"sealed"), once: None }).unwrap().unwrap();
    let other =
        a.create_subject(&json!({"fullName": "Bo"}), &NewFace { embedding: &unit(3), model, sealed_photo: None, once: None }).unwrap();
    let changes = b.gallery_feed().unwrap().gallery_changes(model, position, 100).unwrap();
    assert_eq!(changes.iter().map(|c| c.key).collect::<Vec<_>>(), [added.key, other.faces[0].key]);
    assert!(changes.iter().all(|c| c.face.is_some()));
    assert_eq!(changes[0].face.as_ref().unwrap().embedding, unit(2));
    let removed = b.delete_subject(&other.subject_id, None).unwrap().unwrap();
    assert_eq!(removed, [other.faces[0].key]);
    let later = a.gallery_feed().unwrap().gallery_changes(model, changes[1].seq, 100).unwrap();
    assert_eq!(later.len(), 1);
    assert!(later[0].face.is_none(), "a deleted face is logged as gone");
    assert!(a.delete_subject(&other.subject_id, None).unwrap().is_none());
    assert_eq!(a.faces_by_key(&[added.key, other.faces[0].key]).unwrap().len(), 1, "only faces still stored are returned");
    assert_eq!(b.face_photo(&ids[0], &added.face_id).unwrap().as_deref(), Some(&b"sealed"[..]));

    // Starting again over a migrated schema changes nothing.
    drop(PostgresStore::connect(&url).unwrap());
    assert_eq!(a.count_subjects(None).unwrap(), 1);
}

struct Node {
    child: Child,
    url: String,
}

impl Node {
    fn start(database_url: &str) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_facematch"))
            .args(["serve", "--listen", "127.0.0.1:0", "--workers", "1", "--gallery-sync-ms", &SYNC_MS.to_string()])
            .args(["--client", &format!("native:ops:{NATIVE_KEY}"), "--client", &format!("native:temp:{TEMP_KEY}")])
            .args(["--client", &format!("cashfree:cf:{CASHFREE_SECRET}"), "--client", &format!("valify:vf:{VALIFY_SECRET}")])
            .env("FACEMATCH_MODELS_DIR", models_dir())
            .env("FACEMATCH_DATABASE_URL", database_url)
            .env_remove("FACEMATCH_LISTEN")
            .env_remove("FACEMATCH_STATE_DIR")
            .env_remove("FACEMATCH_CLIENTS")
            .env_remove("FACEMATCH_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let url = listening_url(&mut child);
        Node { child, url }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(120)).build().unwrap()
}

fn enroll(c: &reqwest::blocking::Client, url: &str, photo: &[u8], name: &str) -> reqwest::Result<reqwest::blocking::Response> {
    let form = reqwest::blocking::multipart::Form::new()
        .part("image", reqwest::blocking::multipart::Part::bytes(photo.to_vec()).file_name("p.png"))
        .text("record", json!({"fullName": name}).to_string());
    c.post(format!("{url}/v1/subjects")).bearer_auth(NATIVE_KEY).multipart(form).send()
}

fn identify(c: &reqwest::blocking::Client, url: &str, photo: &[u8]) -> Value {
    let form = reqwest::blocking::multipart::Form::new()
        .part("image", reqwest::blocking::multipart::Part::bytes(photo.to_vec()).file_name("q.jpg"))
        .text("top_k", "100");
    let r = c.post(format!("{url}/v1/identify")).bearer_auth(NATIVE_KEY).multipart(form).send().unwrap();
    assert_eq!(r.status(), 200);
    r.json().unwrap()
}

fn found(v: &Value, subject_id: &str) -> bool {
    v["candidates"].as_array().unwrap().iter().any(|c| c["subject_id"] == subject_id && c["match"] == true)
}

/// Polls `f` until it holds; the time it took.
fn within(limit: Duration, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    t.elapsed()
}

fn cashfree(url: &str, id: &str, a: &[u8], b: &[u8]) -> u16 {
    let form = reqwest::blocking::multipart::Form::new()
        .text("verification_id", id.to_string())
        .part("first_image", reqwest::blocking::multipart::Part::bytes(a.to_vec()).file_name("a.png"))
        .part("second_image", reqwest::blocking::multipart::Part::bytes(b.to_vec()).file_name("b.jpg"));
    http()
        .post(format!("{url}/verification/face-match"))
        .header("x-client-id", "cf")
        .header("x-client-secret", CASHFREE_SECRET)
        .multipart(form)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn two_servers_share_one_postgresql() {
    let cluster = pg::Cluster::start("nodes");
    let db = cluster.database("nodes");
    let (a, b) = (Node::start(&db), Node::start(&db));
    let c = http();
    let newton = read(&sample("newton.png"));
    let gauss = read(&sample("gauss.png"));
    let (newton_selfie, gauss_selfie) = (mirrored_jpeg(&newton), mirrored_jpeg(&gauss));
    let bound = Duration::from_millis(SYNC_MS) * 20;

    // Enrolled on A: searchable on B within the sync interval (plus the search's own time).
    let r = enroll(&c, &a.url, &newton, "Isaac Newton").unwrap();
    assert_eq!(r.status(), 201);
    let newton_id = r.json::<Value>().unwrap()["subject_id"].as_str().unwrap().to_string();
    let took = within(bound, "A's enrollment searchable on B", || found(&identify(&c, &b.url, &newton_selfie), &newton_id));
    eprintln!("enrollment on A searchable on B after {took:?} (sync interval {SYNC_MS} ms)");
    let r = enroll(&c, &b.url, &gauss, "Carl Friedrich Gauss").unwrap();
    let gauss_id = r.json::<Value>().unwrap()["subject_id"].as_str().unwrap().to_string();
    within(bound, "B's enrollment searchable on A", || found(&identify(&c, &a.url, &gauss_selfie), &gauss_id));

    // Deleted on B: never returned by A again (candidates are rescored from the database), and
    // gone from A's gallery within the interval.
    let r = c.delete(format!("{}/v1/subjects/{gauss_id}", b.url)).bearer_auth(NATIVE_KEY).send().unwrap();
    assert_eq!(r.status(), 204);
    assert!(!found(&identify(&c, &a.url, &gauss_selfie), &gauss_id), "a deleted subject is not returned, even before the log is read");
    within(bound, "the deletion reaches A's gallery", || identify(&c, &a.url, &gauss_selfie)["gallery_size"] == 1);
    let r = c.delete(format!("{}/v1/subjects/{gauss_id}", a.url)).bearer_auth(NATIVE_KEY).send().unwrap();
    assert_eq!(r.status(), 404, "already deleted on the other node");

    // One Cashfree verification_id sent to both nodes at the same moment: one 200, one 409.
    for i in 0..4 {
        let gate = Arc::new(Barrier::new(2));
        let codes: Vec<u16> = [a.url.clone(), b.url.clone()]
            .into_iter()
            .map(|url| {
                let (gate, x, y, id) = (gate.clone(), newton.clone(), newton_selfie.clone(), format!("race-{i}"));
                std::thread::spawn(move || {
                    gate.wait();
                    cashfree(&url, &id, &x, &y)
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        let mut sorted = codes.clone();
        sorted.sort();
        assert_eq!(sorted, [200, 409], "verification_id race-{i}: {codes:?}");
    }

    // A Valify bundle of 3 trials under 8 matches spread over both nodes: exactly 3 admitted.
    let operator = PostgresStore::connect(&db).unwrap();
    let bundle = operator.add_bundle_key(Some(3)).unwrap();
    let token = |url: &str| -> String {
        let v: Value = c
            .post(format!("{url}/api/o/token/"))
            .form(&[("grant_type", "client_credentials"), ("client_id", "vf"), ("client_secret", VALIFY_SECRET)])
            .send()
            .unwrap()
            .json()
            .unwrap();
        v["access_token"].as_str().unwrap().to_string()
    };
    let b64 = |x: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, x);
    let body = json!({"first_img": b64(&newton), "second_img": b64(&newton_selfie), "bundle_key": bundle});
    let gate = Arc::new(Barrier::new(8));
    let statuses: Vec<u16> = (0..8)
        .map(|i| {
            let url = if i % 2 == 0 { a.url.clone() } else { b.url.clone() };
            let (gate, body, token) = (gate.clone(), body.clone(), token(&url));
            std::thread::spawn(move || {
                gate.wait();
                http().post(format!("{url}/api/v1.1/face/match/")).bearer_auth(token).json(&body).send().unwrap().status().as_u16()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 3, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 422).count(), 5, "{statuses:?}");

    // A client revoked with the CLI is refused by both nodes on its next request.
    for url in [&a.url, &b.url] {
        assert_eq!(c.get(format!("{url}/v1/subjects")).bearer_auth(TEMP_KEY).send().unwrap().status(), 200);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_facematch"))
        .args(["clients", "revoke", "--scheme", "native", "--client-id", "temp"])
        .env("FACEMATCH_DATABASE_URL", &db)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for url in [&a.url, &b.url] {
        assert_eq!(c.get(format!("{url}/v1/subjects")).bearer_auth(TEMP_KEY).send().unwrap().status(), 401);
    }

    // kill -9 of A during a burst of enrollments on A: B keeps serving, nothing acknowledged is lost.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let (url, photo, acked, stop) = (a.url.clone(), newton.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || {
                let c = http();
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    if let Ok(r) = enroll(&c, &url, &photo, &format!("burst {w}-{i}")) {
                        if r.status() == 201 {
                            if let Ok(v) = r.json::<Value>() {
                                acked.lock().unwrap().push(v["subject_id"].as_str().unwrap_or_default().to_string());
                            }
                        }
                    }
                }
            })
        })
        .collect();
    within(Duration::from_secs(120), "enrollments acknowledged", || acked.lock().unwrap().len() >= 6);
    drop(a); // SIGKILL with requests in flight
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let r = enroll(&c, &b.url, &gauss, "enrolled while A is down").unwrap();
    assert_eq!(r.status(), 201, "B serves while A is down");
    let late_id = r.json::<Value>().unwrap()["subject_id"].as_str().unwrap().to_string();
    let list: Value = c.get(format!("{}/v1/subjects?limit=500", b.url)).bearer_auth(NATIVE_KEY).send().unwrap().json().unwrap();
    let stored: std::collections::HashSet<&str> =
        list["subjects"].as_array().unwrap().iter().map(|s| s["subject_id"].as_str().unwrap()).collect();
    for id in &acked {
        assert!(stored.contains(id.as_str()), "enrollment {id} acknowledged by A before the kill was lost");
    }
    eprintln!("{} enrollments acknowledged by A before kill -9; all stored", acked.len());

    // A restarted catches up: B's enrollment made while it was down is searchable at once, and
    // both galleries hold the same faces.
    let a = Node::start(&db);
    assert!(found(&identify(&c, &a.url, &gauss_selfie), &late_id));
    let size_b = identify(&c, &b.url, &newton_selfie)["gallery_size"].clone();
    within(bound, "both galleries equal", || identify(&c, &a.url, &newton_selfie)["gallery_size"] == size_b);
    assert_eq!(size_b, json!(stored.len()), "one face per enrolled subject");
}

#[test]
fn a_sqlite_deployment_moves_to_postgresql() {
    let cluster = pg::Cluster::start("migrate");
    let db = cluster.database("migrate");
    let dir = cluster.dir().join("sqlite");
    std::fs::create_dir_all(&dir).unwrap();
    let model = "sface-test";
    let (client, token, bundle, subject) = {
        let s = facematch::store::SqliteStore::open(&dir.join("facematch.sqlite")).unwrap();
        let client = s.add_client("faceki", None).unwrap();
        let token = s.issue_token("faceki", &client.client_id, "access", 3600).unwrap();
        let revoked = s.add_client("cashfree", None).unwrap();
        s.revoke_client("cashfree", &revoked.client_id).unwrap();
        let bundle = s.add_bundle_key(Some(3)).unwrap();
        assert_eq!(s.use_bundle_trial(&bundle).unwrap(), BundleUse::Ok { remaining: Some(2) });
        s.record_valify(&facematch::store::ValifyTransaction {
            transaction_id: "t-1".into(),
            bundle_key: bundle.clone(),
            client_id: "vf".into(),
            is_similar: Some(true),
            confidence: Some(0.93),
            error_code: None,
        })
        .unwrap();
        let ref_id = s.reserve_cashfree_id("cf-1", "cf").unwrap();
        s.complete_cashfree(&facematch::store::CashfreeRecord {
            verification_id: "cf-1".into(),
            ref_id,
            status: "SUCCESS".into(),
            result: "YES".into(),
            score: 0.97,
        })
        .unwrap();
        let once = Some(Once { client_id: "ops", key: "k-1", request_hash: "h" });
        let subject = s
            .create_subject(
                &json!({"fullName": "Ada", "documentId": "D-1", "nested": {"a": [1, 2]}}),
                &NewFace { embedding: &unit(7), model, sealed_photo: Some(b"sealed-photo"), once },
            )
            .unwrap();
        s.add_face(&subject.subject_id, &NewFace { embedding: &unit(8), model, sealed_photo: None, once: None }).unwrap();
        (client, token, bundle, s.subject(&subject.subject_id).unwrap().unwrap())
    };
    let migrate = |to: &str| {
        Command::new(env!("CARGO_BIN_EXE_facematch"))
            .args(["migrate", "--from", &format!("sqlite:{}", dir.join("facematch.sqlite").display()), "--to", to, "--json"])
            .output()
            .unwrap()
    };
    let out = migrate(&db);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        summary,
        json!({"clients": 2, "tokens": 1, "valify_bundles": 1, "valify_transactions": 1, "cashfree_verifications": 1,
               "subjects": 1, "faces": 2, "idempotency_keys": 1})
    );

    let p = PostgresStore::connect(&db).unwrap();
    assert!(p.check_client("faceki", &client.client_id, &client.secret).unwrap(), "secrets keep working (hashes moved as stored)");
    assert_eq!(p.check_token("faceki", "access", &token).unwrap().as_deref(), Some(client.client_id.as_str()));
    assert_eq!(p.list_clients().unwrap().iter().filter(|c| c.revoked).count(), 1, "a revoked client stays revoked");
    assert_eq!(p.use_bundle_trial(&bundle).unwrap(), BundleUse::Ok { remaining: Some(1) }, "the quota's use moved too");
    assert!(matches!(p.reserve_cashfree_id("cf-1", "cf"), Err(StoreError::Conflict)), "a spent verification_id stays spent");
    assert!(p.reserve_cashfree_id("cf-2", "cf").unwrap() > 1, "new reference ids continue after the migrated ones");
    let moved = p.subject(&subject.subject_id).unwrap().unwrap();
    let strip = |s: &facematch::store::Subject| {
        let mut s = s.clone();
        s.faces.iter_mut().for_each(|f| f.key = 0);
        s
    };
    assert_eq!(strip(&moved), strip(&subject));
    let mut embeddings = Vec::new();
    p.faces(model, &mut |f| embeddings.push(f.embedding)).unwrap();
    embeddings.sort_by(|x, y| x[0].total_cmp(&y[0]));
    let mut want = vec![unit(7), unit(8)];
    want.sort_by(|x, y| x[0].total_cmp(&y[0]));
    assert_eq!(embeddings, want, "embeddings moved bit for bit");
    assert_eq!(p.face_photo(&subject.subject_id, &subject.faces[0].face_id).unwrap().as_deref(), Some(&b"sealed-photo"[..]));
    let once = Some(Once { client_id: "ops", key: "k-1", request_hash: "h" });
    let retry = p.create_subject(&json!({}), &NewFace { embedding: &unit(9), model, sealed_photo: None, once }).unwrap();
    assert_eq!(retry.subject_id, subject.subject_id, "an Idempotency-Key used before the move still answers its first write");

    // Into a database that already holds state: refused, nothing written.
    let out = migrate(&db);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("migrate into an empty one"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(p.count_subjects(None).unwrap(), 1);

    // `subjects import` writes to PostgreSQL too.
    let people = cluster.dir().join("people");
    std::fs::create_dir_all(people.join("Carl_Friedrich_Gauss")).unwrap();
    std::fs::copy(sample("gauss.png"), people.join("Carl_Friedrich_Gauss/gauss.png")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_facematch"))
        .args(["subjects", "import", people.to_str().unwrap(), "--json"])
        .env("FACEMATCH_MODELS_DIR", models_dir())
        .env("FACEMATCH_DATABASE_URL", &db)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(p.count_subjects(None).unwrap(), 2);
    assert!(p.list_subjects(0, 10, None).unwrap().iter().any(|s| s.full_name.as_deref() == Some("Carl Friedrich Gauss")));
    // The console's search, in PostgreSQL's SQL: a part of the name, any case; `%` is no wildcard.
    let found = p.list_subjects(0, 10, Some("FRIEDRICH")).unwrap();
    assert_eq!(found.iter().map(|s| s.full_name.as_deref()).collect::<Vec<_>>(), vec![Some("Carl Friedrich Gauss")]);
    assert_eq!(p.count_subjects(Some("friedrich")).unwrap(), 1);
    assert_eq!(p.count_subjects(Some(&subject.subject_id[..8])).unwrap(), 1, "an id's start");
    assert_eq!(p.count_subjects(Some("%")).unwrap(), 0);
}

//! The real `facematch serve` process: configured by a TOML file and `--client`, restarted between
//! calls (enrollments, tokens and Cashfree ids survive), and killed with SIGKILL during a burst of
//! enrollments (every acknowledged enrollment is there afterwards and the database is intact).
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const FACEKI_SECRET: &str = "faceki-secret-0123456789";
const CASHFREE_SECRET: &str = "cashfree-secret-0123456789";
const VALIFY_SECRET: &str = "valify-secret-0123456789";

struct Server {
    child: Child,
    url: String,
}

impl Server {
    /// Starts the binary with `--config FILE` and waits until it listens (its stderr names the port).
    fn start(config: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_facematch"))
            .args(["--config", config.to_str().unwrap(), "serve"])
            .env("FACEMATCH_MODELS_DIR", models_dir())
            .env_remove("FACEMATCH_LISTEN")
            .env_remove("FACEMATCH_STATE_DIR")
            .env_remove("FACEMATCH_CLIENTS")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let url = listening_url(&mut child);
        Server { child, url }
    }

    /// SIGTERM, then wait: the graceful path.
    fn stop(mut self) {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "graceful shutdown exited with {status}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn state_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fm-process-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_config(dir: &Path) -> PathBuf {
    let path = dir.join("facematch.toml");
    let text = format!(
        "listen = \"127.0.0.1:0\"\nstate-dir = \"{}\"\nworkers = 1\nclient = [\"native:ops:{NATIVE_KEY}\", \"faceki:kiosk:{FACEKI_SECRET}\", \"cashfree:cf:{CASHFREE_SECRET}\", \"valify:vf:{VALIFY_SECRET}\"]\n",
        dir.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(120)).build().unwrap()
}

fn enroll(c: &reqwest::blocking::Client, url: &str, photo: &[u8], record: Value) -> reqwest::Result<reqwest::blocking::Response> {
    let form = reqwest::blocking::multipart::Form::new()
        .part("image", reqwest::blocking::multipart::Part::bytes(photo.to_vec()).file_name("p.png"))
        .text("record", record.to_string());
    c.post(format!("{url}/v1/subjects")).bearer_auth(NATIVE_KEY).multipart(form).send()
}

fn face_check(c: &reqwest::blocking::Client, url: &str, token: &str, selfie: &[u8]) -> Value {
    let form = reqwest::blocking::multipart::Form::new()
        .part("selfie_image", reqwest::blocking::multipart::Part::bytes(selfie.to_vec()).file_name("selfie.jpg"));
    let r = c.post(format!("{url}/facelink/api/face-check")).bearer_auth(token).multipart(form).send().unwrap();
    assert_eq!(r.status(), 200);
    r.json().unwrap()
}

fn cashfree(c: &reqwest::blocking::Client, url: &str, id: &str, a: &[u8], b: &[u8]) -> (u16, Value) {
    let form = reqwest::blocking::multipart::Form::new()
        .text("verification_id", id.to_string())
        .part("first_image", reqwest::blocking::multipart::Part::bytes(a.to_vec()).file_name("a.png"))
        .part("second_image", reqwest::blocking::multipart::Part::bytes(b.to_vec()).file_name("b.jpg"));
    let r = c
        .post(format!("{url}/verification/face-match"))
        .header("x-client-id", "cf")
        .header("x-client-secret", CASHFREE_SECRET)
        .multipart(form)
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap())
}

#[test]
fn enrollments_tokens_and_cashfree_ids_survive_a_restart() {
    let dir = state_dir("restart");
    let config = write_config(&dir);
    let c = http();
    let newton = read(&sample("newton.png"));
    let selfie = mirrored_jpeg(&newton);

    let s = Server::start(&config);
    let r = enroll(&c, &s.url, &newton, json!({"fullName": "Isaac Newton", "documentId": "N-1643"})).unwrap();
    assert_eq!(r.status(), 201);
    let enrolled: Value = r.json().unwrap();
    let t: Value = c.get(format!("{}/getToken?clientId=kiosk&clientSecret={FACEKI_SECRET}", s.url)).send().unwrap().json().unwrap();
    let faceki_token = t["data"]["access_token"].as_str().unwrap().to_string();
    let (status, v) = cashfree(&c, &s.url, "restart-1", &newton, &selfie);
    assert_eq!((status, &v["face_match_result"]), (200, &json!("YES")), "{v}");
    let v: Value = c
        .post(format!("{}/api/o/token/", s.url))
        .form(&[("grant_type", "client_credentials"), ("client_id", "vf"), ("client_secret", VALIFY_SECRET)])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let valify_token = v["access_token"].as_str().unwrap().to_string();
    s.stop();

    let s = Server::start(&config);
    let v = face_check(&c, &s.url, &faceki_token, &selfie);
    assert_eq!(v["data"]["face_verified"], true, "the enrollment and the FACEKI token survived: {v}");
    assert_eq!(v["data"]["all_face_ids"], json!([enrolled["face_id"]]));
    assert_eq!(v["data"]["kyc_records"][0]["documentId"], "N-1643");
    let (status, v) = cashfree(&c, &s.url, "restart-1", &newton, &selfie);
    assert_eq!((status, &v["code"]), (409, &json!("verification_id_already_exists")));
    // The Valify token still authenticates: the request gets past the token check to the body check.
    let r = c.post(format!("{}/api/v1.1/face/match/", s.url)).bearer_auth(&valify_token).json(&json!({})).send().unwrap();
    assert_eq!(r.status(), 400, "an unknown token would be 403");
    let r = c.post(format!("{}/api/v1.1/face/match/", s.url)).bearer_auth("not-a-token").json(&json!({})).send().unwrap();
    assert_eq!(r.status(), 403);
    s.stop();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn every_acknowledged_enrollment_survives_a_kill() {
    let dir = state_dir("kill");
    let config = write_config(&dir);
    let photo = read(&sample("newton.png"));
    let s = Server::start(&config);
    let url = s.url.clone();
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..4 {
        let (url, photo, acked, stop) = (url.clone(), photo.clone(), acked.clone(), stop.clone());
        workers.push(std::thread::spawn(move || {
            let c = http();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                // Errors are expected once the server is killed; only 201s count as acknowledged.
                if let Ok(r) = enroll(&c, &url, &photo, json!({"fullName": format!("burst {w}-{i}")})) {
                    if r.status() == 201 {
                        if let Ok(v) = r.json::<Value>() {
                            acked.lock().unwrap().push(v["subject_id"].as_str().unwrap_or_default().to_string());
                        }
                    }
                }
            }
        }));
    }
    while acked.lock().unwrap().len() < 12 {
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(s); // SIGKILL while requests are in flight
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 12);

    let s = Server::start(&config);
    let c = http();
    let list: Value = c.get(format!("{}/v1/subjects?limit=500", s.url)).bearer_auth(NATIVE_KEY).send().unwrap().json().unwrap();
    let stored: std::collections::HashSet<&str> =
        list["subjects"].as_array().unwrap().iter().map(|s| s["subject_id"].as_str().unwrap()).collect();
    for id in &acked {
        assert!(stored.contains(id.as_str()), "acknowledged enrollment {id} was lost");
    }
    eprintln!("{} enrollments acknowledged before the kill, {} stored", acked.len(), stored.len());
    s.stop();
    let db = rusqlite::Connection::open(dir.join("facematch.sqlite")).unwrap();
    let check: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn subjects_import_enrolls_folders_and_csv_that_the_server_then_finds() {
    let dir = state_dir("import");
    let people = dir.join("people");
    for (name, file) in [("Isaac_Newton", "newton.png"), ("Carl_Friedrich_Gauss", "gauss.png")] {
        std::fs::create_dir_all(people.join(name)).unwrap();
        std::fs::copy(sample(file), people.join(name).join(file)).unwrap();
    }
    // A photo without a face is reported, not enrolled.
    std::fs::create_dir_all(people.join("Nobody")).unwrap();
    std::fs::write(people.join("Nobody/blank.png"), blank_png(200)).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_facematch"))
            .args(args)
            .env("FACEMATCH_MODELS_DIR", models_dir())
            .env("FACEMATCH_STATE_DIR", &dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let summary: Value = serde_json::from_str(&run(&["subjects", "import", people.to_str().unwrap(), "--json"])).unwrap();
    assert_eq!(summary, json!({"subjects": 2, "faces": 2, "no_face": 1, "failed": 0, "skipped_subjects": 1}));
    let csv = dir.join("more.csv");
    std::fs::write(
        &csv,
        format!("path,fullName,documentId,record\n{},Newton Again,N-2,\"{{\"\"note\"\": \"\"csv\"\"}}\"\n", sample("newton.png").display()),
    )
    .unwrap();
    let summary: Value = serde_json::from_str(&run(&["subjects", "import", csv.to_str().unwrap(), "--json"])).unwrap();
    assert_eq!(summary["subjects"], 1);
    let list = run(&["subjects", "list"]);
    assert!(list.starts_with("3 enrolled"), "{list}");
    assert!(list.contains("Isaac Newton") && list.contains("Newton Again\tN-2"), "{list}");
    assert!(run(&["subjects", "status"]).contains("3 face(s)\tsearched by the current pack"));

    let s = Server::start(&write_config(&dir));
    let c = http();
    let t: Value = c.get(format!("{}/getToken?clientId=kiosk&clientSecret={FACEKI_SECRET}", s.url)).send().unwrap().json().unwrap();
    let v = face_check(&c, &s.url, t["data"]["access_token"].as_str().unwrap(), &mirrored_jpeg(&read(&sample("newton.png"))));
    let names: Vec<&str> = v["data"]["kyc_records"].as_array().unwrap().iter().map(|r| r["fullName"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "both Newtons, not Gauss: {v}");
    assert!(names.contains(&"Isaac Newton") && names.contains(&"Newton Again"));
    let again = v["data"]["kyc_records"].as_array().unwrap().iter().find(|r| r["fullName"] == "Newton Again").unwrap();
    assert_eq!((&again["documentId"], &again["note"]), (&json!("N-2"), &json!("csv")));
    s.stop();
    std::fs::remove_dir_all(&dir).ok();
}

//! The vendors' own example client code, base URL changed only, against a real server on port 0:
//! Didit's Python `submit_face_match` and Valify's Python example from their docs (with
//! `requests`), VideoSDK's Node example (with axios), FACEKI's call as curl sends it. (Cashfree's
//! `requests` client runs in `http_videosdk.rs`; its official SDK is not used: it reports to Sentry.)
//! Field names and JSON types are read back as those clients read them.
mod common;

use std::process::Command;
use std::sync::Arc;

use common::*;
use facematch::server::{AppState, ServerConfig};
use facematch::store::{SqliteStore, Store};
use serde_json::Value;

struct Server {
    url: String,
    rt: tokio::runtime::Runtime,
    state: AppState,
}

fn server(store: Arc<dyn Store>) -> Server {
    let state = AppState::new(engine_arc(), store, ServerConfig::default());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(facematch::server::serve(listener, state.clone()));
    Server { url, rt, state }
}

fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("fm-{}-{name}", std::process::id()));
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Didit's v2 doc, Python tab: `submit_face_match` as printed (the URL's host replaced), with the
/// doc's options, and `created_at` read with Python's `%f`.
const DIDIT_PY: &str = r#"
import json, os, sys, base64, datetime
import requests

def submit_face_match(access_token: str, user_image_file: bytes, ref_image_file: bytes, options=None):
    url = os.environ["URL"] + "/v2/face-match"
    headers = {
        "Authorization": f"Bearer {access_token}"
    }
    files = {
        "user_image": user_image_file,
        "ref_image": ref_image_file
    }
    data = {}
    if options:
        data['options'] = json.dumps(options)
    response = requests.post(url, headers=headers, files=files, data=data)
    response.raise_for_status()
    return response.json()

def get_client_token():
    basic = base64.b64encode(f'{os.environ["CID"]}:{os.environ["CSECRET"]}'.encode()).decode()
    r = requests.post(os.environ["URL"] + "/auth/v2/token/", headers={"Authorization": f"Basic {basic}"},
                      data={"grant_type": "client_credentials"})
    r.raise_for_status()
    return r.json()

token = get_client_token()
out = {}
for name, ref in (("same", os.environ["SAME"]), ("other", os.environ["OTHER"])):
    options = {"face_match_score_decline_threshold": 35} if name == "same" else None
    with open(os.environ["USER"], "rb") as user_img, open(ref, "rb") as ref_img:
        result = submit_face_match(token["access_token"], user_img, ref_img, options)
    created = datetime.datetime.strptime(result["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    out[name] = {"status": result["face_match"]["status"], "score": result["face_match"]["score"],
                 "risks": [w["risk"] for w in result["face_match"]["warnings"]], "year": created.year}
print(json.dumps(out))
"#;

#[test]
fn didit_doc_python_client() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let c = store.add_client("didit", None).unwrap();
    let s = server(store);
    let newton = read(&sample("newton.png"));
    let user = temp_file("didit-user.jpg", &mirrored_jpeg(&newton));
    let out = Command::new("python3")
        .args(["-c", DIDIT_PY])
        .env("URL", &s.url)
        .env("CID", &c.client_id)
        .env("CSECRET", &c.secret)
        .env("USER", &user)
        .env("SAME", sample("newton.png"))
        .env("OTHER", sample("gauss.png"))
        .output()
        .expect("python3");
    std::fs::remove_file(&user).ok();
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("No module named 'requests'") {
        return eprintln!("SKIPPED Didit's Python client: the requests package is not installed");
    }
    assert!(out.status.success(), "{err}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["same"]["status"], "Approved", "{v}");
    assert!(v["same"]["score"].as_f64().unwrap() > 35.0);
    // Different people at Didit's default: Declined.
    assert_eq!(v["other"]["status"], "Declined", "{v}");
    assert!(v["other"]["risks"].as_array().unwrap().iter().any(|r| r == "LOW_FACE_MATCH_SIMILARITY"));
    assert!(v["same"]["year"].as_i64().unwrap() >= 2026);
    drop(s.rt);
}

fn curl(args: &[&str]) -> Option<(u16, Value)> {
    let out = match Command::new("curl").args(["-s", "-w", "\n%{http_code}"]).args(args).output() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("SKIPPED curl client: curl is not installed ({e})");
            return None;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap();
    Some((code.trim().parse().unwrap(), serde_json::from_str(body).unwrap_or(Value::Null)))
}

/// FACEKI as its doc's Postman/curl steps send it: a token from `/getToken`, then `selfie_image` as
/// a multipart file with `Authorization: Bearer`. A typed client reads `kycResponse.face.isIdentical`.
#[test]
fn faceki_with_curl() {
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    with_native_key(store.as_ref());
    let c = store.add_client("faceki", None).unwrap();
    let s = server(store);
    let newton = read(&sample("newton.png"));
    // Enrolled through the native API with a record that has none of FACEKI's fields.
    let photo = temp_file("faceki-enroll.png", &newton);
    let enroll = format!("image=@{}", photo.display());
    let Some((code, v)) = curl(&[
        "-H",
        &format!("authorization: {NATIVE_BEARER}"),
        "-F",
        &enroll,
        "-F",
        "record={\"fullName\":\"Isaac Newton\"}",
        &format!("{}/v1/subjects", s.url),
    ]) else {
        return;
    };
    assert_eq!(code, 201, "{v}");
    let (code, v) = curl(&[&format!("{}/getToken?clientId={}&clientSecret={}", s.url, c.client_id, c.secret)]).unwrap();
    assert_eq!(code, 200, "{v}");
    let token = v["data"]["access_token"].as_str().unwrap().to_string();
    let selfie = temp_file("faceki-selfie.jpg", &mirrored_jpeg(&newton));
    let (code, v) = curl(&[
        "-X",
        "POST",
        &format!("{}/facelink/api/face-check", s.url),
        "-H",
        &format!("Authorization: Bearer {token}"),
        "-F",
        &format!("selfie_image=@{}", selfie.display()),
    ])
    .unwrap();
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["responseCode"], 0);
    assert_eq!(v["data"]["face_verified"], true, "{v}");
    let r = &v["data"]["kyc_records"][0];
    assert_eq!(r["fullName"], "Isaac Newton");
    assert_eq!(r["kycResponse"]["face"]["isIdentical"], true);
    assert!(r["kycResponse"]["face"]["confidence"].as_str().unwrap().parse::<f64>().unwrap() >= 0.75, "{r}");
    assert!(r["livenessResponse"].is_object() && r["deviceDetails"].is_object() && r["__v"].is_i64(), "{r}");
    // A selfie without a face still carries `data`.
    let blank = temp_file("faceki-blank.png", &blank_png(320));
    let (code, v) = curl(&[
        &format!("{}/facelink/api/face-check/", s.url),
        "-H",
        &format!("Authorization: Bearer {token}"),
        "-F",
        &format!("selfie_image=@{}", blank.display()),
    ])
    .unwrap();
    assert_eq!((code, &v["data"]["face_verified"]), (200, &Value::Bool(false)), "{v}");
    for p in [photo, selfie, blank] {
        std::fs::remove_file(p).ok();
    }
    let _ = &s.state;
}

/// VideoSDK's doc, Node tab: `getBase64Image` and `faceMatch` with axios, as printed (the URL set,
/// the doc's elided `axios.post(url, data, { headers })` and `response.data` written out), images
/// read from `./image/` as the doc does. axios comes from the setup cache (scripts/setup).
const VIDEOSDK_AXIOS: &str = r#"
import axios from 'axios';
import { readFileSync } from 'fs';
import path from 'path';

const __dirname = path.resolve();

function getBase64Image(imageName) {
  const filePath = path.join(__dirname, 'image', imageName);
  const image = readFileSync(filePath);
  const base64Data = Buffer.from(image).toString('base64');
  return `data:image/jpeg;base64,${base64Data}`;
}

async function faceMatch(ovdImageName, selfieImageName) {
  const url = process.env.URL + '/ai/v1/face-verification/verify';
  const headers = {
    'Authorization': `${process.env.API_KEY}`,
    'Content-Type': 'application/json'
  };
  const data = {
    img1: getBase64Image(ovdImageName),
    img2: getBase64Image(selfieImageName)
  };
  const response = await axios.post(url, data, { headers });
  return response.data;
}

async function main() {
  const same = await faceMatch('img1.jpg', 'img2.jpg');
  const other = await faceMatch('img1.jpg', 'img3.jpg');
  console.log(JSON.stringify({ same, other }));
}

main().catch(error => { console.error('Error in main function:', error.message); process.exit(1); });
"#;

#[test]
fn videosdk_doc_node_axios_client() {
    let clients = cache_dir().join("node-clients");
    if !clients.join("node_modules/axios/package.json").is_file() {
        return eprintln!("SKIPPED VideoSDK's axios client: axios is not installed (scripts/setup installs it where npm exists)");
    }
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let c = store.add_client("videosdk", None).unwrap();
    let s = server(store);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let claims = serde_json::json!({"apikey": c.client_id, "permissions": ["allow_join"], "iat": now, "exp": now + 600});
    let jwt = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &jsonwebtoken::EncodingKey::from_secret(c.secret.as_bytes()))
        .unwrap();
    let work = std::env::temp_dir().join(format!("fm-axios-{}", std::process::id()));
    std::fs::create_dir_all(work.join("image")).unwrap();
    let newton = read(&sample("newton.png"));
    std::fs::write(work.join("image/img1.jpg"), &newton).unwrap();
    std::fs::write(work.join("image/img2.jpg"), mirrored_jpeg(&newton)).unwrap();
    std::fs::write(work.join("image/img3.jpg"), read(&sample("gauss.png"))).unwrap();
    let script = clients.join(format!("videosdk-doc-{}.mjs", std::process::id()));
    std::fs::write(&script, VIDEOSDK_AXIOS).unwrap();
    let out = Command::new("node").arg(&script).current_dir(&work).env("URL", &s.url).env("API_KEY", &jwt).output();
    std::fs::remove_file(&script).ok();
    std::fs::remove_dir_all(&work).ok();
    let out = match out {
        Ok(o) => o,
        Err(e) => return eprintln!("SKIPPED VideoSDK's axios client: node is not installed ({e})"),
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, serde_json::json!({"same": {"verified": true}, "other": {"verified": false}}));
}

/// Valify's doc, Python tab, as printed (host, token and bundle key filled in), after an OAuth2
/// client-credentials token; `confidence` read as a float, `is_similar` as a bool.
const VALIFY_PY: &str = r#"
import json, os
import requests
import base64

def base64_encode(file_name):
    with open(file_name, "rb") as image_file:
        encoded_string = base64.b64encode(image_file.read()).decode()
        return encoded_string
    return ""

t = requests.post(os.environ["URL"] + "/api/o/token/", data={"grant_type": "client_credentials",
    "client_id": os.environ["CID"], "client_secret": os.environ["CSECRET"]})
t.raise_for_status()
token = t.json()["access_token"]
out = {}
for name, second in (("same", os.environ["SAME"]), ("other", os.environ["OTHER"])):
    first_img = base64_encode(os.environ["FIRST"])
    second_img = base64_encode(second)
    data = {
            'first_img': first_img,
            'second_img': second_img,
            'bundle_key': os.environ["BUNDLE"], # Place your bundle key here
            'lang': 'en' # optional
    }
    r = requests.post(os.environ["URL"] + "/api/v1/face/match",
            json=data,
            headers={'Authorization': 'Bearer %s' % token}
        )
    body = r.json()
    out[name] = {"status": r.status_code, "is_similar": body["result"]["is_similar"] is True,
                 "confidence": float(body["result"]["confidence"]), "trials": isinstance(body["trials_remaining"], int)}
print(json.dumps(out))
"#;

#[test]
fn valify_doc_python_client() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let c = store.add_client("valify", None).unwrap();
    let bundle = store.add_bundle_key(None).unwrap();
    let s = server(store);
    let newton = read(&sample("newton.png"));
    let mirror = temp_file("valify-mirror.jpg", &mirrored_jpeg(&newton));
    let out = Command::new("python3")
        .args(["-c", VALIFY_PY])
        .env("URL", &s.url)
        .env("CID", &c.client_id)
        .env("CSECRET", &c.secret)
        .env("BUNDLE", &bundle)
        .env("FIRST", sample("newton.png"))
        .env("SAME", &mirror)
        .env("OTHER", sample("gauss.png"))
        .output()
        .expect("python3");
    std::fs::remove_file(&mirror).ok();
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("No module named 'requests'") {
        return eprintln!("SKIPPED Valify's Python client: the requests package is not installed");
    }
    assert!(out.status.success(), "{err}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((&v["same"]["status"], &v["same"]["is_similar"], &v["same"]["trials"]), (&200.into(), &true.into(), &true.into()), "{v}");
    assert!(v["same"]["confidence"].as_f64().unwrap() >= 0.75, "{v}");
    assert_eq!((&v["other"]["is_similar"], v["other"]["confidence"].as_f64().unwrap() < 0.75), (&false.into(), true), "{v}");
}

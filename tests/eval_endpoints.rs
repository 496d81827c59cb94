//! `facematch eval --endpoint`'s vendor clients end to end against facematch's own vendor routes on
//! a real server (port 0): each client's request must be accepted and its answer read.
mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::*;
use facematch::eval::endpoint::{Endpoint, Vendor};
use facematch::server::{AppState, ServerConfig};
use facematch::store::{SqliteStore, Store};

#[test]
fn every_vendor_client_against_the_running_server() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let valify = store.add_client("valify", None).unwrap();
    let valify_token = store.issue_token("valify", &valify.client_id, "access", 600).unwrap();
    let bundle = store.add_bundle_key(None).unwrap();
    let didit = store.add_client("didit", None).unwrap();
    let didit_token = store.issue_token("didit", &didit.client_id, "access", 600).unwrap();
    let didit_key = store.issue_token("didit", &didit.client_id, "api_key", 600).unwrap();
    let vs = store.add_client("videosdk", None).unwrap();
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 600;
    let jwt = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({"apikey": vs.client_id, "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(vs.secret.as_bytes()),
    )
    .unwrap();
    let cf = store.add_client("cashfree", None).unwrap();
    with_native_key(store.as_ref());
    // Didit's default decline threshold (30 = FMR 1.6 %) lets newton vs gauss through; the eval
    // client sends no options, so the engine's own decision threshold is what this test checks
    // for the other vendors, and Didit's score order.
    let state = AppState::new(Arc::new(engine("yunet-sface")), store, ServerConfig::default());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = rt.spawn(facematch::server::serve(listener, state));

    let creds = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<HashMap<_, _>>();
    let clients = [
        (Vendor::Valify, creds(&[("token", &valify_token), ("bundle_key", &bundle)])),
        (Vendor::Didit, creds(&[("token", &didit_token)])),
        (Vendor::DiditV3, creds(&[("api_key", &didit_key)])),
        (Vendor::Videosdk, creds(&[("jwt", &jwt)])),
        (Vendor::Cashfree, creds(&[("client_id", &cf.client_id), ("client_secret", &cf.secret)])),
        (Vendor::Native, creds(&[("token", NATIVE_KEY)])),
    ];
    let newton = read(&sample("newton.png"));
    let same = mirrored_jpeg(&newton);
    let other = read(&sample("gauss.png"));
    for (vendor, c) in clients {
        let ep = Endpoint::new(vendor, &url, c).unwrap();
        let a = ep.compare(&newton, &same).unwrap_or_else(|e| panic!("{vendor:?}: {e}"));
        let b = ep.compare(&newton, &other).unwrap_or_else(|e| panic!("{vendor:?}: {e}"));
        assert_eq!(a.decision, Some(true), "{vendor:?} same person");
        if !matches!(vendor, Vendor::Didit | Vendor::DiditV3) {
            assert_eq!(b.decision, Some(false), "{vendor:?} different people");
        }
        if let (Some(x), Some(y)) = (a.score, b.score) {
            assert!(x > y, "{vendor:?}: {x} vs {y}");
        }
    }
    server.abort();
}

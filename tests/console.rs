//! The web console in a real browser: Debian's headless Chromium driven through chromedriver
//! (W3C WebDriver) against a real `facematch serve` on port 0. The test types the key, compares two
//! LFW photos through the page, enrolls a person, searches and pages the list, identifies them from
//! another photo, reads the Status view, deletes the person, and checks what the page shows against
//! what the API answers for the same photos. Screenshots go to `target/console/` (laptop and
//! phone-sized windows); `target/console/readme.png` is made from the public-domain Newton portrait
//! only. The browser's own network log must show no request to anywhere but this server.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

const KEY: &str = "console-test-native-key-0123456789";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `facematch serve` on a free port with a native key and kept (encrypted) photos.
fn start_server(dir: &Path) -> (Killed, String) {
    let photo_key = dir.join("photo.key");
    std::fs::write(&photo_key, "11".repeat(32)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_facematch"))
        .args(["serve", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(dir.join("state"))
        .arg("--photo-key")
        .arg(&photo_key)
        .args(["--client", &format!("native:console:{KEY}")])
        .env("FACEMATCH_MODELS_DIR", models_dir())
        .env_remove("FACEMATCH_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = listening_url(&mut child);
    (Killed(child), url)
}

/// chromedriver on a free loopback port, ready for sessions.
async fn start_driver() -> (Killed, String) {
    let port = free_port();
    let child = Command::new("chromedriver").arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn();
    let child = Killed(child.expect("chromedriver (scripts/install-browser installs it)"));
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (child, url);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not listen on {url}");
}

async fn browser(driver: &str, profile: &Path) -> Client {
    let args = [
        "--headless=new".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-default-apps".into(),
        "--no-first-run".into(),
        "--hide-scrollbars".into(),
        "--force-device-scale-factor=1".into(),
        // A synthetic camera (a test pattern, no face) and no permission prompt, for the selfie path.
        "--use-fake-device-for-media-stream".into(),
        "--use-fake-ui-for-media-stream".into(),
        format!("--user-data-dir={}", profile.display()),
    ];
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {"binary": chromium_binary(), "args": args},
        "goog:loggingPrefs": {"performance": "ALL"},
    });
    let serde_json::Value::Object(caps) = caps else { unreachable!() };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector).capabilities(caps).connect(driver).await.expect("a Chromium session")
}

fn chromium_binary() -> String {
    ["/usr/lib/chromium/chromium", "/usr/bin/chromium"].iter().find(|p| Path::new(p).exists()).unwrap_or(&"/usr/bin/chromium").to_string()
}

/// Chromium's network log (every request the page made, through the DevTools events chromedriver
/// records), via chromedriver's log endpoint.
#[derive(Debug)]
struct PerformanceLog;

impl fantoccini::wd::WebDriverCompatibleCommand for PerformanceLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }
    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"performance"}"#.into()))
    }
}

/// Every URL the browser requested so far.
async fn requested_urls(c: &Client) -> Vec<String> {
    let log = c.issue_cmd(PerformanceLog).await.unwrap();
    let mut urls = Vec::new();
    for entry in log.as_array().unwrap() {
        let msg: Value = serde_json::from_str(entry["message"].as_str().unwrap()).unwrap();
        if msg["message"]["method"] == "Network.requestWillBeSent" {
            urls.push(msg["message"]["params"]["request"]["url"].as_str().unwrap().to_string());
        }
    }
    urls
}

/// The rendered text of the first element `css` selects, once there is one (read in the page, so a
/// re-rendered element is never stale).
async fn text(c: &Client, css: &str) -> String {
    let js = "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;";
    for _ in 0..600 {
        if let Value::String(t) = c.execute(js, vec![json!(css)]).await.unwrap() {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never appeared");
}

/// Waits until `css` is displayed (the console hides views and panels with `hidden`).
async fn shown(c: &Client, css: &str) {
    let js = format!("document.querySelector({0}) && document.querySelector({0}).checkVisibility()", json!(css));
    until(c, &js, &format!("{css} to be shown")).await;
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css)).await.unwrap().click().await.unwrap();
}

async fn upload(c: &Client, css: &str, file: &Path) {
    // chromedriver takes only canonical paths.
    let file = file.canonicalize().unwrap();
    c.find(Locator::Css(css)).await.unwrap().send_keys(file.to_str().unwrap()).await.unwrap();
}

/// Runs `js` (a boolean expression) until it is true.
async fn until(c: &Client, js: &str, what: &str) {
    for _ in 0..600 {
        if c.execute(&format!("return !!({js});"), vec![]).await.unwrap() == Value::Bool(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

fn shots_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console");
    std::fs::create_dir_all(&d).unwrap();
    d
}

async fn screenshot(c: &Client, name: &str) -> Vec<u8> {
    let png = c.screenshot().await.unwrap();
    std::fs::write(shots_dir().join(name), &png).unwrap();
    png
}

/// What the API itself answers, for checking what the page rendered.
fn api(url: &str, path: &str, form: reqwest::blocking::multipart::Form) -> Value {
    let r = reqwest::blocking::Client::new().post(format!("{url}{path}")).bearer_auth(KEY).multipart(form).send().unwrap();
    r.json().unwrap()
}

fn form(parts: &[(&str, &Path)]) -> reqwest::blocking::multipart::Form {
    parts.iter().fold(reqwest::blocking::multipart::Form::new(), |f, (name, p)| f.file(name.to_string(), p).unwrap())
}

/// The first LFW identity (alphabetically) with at least three photos: its name, three photos, and a
/// photo of someone else.
fn lfw_people(lfw: &Path) -> (String, [PathBuf; 3], PathBuf) {
    let mut names: Vec<_> = std::fs::read_dir(lfw).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    let photos = |d: &Path| {
        let mut v: Vec<_> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().path()).collect();
        v.sort();
        v
    };
    let person = names.iter().find(|d| photos(d).len() >= 3).unwrap();
    let other = names.iter().find(|d| *d != person).unwrap();
    let p = photos(person);
    let name = person.file_name().unwrap().to_str().unwrap().replace('_', " ");
    (name, [p[0].clone(), p[1].clone(), p[2].clone()], photos(other)[0].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_headless_chromium() {
    let Some(eval) = shared_eval() else {
        eprintln!("SKIPPED: ../shared/eval is absent (the console test compares LFW photos)");
        return;
    };
    let (name, [photo1, photo2, photo3], stranger) = lfw_people(&eval.join("lfw-view1/lfw"));
    let tmp = std::env::temp_dir().join(format!("facematch-console-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let (_server, url) = start_server(&tmp);
    let (_driver, driver_url) = start_driver().await;
    let c = browser(&driver_url, &tmp.join("profile")).await;
    c.set_window_size(1280, 1000).await.unwrap();

    // The key panel, then the key typed once.
    c.goto(&url).await.unwrap();
    shown(&c, "#key-panel").await;
    let bad = c.find(Locator::Css("#key-input")).await.unwrap();
    bad.send_keys("not-the-key-0123456789").await.unwrap();
    click(&c, "#key-save").await;
    shown(&c, "#key-error").await;
    assert!(text(&c, "#key-error").await.contains("a valid API key is required"), "the API's own words for a wrong key");
    bad.clear().await.unwrap();
    bad.send_keys(KEY).await.unwrap();
    click(&c, "#key-save").await;
    shown(&c, "#keybox-set").await;

    compare_view(&c, &url, &photo1, &photo2).await;
    no_face_error(&c, &tmp, &photo1).await;
    camera_selfie(&c, &photo1).await;
    people_view(&c, &url, &name, &photo1, &photo3).await;
    identify_view(&c, &url, &name, &photo2, &stranger).await;
    status_view(&c).await;
    delete_person(&c, &name).await;
    phone_window(&c, &photo1, &photo2).await;
    readme_shot(&c).await;

    // Nothing left this server: every request over the network the browser made went to it (the
    // rest are the browser's own chrome:// pages and the page's blob: photos, which stay inside).
    let urls = requested_urls(&c).await;
    let network: Vec<_> = urls.iter().filter(|u| ["http:", "https:", "ws:", "wss:", "ftp:"].iter().any(|s| u.starts_with(s))).collect();
    assert!(network.len() > 10, "the network log is recorded ({} requests)", network.len());
    let elsewhere: Vec<_> = network.iter().filter(|u| !u.starts_with(&format!("{url}/"))).collect();
    assert!(elsewhere.is_empty(), "requests to elsewhere: {elsewhere:?}");
    let other: std::collections::BTreeSet<_> = urls.iter().filter_map(|u| u.split_once(':').map(|p| p.0)).collect();
    eprintln!(
        "console: {} network requests, all to {url} (schemes seen: {other:?}); screenshots in {}",
        network.len(),
        shots_dir().display()
    );
    c.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&tmp);
}

async fn compare_view(c: &Client, url: &str, a: &Path, b: &Path) {
    upload(c, "#file-a", a).await;
    upload(c, "#file-b", b).await;
    click(c, "#compare-run").await;
    shown(c, "#compare-result #decision").await;
    let want = api(url, "/v1/compare", form(&[("image_a", a), ("image_b", b)]));
    assert_eq!(text(c, "#similarity").await, format!("{:.3}", want["similarity"].as_f64().unwrap()));
    assert_eq!(text(c, "#score").await, format!("{:.3}", want["score"].as_f64().unwrap()));
    let decision = if want["match"] == true { "Match" } else { "No match" };
    assert_eq!(text(c, "#decision").await.to_lowercase(), decision.to_lowercase());
    let words = text(c, "#fmr-words").await;
    assert!(words.contains("different people score this high") || words.contains("pairs of different people"), "{words}");
    let faces = format!("{} · {}", want["image_a"]["prominent_faces"], want["image_b"]["prominent_faces"]);
    assert_eq!(text(c, "#faces").await, faces);
    assert!(text(c, "#note-a").await.contains("prominent"), "the face count is shown");
    assert_eq!(c.find_all(Locator::Css("#timings tbody tr")).await.unwrap().len(), 4, "four stage timings");
    // The photo is drawn with its faces: the chosen face's box is green on the canvas.
    let green = c
        .execute(
            "const c = document.querySelector('#canvas-a'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] === 0x12 && d[i+1] === 0xb7 && d[i+2] === 0x6a) n++; return n;",
            vec![],
        )
        .await
        .unwrap();
    assert!(green.as_u64().unwrap() > 50, "the chosen face's box and landmarks are drawn ({green} green pixels)");
    screenshot(c, "compare-laptop.png").await;
}

/// A photo without a face: the page shows the API's own error, words and code.
async fn no_face_error(c: &Client, tmp: &Path, face: &Path) {
    let blank = tmp.join("blank.png");
    std::fs::write(&blank, blank_png(320)).unwrap();
    upload(c, "#file-b", &blank).await;
    click(c, "#compare-run").await;
    shown(c, "#compare-result .error").await;
    let shown_text = text(c, "#compare-result .error").await;
    assert!(shown_text.contains("no_face") && shown_text.contains("HTTP 422"), "{shown_text}");
    assert!(shown_text.contains("image_b"), "the error names the photo: {shown_text}");
    upload(c, "#file-b", face).await;
}

/// The camera button: the browser's (synthetic) camera is shown, a frame captured becomes photo B
/// and is sent; the test pattern holds no face, which the page reports in the API's words.
async fn camera_selfie(c: &Client, face: &Path) {
    click(c, ".camera-btn[data-target=b]").await;
    until(c, "document.querySelector('#camera-dialog').open && document.querySelector('#camera-video').videoWidth > 0", "the camera").await;
    click(c, "#camera-capture").await;
    until(c, "!document.querySelector('#camera-dialog').open && !document.querySelector('#compare-run').disabled", "the capture").await;
    click(c, "#compare-run").await;
    shown(c, "#compare-result .error").await;
    let said = text(c, "#compare-result .error").await;
    assert!(said.contains("no_face") && said.contains("image_b"), "{said}");
    upload(c, "#file-b", face).await;
}

async fn people_view(c: &Client, url: &str, name: &str, photo: &Path, another: &Path) {
    click(c, "#tab-people").await;
    shown(c, "#people-empty").await;
    upload(c, "#enroll-file", photo).await;
    let record = c.find(Locator::Css("#enroll-record")).await.unwrap();
    record.clear().await.unwrap();
    record.send_keys(&json!({"fullName": name, "documentId": "LFW-0001", "status": "ACCEPTED"}).to_string()).await.unwrap();
    click(c, "#enroll-run").await;
    shown(c, "#enroll-ok").await;
    assert!(text(c, "#enroll-ok").await.contains(&format!("{name} is enrolled")));
    until(c, "document.querySelectorAll('#people-table tbody tr').length === 1", "the new row").await;
    assert!(text(c, "#people-table tbody tr").await.contains(name));
    // Search: a part of the name in another case finds them; something else finds no one.
    let last = name.split(' ').next_back().unwrap().to_uppercase();
    for (q, rows) in [(last.as_str(), 1), ("nobody-like-this", 0)] {
        let search = c.find(Locator::Css("#people-search")).await.unwrap();
        search.clear().await.unwrap();
        search.send_keys(q).await.unwrap();
        click(c, "#people-search-form button").await;
        until(c, &format!("document.querySelectorAll('#people-table tbody tr').length === {rows}"), "the search").await;
    }
    c.find(Locator::Css("#people-search")).await.unwrap().clear().await.unwrap();
    click(c, "#people-search-form button").await;
    until(c, "document.querySelectorAll('#people-table tbody tr').length === 1", "the full list").await;
    assert_eq!(text(c, "#people-range").await, "1–1 of 1");
    // Add a face: the row's own file input; the row then counts two faces.
    upload(c, "#people-table tbody tr input.addface", another).await;
    until(c, "document.querySelector('#people-table tbody tr td.num').innerText === '2'", "the second face").await;
    screenshot(c, "people-laptop.png").await;
    paging(c, url).await;
}

/// 21 more people (enrolled through the API): two pages of 20, forward and back.
async fn paging(c: &Client, url: &str) {
    let newton = sample("newton.png");
    let mut ids = Vec::new();
    for i in 1..=21 {
        let form = form(&[("image", &newton)]).text("record", json!({"fullName": format!("Pager {i:02}")}).to_string());
        ids.push(api(url, "/v1/subjects", form)["subject_id"].as_str().unwrap().to_string());
    }
    click(c, "#people-search-form button").await;
    until(c, "document.querySelector('#people-range').innerText === '1–20 of 22'", "the first page").await;
    assert_eq!(c.find_all(Locator::Css("#people-table tbody tr")).await.unwrap().len(), 20);
    click(c, "#people-next").await;
    until(c, "document.querySelector('#people-range').innerText === '21–22 of 22'", "the second page").await;
    assert!(c.execute("return document.querySelector('#people-next').disabled;", vec![]).await.unwrap() == Value::Bool(true));
    click(c, "#people-prev").await;
    until(c, "document.querySelector('#people-range').innerText === '1–20 of 22'", "back to the first page").await;
    let client = reqwest::blocking::Client::new();
    for id in ids {
        assert_eq!(client.delete(format!("{url}/v1/subjects/{id}")).bearer_auth(KEY).send().unwrap().status(), 204);
    }
    click(c, "#people-search-form button").await;
    until(c, "document.querySelector('#people-range').innerText === '1–1 of 1'", "the list without them").await;
}

async fn identify_view(c: &Client, url: &str, name: &str, selfie: &Path, stranger: &Path) {
    click(c, "#tab-identify").await;
    upload(c, "#identify-file", selfie).await;
    click(c, "#identify-run").await;
    shown(c, "#identify-summary").await;
    let want = api(url, "/v1/identify", form(&[("image", selfie)]));
    let top = &want["candidates"][0];
    assert_eq!(text(c, ".cand .cand-name").await, name, "the enrolled person is the top candidate");
    let nums = text(c, ".cand .nums").await;
    assert!(nums.contains(&format!("{:.3}", top["score"].as_f64().unwrap())), "{nums}");
    let badge = text(c, ".cand .badge").await;
    assert_eq!(badge.to_lowercase(), if top["match"] == true { "match" } else { "no match" });
    // The enrolled photo (kept, encrypted) is fetched with the key and shown.
    until(c, "document.querySelector('.cand img.thumb') && document.querySelector('.cand img.thumb').naturalWidth > 0", "the photo").await;
    screenshot(c, "identify-laptop.png").await;
    // Someone else: the same list, the page's decision as the API's.
    upload(c, "#identify-file", stranger).await;
    click(c, "#identify-run").await;
    let want = api(url, "/v1/identify", form(&[("image", stranger)]));
    let expect = if want["candidates"][0]["match"] == true { "match" } else { "no match" };
    until(
        c,
        &format!(
            "document.querySelector('.cand .badge') && document.querySelector('#identify-file').files[0].name === '{}'",
            stranger.file_name().unwrap().to_str().unwrap()
        ),
        "the second search",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    until(c, "!document.querySelector('#identify-busy').offsetParent", "the search to finish").await;
    assert_eq!(text(c, ".cand .badge").await.to_lowercase(), expect);
}

async fn status_view(c: &Client) {
    click(c, "#tab-status").await;
    shown(c, "#calibration").await;
    assert_eq!(text(c, "#status-version").await, env!("CARGO_PKG_VERSION"));
    assert_eq!(text(c, "#status-gallery").await, "2 enrolled faces");
    let page = text(c, "#status-body").await;
    let pack = facematch::manifest::Pack::resolve("yunet-sface", &models_dir()).unwrap();
    for sha in [&pack.manifest.detector.model.sha256, &pack.manifest.embedder.model.sha256] {
        assert!(page.contains(sha.as_deref().unwrap()), "the model's sha256 is shown");
    }
    let cal = pack.manifest.calibration.as_ref().unwrap();
    assert_eq!(c.find_all(Locator::Css("#calibration tbody tr")).await.unwrap().len(), cal.points.len());
    let tar = cal.points.iter().find(|p| p.fmr == 1e-3).and_then(|p| p.tar).unwrap();
    assert!(page.contains(&format!("{:.2} %", 100.0 * tar)), "TAR at 1e-3 is shown");
    screenshot(c, "status-laptop.png").await;
}

async fn delete_person(c: &Client, name: &str) {
    click(c, "#tab-people").await;
    until(c, "document.querySelectorAll('#people-table tbody tr').length === 1", "the list").await;
    click(c, "#people-table tbody tr button.danger").await;
    // Nothing is deleted before the confirmation.
    assert!(text(c, "#people-table tbody tr").await.contains(name));
    click(c, "#people-table .confirm-delete").await;
    until(c, "document.querySelectorAll('#people-table tbody tr').length === 0", "the row to go").await;
    shown(c, "#people-empty").await;
}

async fn phone_window(c: &Client, a: &Path, b: &Path) {
    c.set_window_size(390, 844).await.unwrap();
    click(c, "#tab-compare").await;
    upload(c, "#file-a", a).await;
    upload(c, "#file-b", b).await;
    click(c, "#compare-run").await;
    shown(c, "#compare-result #decision").await;
    // Nothing wider than the window: no sideways scrolling on a phone.
    let wide = c.execute("return document.documentElement.scrollWidth;", vec![]).await.unwrap();
    assert!(wide.as_u64().unwrap() <= 390, "the page is {wide} px wide in a 390 px window");
    screenshot(c, "compare-phone-top.png").await;
    c.execute("document.querySelector('#compare-result').scrollIntoView();", vec![]).await.unwrap();
    screenshot(c, "compare-phone-result.png").await;
    for (tab, ready, shot) in [
        ("people", "#people-table", "people-phone.png"),
        ("identify", "#identify-run", "identify-phone.png"),
        ("status", "#calibration", "status-phone.png"),
    ] {
        click(c, &format!("#tab-{tab}")).await;
        shown(c, ready).await;
        c.execute("window.scrollTo(0, 0);", vec![]).await.unwrap();
        let wide = c.execute("return document.documentElement.scrollWidth;", vec![]).await.unwrap();
        assert!(wide.as_u64().unwrap() <= 390, "{tab}: the page is {wide} px wide in a 390 px window");
        screenshot(c, shot).await;
    }
    c.set_window_size(1280, 1000).await.unwrap();
}

/// The README's picture: Newton's public-domain portrait against a mirrored, re-encoded copy, at a
/// laptop size, scaled down to keep the PNG small.
async fn readme_shot(c: &Client) {
    let dir = shots_dir();
    let newton = sample("newton.png");
    let mirrored = dir.join("newton-mirrored.jpg");
    std::fs::write(&mirrored, mirrored_jpeg(&read(&newton))).unwrap();
    c.set_window_size(1200, 900).await.unwrap();
    click(c, "#tab-compare").await;
    upload(c, "#file-a", &newton).await;
    upload(c, "#file-b", &mirrored).await;
    click(c, "#compare-run").await;
    shown(c, "#compare-result #decision").await;
    until(c, "document.querySelector('#note-b').textContent.includes('prominent')", "the face notes").await;
    c.execute("window.scrollTo(0, 0);", vec![]).await.unwrap();
    let png = c.screenshot().await.unwrap();
    // The photos and the verdict (down to the figures), 800 px wide, compressed hard.
    let img = image::load_from_memory(&png).unwrap();
    let bottom = c
        .execute("const r = document.querySelector('.metrics').getBoundingClientRect(); return Math.ceil(r.bottom) + 12;", vec![])
        .await
        .unwrap();
    let height = (bottom.as_u64().unwrap() as u32).min(img.height());
    let small = img.crop_imm(0, 0, img.width(), height).resize(800, 800, image::imageops::FilterType::Lanczos3).to_rgb8();
    let mut out = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Best,
        image::codecs::png::FilterType::Adaptive,
    );
    small.write_with_encoder(encoder).unwrap();
    std::fs::write(dir.join("readme.png"), &out).unwrap();
    assert!(out.len() < 400_000, "the README picture is {} bytes", out.len());
}

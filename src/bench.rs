//! `facematch bench`: a load generator that drives a running server over loopback with N concurrent
//! clients (bounded in time and requests; throughput, latency percentiles, errors, the server's peak
//! RSS), and the model-only bound: the same model sessions run back to back on the same inputs, with
//! nothing else, on as many threads as the server has inference workers.
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Serialize;

use crate::align::align;
use crate::decode::decode;
use crate::detect::Detector;
use crate::embed::Embedder;
use crate::engine::{likeness_checked, EngineConfig};
use crate::error::{Error, Result};
use crate::modelfile;

/// Image pairs to send, as bytes.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// `lfw`: the first `n` pairs of LFW View 1 DevTest (250x250 JPEGs); `large`: the 3000x2171 Solvay
/// JPEG against newton.png (setup's samples).
pub fn inputs(kind: &str, lfw_pairs: &Path, samples: &Path, n: usize) -> std::result::Result<Pairs, String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    match kind {
        "lfw" => {
            let list = crate::eval::pairs::load(lfw_pairs, None).map_err(|e| e.to_string())?;
            list.pairs.iter().take(n.max(1)).map(|p| Ok((read(&p.a)?, read(&p.b)?))).collect()
        }
        "large" => Ok(vec![(read(&samples.join("solvay_conference_1927.jpg"))?, read(&samples.join("newton.png"))?)]),
        other => Err(format!("unknown inputs `{other}` (lfw, large)")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    /// `POST /v1/compare`, JSON base64 (also the Python reference server's route).
    Native,
    /// `POST /verification/face-match`, multipart, a fresh `verification_id` per request.
    Cashfree,
}

pub struct LoadConfig {
    pub url: String,
    pub route: Route,
    pub concurrency: usize,
    pub duration: Duration,
    pub max_requests: usize,
    /// Native API key (Bearer), when the server wants one.
    pub key: Option<String>,
    pub cashfree: Option<(String, String)>,
    /// The server's process id, for its peak resident memory (VmHWM).
    pub server_pid: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub route: Route,
    pub concurrency: usize,
    pub requests: usize,
    pub errors: usize,
    pub seconds: f64,
    /// Successful requests (pairs compared) per second.
    pub throughput: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub peak_rss_mb: Option<f64>,
    /// Busy answers (503 or 429, counted apart from errors) and how fast they came back: under
    /// overload a refusal must be immediate.
    pub busy: usize,
    pub busy_p50_ms: f64,
    pub busy_p99_ms: f64,
    /// Share of busy answers slower than 100 ms.
    pub busy_over_100ms: f64,
    pub first_error: Option<String>,
}

/// How one request ended.
enum Outcome {
    Done,
    Busy,
    Failed(String),
}

pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Peak resident set size of a process, in MB (Linux `/proc/PID/status` VmHWM).
pub fn peak_rss_mb(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = s.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn send(client: &reqwest::blocking::Client, cfg: &LoadConfig, pair: &(Vec<u8>, Vec<u8>), json: &str, seq: usize) -> Outcome {
    let req = match cfg.route {
        Route::Native => {
            let r = client.post(format!("{}/v1/compare", cfg.url)).header("content-type", "application/json").body(json.to_string());
            match &cfg.key {
                Some(k) => r.bearer_auth(k),
                None => r,
            }
        }
        Route::Cashfree => {
            let (id, secret) = cfg.cashfree.clone().unwrap_or_default();
            let vid = format!(
                "bench-{}-{}-{seq}",
                std::process::id(),
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0) % 1_000_000_000
            );
            let form = reqwest::blocking::multipart::Form::new()
                .text("verification_id", vid)
                .part("first_image", reqwest::blocking::multipart::Part::bytes(pair.0.clone()).file_name("a.jpg"))
                .part("second_image", reqwest::blocking::multipart::Part::bytes(pair.1.clone()).file_name("b.jpg"));
            client
                .post(format!("{}/verification/face-match", cfg.url))
                .header("x-client-id", id)
                .header("x-client-secret", secret)
                .multipart(form)
        }
    };
    let resp = match req.send() {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(format!("transport: {e}")),
    };
    let status = resp.status();
    let body = match resp.bytes() {
        Ok(b) => b,
        Err(e) => return Outcome::Failed(format!("transport: {e}")),
    };
    match status.as_u16() {
        200..=299 => Outcome::Done,
        429 | 503 => Outcome::Busy,
        _ => Outcome::Failed(format!("HTTP {status}: {}", String::from_utf8_lossy(&body[..body.len().min(200)]))),
    }
}

/// Drives the server with `concurrency` clients until the duration or the request budget is spent.
pub fn run_load(cfg: &LoadConfig, pairs: &Pairs) -> LoadReport {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let bodies: Vec<String> = match cfg.route {
        Route::Native => pairs.iter().map(|(a, b)| serde_json::json!({"image_a": b64(a), "image_b": b64(b)}).to_string()).collect(),
        Route::Cashfree => pairs.iter().map(|_| String::new()).collect(),
    };
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    let deadline = start + cfg.duration;
    type ClientResult = (Vec<f64>, Vec<f64>, usize, Option<String>);
    let results: Vec<ClientResult> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cfg.concurrency.max(1))
            .map(|_| {
                let (next, bodies) = (&next, &bodies);
                s.spawn(move || {
                    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(120)).build().ok();
                    let (mut lat, mut busy, mut errors, mut first) = (Vec::new(), Vec::new(), 0usize, None);
                    let Some(client) = client else { return (lat, busy, 1, Some("could not build an HTTP client".into())) };
                    while Instant::now() < deadline {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= cfg.max_requests {
                            break;
                        }
                        let k = i % pairs.len().max(1);
                        let t = Instant::now();
                        match send(&client, cfg, &pairs[k], &bodies[k], i) {
                            Outcome::Done => lat.push(t.elapsed().as_secs_f64() * 1e3),
                            Outcome::Busy => busy.push(t.elapsed().as_secs_f64() * 1e3),
                            Outcome::Failed(e) => {
                                errors += 1;
                                first.get_or_insert(e);
                            }
                        }
                    }
                    (lat, busy, errors, first)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or((Vec::new(), Vec::new(), 1, Some("client thread panicked".into())))).collect()
    });
    let seconds = start.elapsed().as_secs_f64();
    let mut lat: Vec<f64> = results.iter().flat_map(|r| r.0.iter().copied()).collect();
    lat.sort_by(f64::total_cmp);
    let mut busy: Vec<f64> = results.iter().flat_map(|r| r.1.iter().copied()).collect();
    busy.sort_by(f64::total_cmp);
    let errors = results.iter().map(|r| r.2).sum();
    LoadReport {
        route: cfg.route,
        concurrency: cfg.concurrency,
        requests: lat.len() + busy.len() + errors,
        errors,
        seconds,
        throughput: lat.len() as f64 / seconds,
        p50_ms: percentile(&lat, 0.50),
        p95_ms: percentile(&lat, 0.95),
        p99_ms: percentile(&lat, 0.99),
        peak_rss_mb: cfg.server_pid.and_then(peak_rss_mb),
        busy: busy.len(),
        busy_p50_ms: percentile(&busy, 0.50),
        busy_p99_ms: percentile(&busy, 0.99),
        busy_over_100ms: busy.iter().filter(|&&b| b > 100.0).count() as f64 / busy.len().max(1) as f64,
        first_error: results.into_iter().find_map(|r| r.3),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelOnlyReport {
    pub workers: usize,
    pub intra_threads: usize,
    pub pairs: usize,
    pub seconds: f64,
    /// Pairs per second: both images' detector passes (the first, and the second look where the
    /// engine makes it) and embedder inferences (the chosen face and the other faces a comparison
    /// checks), nothing else.
    pub throughput: f64,
    pub p50_ms_per_pair: f64,
}

/// The same sessions as the engine's workers (same pack, same intra-op threads), run back to back
/// on pre-made input tensors (every detector pass the engine makes for the image, and the aligned
/// crop of every face it embeds): the throughput no server built on these models can beat.
pub fn model_only(config: &EngineConfig, pairs: &Pairs, duration: Duration) -> Result<ModelOnlyReport> {
    let (pack, runtimes) = config.load_pack()?;
    let det_bytes = modelfile::verify(&pack.detector_path(), &pack.manifest.detector.model)?;
    let emb_bytes = modelfile::verify(&pack.embedder_path(), &pack.manifest.embedder.model)?;
    let intra = config.intra_threads.max(1);
    let workers = config.workers.max(1);
    let start_gate = std::sync::Barrier::new(workers);
    let results: Vec<Result<(usize, Vec<f64>, f64)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let (runtimes, det_bytes, emb_bytes, pack, gate) = (&runtimes, &det_bytes, &emb_bytes, &pack, &start_gate);
                s.spawn(move || -> Result<(usize, Vec<f64>, f64)> {
                    let (d, e) = (&pack.manifest.detector, &pack.manifest.embedder);
                    let mut det = Detector::new(runtimes.session(d.backend, det_bytes, intra, &pack.detector_path())?, d.clone())?;
                    let mut emb = Embedder::new(runtimes.session(e.backend, emb_bytes, intra, &pack.embedder_path())?, e.clone())?;
                    let spec = pack.manifest.embedder.clone();
                    // Inputs made once, outside the measurement.
                    let mut tensors = Vec::new();
                    for (a, b) in pairs {
                        let mut pair = Vec::new();
                        for bytes in [a, b] {
                            let img = decode(bytes, &config.limits)?;
                            let faces = det.detect(&img)?;
                            let face = faces.faces.first().or(faces.fallback.as_ref()).copied().ok_or(Error::NoFace)?;
                            // The chosen face, and the other faces a comparison embeds (likeness).
                            let mut crops = vec![emb.prepare(&align(&img, &face.landmarks, &spec.template, spec.input_size)?)];
                            for (_, other) in likeness_checked(&faces.faces, &face) {
                                crops.push(emb.prepare(&align(&img, &other.landmarks, &spec.template, spec.input_size)?));
                            }
                            pair.push((det.prepare(&img)?, crops));
                        }
                        tensors.push(pair);
                    }
                    gate.wait();
                    let t0 = Instant::now();
                    let (mut n, mut lat) = (0usize, Vec::new());
                    while t0.elapsed() < duration {
                        let t = Instant::now();
                        for (d, e) in &tensors[n % tensors.len()] {
                            for (t, dims) in d {
                                det.run_tensor(t, *dims)?;
                            }
                            for crop in e {
                                emb.run_tensor(crop)?;
                            }
                        }
                        lat.push(t.elapsed().as_secs_f64() * 1e3);
                        n += 1;
                    }
                    Ok((n, lat, t0.elapsed().as_secs_f64()))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(Error::Internal("bench thread panicked".into())))).collect()
    });
    let mut total = 0;
    let mut lat = Vec::new();
    let mut seconds: f64 = 0.0;
    for r in results {
        let (n, l, s) = r?;
        total += n;
        lat.extend(l);
        seconds = seconds.max(s);
    }
    lat.sort_by(f64::total_cmp);
    Ok(ModelOnlyReport {
        workers,
        intra_threads: intra,
        pairs: total,
        seconds,
        throughput: total as f64 / seconds,
        p50_ms_per_pair: percentile(&lat, 0.5),
    })
}

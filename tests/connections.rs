//! Connections bounded in time and number, on the real `facematch serve` process: an idle socket,
//! a slow header and a stalled body are closed within the configured timeouts, and 1,100 idle
//! sockets against a server under `ulimit -n 1024` do not stop a compare.
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary under `ulimit -n 1024`, header timeout 1 s, body timeout 2 s.
fn start(name: &str) -> Server {
    let dir = std::env::temp_dir().join(format!("fm-conn-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let bin = env!("CARGO_BIN_EXE_facematch");
    let mut child = Command::new("bash")
        .args(["-c", &format!("ulimit -n 1024 && exec {bin} serve --listen 127.0.0.1:0 --header-timeout-secs 1 --body-timeout-secs 2 --workers 1 --client native:ops:{NATIVE_KEY}")])
        .env("FACEMATCH_MODELS_DIR", models_dir())
        .env("FACEMATCH_STATE_DIR", &dir)
        .env_remove("FACEMATCH_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = listening_url(&mut child).trim_start_matches("http://").to_string();
    Server { child, addr }
}

/// Seconds until the server closes `s` (reads until EOF or reset), at most `limit`.
fn closed_after(mut s: TcpStream, limit: Duration) -> Option<(f64, String)> {
    let t = Instant::now();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) if t.elapsed() < limit => return Some((t.elapsed().as_secs_f64(), String::from_utf8_lossy(&got).to_string())),
            Ok(0) | Err(_) => return None,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[test]
fn idle_slow_header_and_stalled_body_are_closed() {
    let srv = start("timeouts");
    let limit = Duration::from_secs(6);
    // An idle socket: closed after the 1 s header timeout.
    let idle = TcpStream::connect(&srv.addr).unwrap();
    let (secs, _) = closed_after(idle, limit).expect("an idle socket was held open");
    assert!(secs < 3.0, "idle socket closed after {secs:.1} s");
    // Half a header, then nothing.
    let mut slow = TcpStream::connect(&srv.addr).unwrap();
    slow.write_all(b"POST /v1/compare HTTP/1.1\r\nHost: x\r\n").unwrap();
    let (secs, _) = closed_after(slow, limit).expect("a slow header was held open");
    assert!(secs < 3.0, "slow header closed after {secs:.1} s");
    // A body announced as 1,000 bytes, 1 sent: 408 after the 2 s body timeout.
    let mut stalled = TcpStream::connect(&srv.addr).unwrap();
    let head = format!(
        "POST /v1/compare HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {NATIVE_KEY}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
    );
    stalled.write_all(head.as_bytes()).unwrap();
    let (secs, answer) = closed_after(stalled, limit).expect("a stalled body was held open");
    assert!(secs < 5.0, "stalled body closed after {secs:.1} s");
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408") || answer.starts_with("HTTP/1.1 400"), "{answer}");
    // A kept-alive connection is closed once idle too.
    let mut kept = TcpStream::connect(&srv.addr).unwrap();
    kept.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let (secs, answer) = closed_after(kept, limit).expect("a kept-alive idle connection was held open");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(secs < 3.0, "kept-alive idle connection closed after {secs:.1} s");
}

fn raise_own_fd_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

#[test]
fn eleven_hundred_idle_sockets_do_not_stop_a_compare() {
    raise_own_fd_limit();
    let srv = start("flood");
    let sockets: Vec<TcpStream> = (0..1100).filter_map(|_| TcpStream::connect(&srv.addr).ok()).collect();
    assert!(sockets.len() >= 1000, "could open only {} sockets", sockets.len());
    // The idle ones are closed by the header timeout; then a compare goes through while the client
    // still holds all 1,100.
    let newton = read(&sample("newton.png"));
    let b64 = base64::engine::general_purpose::STANDARD.encode(&newton);
    let body = serde_json::json!({"image_a": b64, "image_b": b64}).to_string();
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let start = Instant::now();
    let mut answer = None;
    while start.elapsed() < Duration::from_secs(15) {
        let r = client
            .post(format!("http://{}/v1/compare", srv.addr))
            .header("authorization", NATIVE_BEARER)
            .header("content-type", "application/json")
            .body(body.clone())
            .send();
        if let Ok(r) = r {
            answer = Some((r.status().as_u16(), r.text().unwrap_or_default()));
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, text) = answer.expect("no compare got through within 15 s of the flood");
    assert_eq!(status, 200, "{text}");
    println!("compare answered {:.1} s after 1,100 idle sockets were opened", start.elapsed().as_secs_f64());
    assert!(srv.child.try_wait_ref().is_none());
    drop(sockets);
}

trait TryWaitRef {
    fn try_wait_ref(&self) -> Option<()>;
}

impl TryWaitRef for Child {
    /// Whether the process is gone (without needing `&mut`): checked through /proc.
    fn try_wait_ref(&self) -> Option<()> {
        (!std::path::Path::new(&format!("/proc/{}", self.id())).exists()).then_some(())
    }
}

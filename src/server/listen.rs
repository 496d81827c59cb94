//! Connections, bounded in number and in time. Every socket is served by hyper's HTTP/1 connection
//! with a header-read timeout, which hyper also applies while a kept-alive connection waits for its
//! next request: an idle socket or a slow header is closed. A request body that stalls is cut by
//! tower-http's body timeout (408). Connections beyond the cap are closed at once, so the process
//! never runs out of file descriptors (the cap stays under the open-file limit, which is raised to
//! its hard limit at start).
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use super::AppState;

/// How long connections may take, and how many may be open.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// From a connection's start, or the end of its last answer, to the end of the next request's
    /// headers: bounds idle keep-alive sockets and slow headers alike.
    pub header_timeout: Duration,
    /// Longest pause while a request body is read.
    pub body_timeout: Duration,
    /// Open connections at most (lowered to fit under the open-file limit).
    pub max_connections: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            header_timeout: Duration::from_secs(crate::defaults::HEADER_TIMEOUT_SECS),
            body_timeout: Duration::from_secs(crate::defaults::BODY_TIMEOUT_SECS),
            max_connections: crate::defaults::MAX_CONNECTIONS,
        }
    }
}

/// File descriptors kept for everything that is not a client socket (the state store, model files,
/// logs, the listener).
const FD_RESERVE: u64 = 64;

/// Raises the soft open-file limit to the hard one and returns the connection cap that fits under
/// it (`wanted` when it fits). Says so in the log when it had to lower the cap.
pub fn fit_connection_cap(wanted: usize) -> usize {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return wanted;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        }
    }
    let fits = lim.rlim_cur.saturating_sub(FD_RESERVE).max(1);
    if (wanted as u64) > fits {
        tracing::warn!(
            open_file_limit = lim.rlim_cur,
            max_connections = fits,
            wanted,
            "the open-file limit is low: connections are capped to fit under it (raise `ulimit -n` for more)"
        );
        fits as usize
    } else {
        wanted
    }
}

/// Serves `state`'s router on `listener` within `limits` until `shutdown` completes; then stops
/// accepting and lets the connections' requests in flight finish.
pub async fn serve_until(
    listener: TcpListener,
    state: AppState,
    limits: ConnLimits,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let app = super::router(state).layer(tower_http::timeout::RequestBodyTimeoutLayer::new(limits.body_timeout));
    let slots = Arc::new(Semaphore::new(fit_connection_cap(limits.max_connections)));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: not fatal. A short
                    // pause keeps a full descriptor table from turning into a busy loop.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Over the cap: closed at once (dropping the socket), never queued.
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "connection refused: at the connection cap");
            continue;
        };
        let svc = app.clone().map_request(move |mut req: axum::extract::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req
        });
        let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

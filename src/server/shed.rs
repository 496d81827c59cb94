//! Load shedding before any work: a request that will need more inference-queue slots than are
//! free is answered busy at once, in its API's shape, before its body is read or decoded. Under
//! many eager clients the machine's time then goes to the requests it can serve, not to parsing
//! and decoding requests it must refuse anyway. (The admission in the engine stays the authority:
//! this only spares work when the answer is already known.) Every busy or rate-limit answer carries
//! `Retry-After`. The refused request's body is read and dropped first (bounded by the body limit
//! and the body timeout): a client still sending a large photo would otherwise see its connection
//! reset and never read the 503 and its `Retry-After` (Python's urllib and requests report a broken
//! pipe). Reading bytes costs little; parsing and decoding them is what is spared.
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::dialect::Api;
use super::AppState;

/// Queue slots a request on this route needs: two photos or one.
fn slots_needed(method: &Method, route: &str) -> Option<usize> {
    if method != Method::POST {
        return None;
    }
    match route {
        "/v1/compare"
        | "/verification/face-match"
        | "/ai/v1/face-verification/verify"
        | "/api/v1.1/face/match/"
        | "/api/v1/face/match/"
        | "/v2/face-match/"
        | "/v3/face-match/" => Some(2),
        "/v1/detect" | "/v1/embed" | "/v1/identify" | "/v1/subjects" | "/v1/subjects/{id}/faces" | "/facelink/api/face-check" => Some(1),
        _ => None,
    }
}

pub async fn shed(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    let needed = route.as_deref().and_then(|r| slots_needed(req.method(), r));
    let mut resp = match (needed, route) {
        (Some(n), Some(route)) if !state.engine.has_room(n) => {
            drain(req.into_body(), state.config.max_body_bytes).await;
            Api::of_path(&route).busy()
        }
        _ => next.run(req).await,
    };
    let s = resp.status();
    if (s == StatusCode::TOO_MANY_REQUESTS || s == StatusCode::SERVICE_UNAVAILABLE) && !resp.headers().contains_key(header::RETRY_AFTER) {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

/// Reads and drops a body, up to `limit` bytes (then the connection is closed after the answer).
async fn drain(mut body: axum::body::Body, limit: usize) {
    use axum::body::HttpBody;
    let mut read = 0usize;
    while let Some(Ok(frame)) = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await {
        read += frame.data_ref().map_or(0, |d| d.len());
        if read > limit {
            break;
        }
    }
}

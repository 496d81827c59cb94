//! `GET /openapi.json`, generated from the handlers' `#[utoipa::path]` attributes and the response
//! types they serialize, and `GET /docs`, a page that renders it with no external assets (air-gapped
//! sites have no CDN).
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "facematch",
        description = "Offline face matching. The native API (`/v1/...`) plus the face-match calls of Valify, Didit, VideoSDK and Cashfree, answered in each vendor's own shapes so an existing client changes only its base URL. Scores are calibrated: score = -log10(FMR)/6, so 0.5 means a false-match rate of 1e-3."
    ),
    modifiers(&Security),
    tags(
        (name = "native", description = "facematch's own API"),
        (name = "subjects", description = "Enrolled faces: KYC records with face embeddings (never photos), 1:N search"),
        (name = "faceki", description = "FACEKI face-check (1:N against enrolled subjects)"),
        (name = "valify", description = "Valify Face Match"),
        (name = "didit", description = "Didit Face Match v2 and v3"),
        (name = "videosdk", description = "VideoSDK face verification"),
        (name = "cashfree", description = "Cashfree Verification face match"),
        (name = "operations", description = "Health, readiness, metrics"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let c = api.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A `native` client's secret; `x-api-key: <key>` is accepted too."))
                    .build(),
            ),
        );
        c.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
        c.add_security_scheme("didit_api_key", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))));
        c.add_security_scheme(
            "videosdk_jwt",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "An HS256 JWT with no `Bearer` prefix, signed with the API secret, carrying the API key in `apikey`.",
            ))),
        );
    }
}

/// The whole document: [`ApiDoc`] plus every route registered through the documented router.
pub fn openapi() -> utoipa::openapi::OpenApi {
    super::documented_routes().split_for_parts().1
}

pub async fn json() -> Response {
    static SPEC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let spec = SPEC.get_or_init(|| openapi().to_pretty_json().unwrap_or_default());
    ([(header::CONTENT_TYPE, "application/json")], spec.as_str()).into_response()
}

/// The offline API reference page.
pub async fn docs() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}

//! The administration endpoints: `POST /admin/reload`, and `/admin/cache`
//! to list, flush and warm the x5u cache.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{ApiError, Shared, json};

/// `POST /admin/reload`: reloads the credentials, trust anchors and CRLs as
/// SIGHUP does. Returns 200 when every step reloaded, else 500; either way
/// the body gives each step's result, and a failed step keeps the state it
/// would have replaced.
pub(super) async fn reload(State(state): State<Shared>) -> Response {
    let Some(reloader) = &state.reloader else {
        tracing::error!("POST /admin/reload: this server has no reload source");
        return ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "reload is not configured",
        )
        .into_response();
    };
    let report = crate::serve::reload_blocking(reloader, "POST /admin/reload").await;
    let status = if report.succeeded() {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    json(status, &serde_json::json!({ "reload": report }))
}

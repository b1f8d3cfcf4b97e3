//! The administration endpoints: `POST /admin/reload`, and `/admin/cache`
//! to list, flush and warm the x5u cache.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use certstore::Origin;

use super::{ApiError, Shared, json, read_body};
use crate::timearg;

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

/// URLs one `POST /admin/cache` may warm.
const MAX_WARM_URLS: usize = 100;

/// Names a certificate's tier of origin as the API reports it.
fn tier_name(origin: Origin) -> &'static str {
    match origin {
        Origin::Memory => "memory",
        Origin::Stale => "stale",
        Origin::Disk => "disk",
        Origin::Redis => "redis",
        Origin::Network => "network",
    }
}

/// `GET /admin/cache`: lists the entries of the x5u memory cache.
pub(super) async fn cache_list(State(state): State<Shared>) -> Response {
    let now = timearg::now();
    let entries: Vec<serde_json::Value> = state
        .cache
        .entries()
        .into_iter()
        .map(|entry| {
            serde_json::json!({
                "url": entry.url,
                "tier": tier_name(entry.origin),
                "fetchedAt": entry.fetched_at,
                "expiresAt": entry.expires_at,
                "fresh": now < entry.expires_at,
            })
        })
        .collect();
    json(
        StatusCode::OK,
        &serde_json::json!({ "count": entries.len(), "entries": entries }),
    )
}

/// `DELETE /admin/cache`: removes every entry of the memory cache and every
/// remembered fetch failure. Disk and Redis records stay, so a URL's next
/// lookup may be served from them.
pub(super) async fn cache_flush(State(state): State<Shared>) -> Response {
    let entries = state.cache.len();
    state.cache.clear();
    tracing::info!(entries, "x5u memory cache flushed by DELETE /admin/cache");
    json(
        StatusCode::OK,
        &serde_json::json!({ "flushed": { "tier": "memory", "entries": entries } }),
    )
}

/// `POST /admin/cache`: fetches the URLs of `{"urls":[...]}` into the cache
/// under the fetch policy, and returns each URL's result.
pub(super) async fn cache_warm(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    const PATH: &str = "/admin/cache";
    let bytes = match read_body(&headers, body).await {
        Ok(bytes) => bytes,
        Err(error) => return state.rejected(&Method::POST, PATH, error, None),
    };
    let urls = match warm_urls(&bytes) {
        Ok(urls) => urls,
        Err(error) => return state.rejected(&Method::POST, PATH, error, None),
    };

    let now = timearg::now();
    let mut lookups = tokio::task::JoinSet::new();
    for (index, url) in urls.iter().enumerate() {
        let (cache, url) = (state.cache.clone(), url.clone());
        lookups.spawn(async move { (index, cache.lookup(&url, now).await) });
    }
    let mut results: Vec<serde_json::Value> = vec![serde_json::Value::Null; urls.len()];
    let mut warmed = 0usize;
    while let Some(joined) = lookups.join_next().await {
        let Ok((index, outcome)) = joined else {
            continue;
        };
        let url = urls.get(index).cloned().unwrap_or_default();
        let result = match outcome {
            Ok(cached) => {
                warmed += 1;
                serde_json::json!({
                    "url": url,
                    "status": "cached",
                    "tier": tier_name(cached.info.origin),
                    "expiresAt": cached.info.lifetime.expires_at,
                })
            }
            Err(error) => {
                tracing::warn!(%url, %error, "x5u cache warm-up failed");
                serde_json::json!({ "url": url, "status": "failed", "error": error.to_string() })
            }
        };
        if let Some(slot) = results.get_mut(index) {
            *slot = result;
        }
    }
    json(
        StatusCode::OK,
        &serde_json::json!({ "warmed": warmed, "results": results }),
    )
}

/// Parses the body of `POST /admin/cache`: `{"urls":[...]}` with 1 to
/// [`MAX_WARM_URLS`] non-empty strings.
fn warm_urls(bytes: &[u8]) -> Result<Vec<String>, ApiError> {
    let invalid =
        |field: &str, rule: String| ApiError::new(StatusCode::BAD_REQUEST, Some(field), rule);
    let body: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|error| invalid("body", format!("must be JSON: {error}")))?;
    let Some(urls) = body.get("urls") else {
        return Err(invalid("urls", "required".to_owned()));
    };
    let Some(urls) = urls.as_array() else {
        return Err(invalid("urls", "must be an array of URLs".to_owned()));
    };
    if urls.is_empty() || urls.len() > MAX_WARM_URLS {
        return Err(invalid(
            "urls",
            format!("must hold 1 to {MAX_WARM_URLS} URLs"),
        ));
    }
    let mut parsed = Vec::with_capacity(urls.len());
    for (index, url) in urls.iter().enumerate() {
        match url.as_str() {
            Some(url) if !url.trim().is_empty() => parsed.push(url.trim().to_owned()),
            _ => {
                return Err(invalid(
                    &format!("urls[{index}]"),
                    "must be a non-empty string".to_owned(),
                ));
            }
        }
    }
    Ok(parsed)
}

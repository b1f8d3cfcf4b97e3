//! The HTTP API of `stird serve`: STI-AS signing and STI-VS verification over
//! JSON in the shape of the ATIS-1000082 interface, its OpenAPI document, and
//! the health, readiness and metrics endpoints, in one axum router.
//!
//! The handlers call the same services as the SIP listeners: [`AuthService`]
//! signs, [`service::verify_request`] verifies, under the same policy.

mod admin;
mod auth;
mod request;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};
use certstore::{CredentialStore, X5uCache};
use http_body_util::BodyExt;
use service::{
    AuthService, CertificateSource, SignError, SignRequest, Verdict, VerifyPolicy, VerifyRequest,
    Verstat,
};

pub use auth::{BearerToken, check_exposure};

use crate::timearg;

/// The OpenAPI 3 document of this API, served at `/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

/// Largest request body accepted, in bytes; a larger one gets 413. A signing
/// or verification request is well under 20 KiB even with an Identity header
/// of the maximum length `passport` accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Bytes of an oversized body read and discarded before the 413 response, so
/// that the client reads the response instead of a reset connection. A body
/// declared larger gets 413 before any of it is read.
const MAX_DRAIN_BYTES: usize = 1024 * 1024;

/// Time a client has to send the request body.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Rejection log lines written per second; the others are counted and the
/// count is logged with the next line written.
const LOG_LINES_PER_SECOND: u64 = 10;

/// State shared by the handlers: the services, the token and the health state.
pub struct ApiState {
    /// The signing service.
    pub auth: Option<AuthService>,
    /// The certificate source of verification.
    pub certificates: Option<Arc<dyn CertificateSource>>,
    /// The verification policy; its `now` is replaced by each request's time.
    pub verify: VerifyPolicy,
    /// The bearer token that `/stir/v1`, `/metrics` and `/admin` require, if
    /// any.
    pub token: Option<BearerToken>,
    /// Set once every listener is bound and the caches are warm.
    pub ready: Arc<AtomicBool>,
    /// The signing credentials, for `/metrics`.
    pub credentials: Arc<CredentialStore>,
    /// The published-chain check results, for `/metrics`.
    pub published: crate::metrics::Published,
    /// The SIP listeners, for their counters in `/metrics`.
    pub listeners: Vec<Arc<dyn sip::transport::Handler>>,
    /// The x5u cache, for `/metrics` and `/admin/cache`.
    pub cache: X5uCache,
    /// What `POST /admin/reload` runs; without it, the endpoint returns 500.
    pub reloader: Option<Arc<crate::reload::Reloader>>,
    log_limit: LogLimit,
}

impl ApiState {
    /// Creates the state over the SIP front end's services.
    pub fn new(
        services: &sip::redirect::Services,
        token: Option<BearerToken>,
        ready: Arc<AtomicBool>,
        credentials: Arc<CredentialStore>,
        published: crate::metrics::Published,
        cache: X5uCache,
        listeners: Vec<Arc<dyn sip::transport::Handler>>,
    ) -> Self {
        ApiState {
            listeners,
            auth: services.auth.clone(),
            certificates: services.certificates.clone(),
            verify: services.verify.clone(),
            token,
            ready,
            credentials,
            published,
            cache,
            reloader: None,
            log_limit: LogLimit::default(),
        }
    }

    /// Sets what `POST /admin/reload` runs.
    pub fn with_reloader(mut self, reloader: Arc<crate::reload::Reloader>) -> Self {
        self.reloader = Some(reloader);
        self
    }
}

type Shared = Arc<ApiState>;

/// Whether an endpoint requires the bearer token when one is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Open,
    Token,
}

/// Every endpoint: method, path, access and handler. The router is built from
/// this table, and a test compares it with the OpenAPI document.
fn endpoints() -> Vec<(Method, &'static str, Access, MethodRouter<Shared>)> {
    vec![
        (Method::GET, "/healthz", Access::Open, get(healthz)),
        (Method::GET, "/readyz", Access::Open, get(readyz)),
        (Method::GET, "/openapi.json", Access::Open, get(openapi)),
        (Method::GET, "/metrics", Access::Token, get(metrics)),
        (Method::POST, "/stir/v1/signing", Access::Token, post(sign)),
        (
            Method::POST,
            "/stir/v1/verification",
            Access::Token,
            post(verify),
        ),
        (
            Method::POST,
            "/admin/reload",
            Access::Token,
            post(admin::reload),
        ),
        (
            Method::GET,
            "/admin/cache",
            Access::Token,
            get(admin::cache_list),
        ),
        (
            Method::DELETE,
            "/admin/cache",
            Access::Token,
            delete(admin::cache_flush),
        ),
        (
            Method::POST,
            "/admin/cache",
            Access::Token,
            post(admin::cache_warm),
        ),
    ]
}

/// Builds the router: the endpoints of [`endpoints`], the token check on those
/// that require it, and JSON errors for unknown paths (404) and methods (405).
pub fn router(state: ApiState) -> Router {
    let state = Arc::new(state);
    let mut open = Router::new();
    let mut protected = Router::new();
    for (_, path, access, route) in endpoints() {
        match access {
            Access::Open => open = open.route(path, route),
            Access::Token => protected = protected.route(path, route),
        }
    }
    let protected = protected.route_layer(axum::middleware::from_fn_with_state(
        Arc::clone(&state),
        auth::require_token,
    ));
    open.merge(protected)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(observe))
        .with_state(state)
}

/// Request headers copied onto the response unchanged, in lowercase.
const REQUEST_ID_HEADERS: [&str; 2] = ["x-requestid", "x-instanceid"];

/// Returns the `'static` path of the endpoint whose pattern is `path`.
fn route_name(path: &str) -> Option<&'static str> {
    static ROUTES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    ROUTES
        .get_or_init(|| {
            endpoints()
                .into_iter()
                .map(|(_, path, _, _)| path)
                .collect()
        })
        .iter()
        .find(|known| **known == path)
        .copied()
}

/// Copies the request id headers onto the response. Counts each request in
/// `stird_http_requests_total` by route, method and status, and times it in `stird_http_request_duration_seconds` by route.
/// The route is the endpoint's path pattern, or `unmatched`, so a scan of
/// random paths adds no series.
async fn observe(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .and_then(|path| route_name(path.as_str()))
        .unwrap_or("unmatched");
    let method = match *request.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        _ => "other",
    };
    // Request ids some SBCs send (X-RequestID, X-InstanceID) come back on the
    // response, so that the caller can match it to its request.
    let ids: Vec<(header::HeaderName, HeaderValue)> = REQUEST_ID_HEADERS
        .iter()
        .filter_map(|name| {
            let value = request.headers().get(*name)?;
            Some((header::HeaderName::from_static(name), value.clone()))
        })
        .collect();

    let mut observation = Observation {
        route,
        method,
        started: std::time::Instant::now(),
        status: None,
    };
    let mut response = next.run(request).await;
    for (name, value) in ids {
        response.headers_mut().insert(name, value);
    }
    observation.status = Some(response.status());
    response
}

/// One API request being timed. It records when dropped, so a request whose
/// client disconnects before the response is counted with status `cancelled`.
struct Observation {
    route: &'static str,
    method: &'static str,
    started: std::time::Instant,
    status: Option<StatusCode>,
}

impl Drop for Observation {
    fn drop(&mut self) {
        let status = match self.status {
            Some(status) => status.as_u16().to_string(),
            None => "cancelled".to_owned(),
        };
        metrics::counter!(
            "stird_http_requests_total",
            "route" => self.route,
            "method" => self.method,
            "status" => status
        )
        .increment(1);
        metrics::histogram!("stird_http_request_duration_seconds", "route" => self.route)
            .record(self.started.elapsed().as_secs_f64());
    }
}

/// An error response: `{"error":{"field":...,"rule":...}}`.
#[derive(Debug, Clone)]
struct ApiError {
    status: StatusCode,
    /// The request field at fault; absent for errors of the request as a whole.
    field: Option<String>,
    rule: String,
}

impl ApiError {
    fn new(status: StatusCode, field: Option<&str>, rule: impl Into<String>) -> Self {
        ApiError {
            status,
            field: field.map(str::to_owned),
            rule: rule.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = serde_json::Map::new();
        if let Some(field) = self.field {
            error.insert("field".to_owned(), field.into());
        }
        error.insert("rule".to_owned(), self.rule.into());
        json(self.status, &serde_json::json!({ "error": error }))
    }
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn healthz() -> Response {
    text(StatusCode::OK, "ok\n")
}

async fn readyz(State(state): State<Shared>) -> Response {
    if state.ready.load(Ordering::SeqCst) {
        text(StatusCode::OK, "ready\n")
    } else {
        text(StatusCode::SERVICE_UNAVAILABLE, "starting\n")
    }
}

async fn openapi() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        OPENAPI_JSON,
    )
        .into_response()
}

async fn metrics(State(state): State<Shared>) -> Response {
    let body = crate::metrics::render(
        &state.credentials,
        &state.published,
        &state.cache,
        &state.listeners,
        timearg::now(),
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        body,
    )
        .into_response()
}

async fn not_found(State(state): State<Shared>, method: Method, uri: axum::http::Uri) -> Response {
    let error = ApiError::new(StatusCode::NOT_FOUND, Some("path"), "no such endpoint");
    state.log_rejected(&method, uri.path(), &error, Some(uri.path()));
    error.into_response()
}

async fn method_not_allowed(
    State(state): State<Shared>,
    method: Method,
    uri: axum::http::Uri,
) -> Response {
    let allowed: Vec<String> = endpoints()
        .into_iter()
        .filter(|(_, path, _, _)| *path == uri.path())
        .map(|(method, _, _, _)| method.to_string())
        .collect();
    let error = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        Some("method"),
        format!("{} only", allowed.join(", ")),
    );
    state.log_rejected(&method, uri.path(), &error, Some(method.as_str()));
    let mut response = error.into_response();
    if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

/// `POST /stir/v1/signing`: signs a SHAKEN PASSporT for the call.
async fn sign(State(state): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    const PATH: &str = "/stir/v1/signing";
    let now = timearg::now();
    let bytes = match read_body(&headers, body).await {
        Ok(bytes) => bytes,
        Err(error) => return state.rejected(&Method::POST, PATH, error, None),
    };
    let signing = match request::signing(&bytes, now) {
        Ok(signing) => signing,
        Err(invalid) => return state.invalid(PATH, invalid),
    };
    let Some(auth) = &state.auth else {
        return not_configured("signing");
    };

    let sign_request = SignRequest {
        orig: signing.orig.clone(),
        dest: signing.dest.clone(),
        // TODO: accept a trunk or customer id, so that credentials selected
        // by trunk sign over the API as they do over SIP.
        trunk: None,
        attest: signing.attest,
        origid: signing.origid.clone(),
        iat: signing.iat,
    };
    match auth.sign(&sign_request) {
        Ok(signed) => {
            if let Some(requested) = signed.capped_from {
                tracing::info!(
                    credential = %signed.credential,
                    %requested,
                    signed = %signed.attestation,
                    origid = %signed.origid,
                    "attestation capped by the credential's policy"
                );
            }
            json(
                StatusCode::OK,
                &serde_json::json!({ "signingResponse": { "identity": signed.identity } }),
            )
        }
        Err(error) => state.sign_failed(&signing, error),
    }
}

/// `POST /stir/v1/verification`: verifies the Identity header values against
/// the call's numbers at the call's time.
async fn verify(State(state): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    const PATH: &str = "/stir/v1/verification";
    let now = timearg::now();
    let bytes = match read_body(&headers, body).await {
        Ok(bytes) => bytes,
        Err(error) => return state.rejected(&Method::POST, PATH, error, None),
    };
    let verification = match request::verification(&bytes, now, &state.verify.options.numbers) {
        Ok(verification) => verification,
        Err(invalid) => return state.invalid(PATH, invalid),
    };
    let Some(certificates) = &state.certificates else {
        return not_configured("verification");
    };

    let mut policy = state.verify.clone();
    policy.options.now = verification.time;
    policy.require_identity = false;
    // Every called number must be covered: the first failure is the verdict.
    let mut verdict: Option<Verdict> = None;
    for to in &verification.to {
        let verify_request = VerifyRequest {
            identities: verification.identities.clone(),
            orig: Some(verification.from.clone()),
            to: Some(to.clone()),
            request_uri: None,
            date: Some(verification.time),
        };
        let result = service::verify_request(&verify_request, certificates.as_ref(), &policy).await;
        let passed = result.verstat == Verstat::TnValidationPassed;
        verdict = Some(result);
        if !passed {
            break;
        }
    }
    let Some(verdict) = verdict else {
        // The request parser returns at least one called number.
        let error = ApiError::new(
            StatusCode::BAD_REQUEST,
            Some("verificationRequest.to.tn"),
            "required",
        );
        return state.rejected(&Method::POST, PATH, error, None);
    };
    service::record_verdict(&verdict);
    if let Some(failure) = &verdict.failure
        && let Some(suppressed) = state.log_limit.allow()
    {
        tracing::warn!(
            from = %verification.from,
            to = ?verification.to,
            check = %failure.check,
            code = failure.response.code,
            reason = %failure.reason,
            suppressed,
            "verification failed"
        );
    }
    json(StatusCode::OK, &verification_response(&verdict))
}

/// Responds 500 to a request for a service that `stird serve` did not set up,
/// which its configuration loader prevents.
fn not_configured(service: &str) -> Response {
    tracing::error!(%service, "API request for a service that is not configured");
    let rule = format!("{service} is not configured");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, None, rule).into_response()
}

/// Builds the `verificationResponse`: the verstat, the attestation and origid
/// of a verified PASSporT, and for a failure its SIP code and reason phrase,
/// the check that failed and a description naming the offending value.
fn verification_response(verdict: &Verdict) -> serde_json::Value {
    let mut response = serde_json::Map::new();
    response.insert("verstat".to_owned(), verdict.verstat.as_str().into());
    if verdict.verstat == Verstat::TnValidationPassed {
        if let Some(attestation) = verdict.attestation {
            response.insert("attest".to_owned(), attestation.to_string().into());
        }
        if let Some(origid) = &verdict.origid {
            response.insert("origid".to_owned(), origid.clone().into());
        }
    }
    if let Some(failure) = &verdict.failure {
        response.insert("reasonCode".to_owned(), failure.response.code.into());
        response.insert("reasonText".to_owned(), failure.response.reason.into());
        // Several causes share a SIP code, so the check and the detail tell them apart.
        response.insert("failedCheck".to_owned(), failure.check.name().into());
        response.insert("reasonDetail".to_owned(), failure.reason.clone().into());
    }
    serde_json::json!({ "verificationResponse": response })
}

impl ApiState {
    /// Maps a signing failure to its response.
    fn sign_failed(&self, signing: &request::Signing, error: SignError) -> Response {
        const PATH: &str = "/stir/v1/signing";
        let invalid = |field: String, rule: String, value: &str| request::Invalid {
            field,
            rule,
            value: Some(request::excerpt(value)),
        };
        match error {
            SignError::InvalidOrig { value, reason } => self.invalid(
                PATH,
                invalid(
                    "signingRequest.orig.tn".to_owned(),
                    format!("must be a telephone number: {reason}"),
                    &value,
                ),
            ),
            SignError::InvalidDest { value, reason } => {
                let index = signing.dest.iter().position(|d| *d == value).unwrap_or(0);
                self.invalid(
                    PATH,
                    invalid(
                        format!("signingRequest.dest.tn[{index}]"),
                        format!("must be a telephone number: {reason}"),
                        &value,
                    ),
                )
            }
            SignError::NoDest => self.invalid(
                PATH,
                request::Invalid {
                    field: "signingRequest.dest.tn".to_owned(),
                    rule: "required".to_owned(),
                    value: None,
                },
            ),
            SignError::NoCredential { orig, .. } => {
                let error = ApiError::new(
                    StatusCode::FORBIDDEN,
                    Some("signingRequest.orig.tn"),
                    "no signing credential is configured for this calling number",
                );
                self.rejected(&Method::POST, PATH, error, Some(&orig))
            }
            error @ (SignError::Signing(_) | SignError::Random) => {
                tracing::error!(%error, orig = %signing.orig, "signing failed");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, None, "signing failed")
                    .into_response()
            }
        }
    }

    /// Rejects a request body that broke a rule with 400.
    fn invalid(&self, path: &str, invalid: request::Invalid) -> Response {
        let error = ApiError::new(StatusCode::BAD_REQUEST, Some(&invalid.field), invalid.rule);
        self.rejected(&Method::POST, path, error, invalid.value.as_deref())
    }

    /// Logs a rejected request, rate-limited, and returns its response.
    fn rejected(
        &self,
        method: &Method,
        path: &str,
        error: ApiError,
        value: Option<&str>,
    ) -> Response {
        self.log_rejected(method, path, &error, value);
        error.into_response()
    }

    fn log_rejected(&self, method: &Method, path: &str, error: &ApiError, value: Option<&str>) {
        if let Some(suppressed) = self.log_limit.allow() {
            tracing::warn!(
                %method,
                path = %request::excerpt(path),
                status = error.status.as_u16(),
                field = error.field.as_deref().unwrap_or(""),
                value = value.map(request::excerpt).as_deref().unwrap_or("(missing)"),
                rule = %printable(&error.rule),
                suppressed,
                "API request rejected"
            );
        }
    }
}

/// Escapes the control characters of `text`, which may quote a request
/// value, so that a log line stays one line.
fn printable(text: &str) -> String {
    text.chars()
        .map(|character| {
            if character.is_control() {
                character.escape_debug().to_string()
            } else {
                character.to_string()
            }
        })
        .collect()
}

/// Reads a request body of at most [`MAX_BODY_BYTES`] within [`BODY_TIMEOUT`].
/// A declared media type other than JSON gets 415; a request without one is
/// read as JSON, as some SBCs send none. An Accept header that admits no JSON
/// response gets 406.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    if headers.contains_key(header::ACCEPT) && !accepts_json(headers.get_all(header::ACCEPT).iter())
    {
        return Err(ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            Some("Accept"),
            "must admit application/json",
        ));
    }
    if let Some(value) = headers.get(header::CONTENT_TYPE)
        && !is_json(value)
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some("Content-Type"),
            "must be application/json",
        ));
    }
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("body"),
            format!("must be at most {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_DRAIN_BYTES as u64) {
        return Err(too_large());
    }

    let read = async {
        let mut body = body;
        let mut bytes = Vec::new();
        let mut received = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|error| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    Some("body"),
                    format!("could not be read: {error}"),
                )
            })?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            received = received.saturating_add(data.len());
            if received > MAX_DRAIN_BYTES {
                break;
            }
            if received <= MAX_BODY_BYTES {
                bytes.extend_from_slice(&data);
            }
        }
        if received > MAX_BODY_BYTES {
            return Err(too_large());
        }
        Ok(Bytes::from(bytes))
    };
    match tokio::time::timeout(BODY_TIMEOUT, read).await {
        Ok(result) => result,
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            Some("body"),
            format!("not received within {} s", BODY_TIMEOUT.as_secs()),
        )),
    }
}

/// Returns whether the Accept header lines admit `application/json`, by the
/// rules of RFC 9110 section 12.5.1. The most specific matching range
/// decides (`application/json`, then `application/*`, then `*/*`), and its
/// `q` must be above 0. Empty list elements and ranges with an invalid `q`
/// are ignored. A line that is not visible ASCII admits JSON, so the request
/// is still processed.
fn accepts_json<'a>(lines: impl Iterator<Item = &'a HeaderValue>) -> bool {
    // The specificity and the highest q among ranges of that specificity.
    let mut best: Option<(u8, f32)> = None;
    for line in lines {
        let Ok(line) = line.to_str() else {
            return true;
        };
        for range in line.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let specificity = match media.as_str() {
                "application/json" => 3,
                "application/*" => 2,
                "*/*" => 1,
                _ => continue,
            };
            let mut q = Some(1.0f32);
            for parameter in parts {
                let parameter = parameter.trim().to_ascii_lowercase();
                if let Some(value) = parameter.strip_prefix("q=") {
                    q = value
                        .trim()
                        .parse::<f32>()
                        .ok()
                        .filter(|q| (0.0..=1.0).contains(q));
                }
            }
            let Some(q) = q else {
                continue;
            };
            best = match best {
                Some((kept, kept_q)) if kept > specificity => Some((kept, kept_q)),
                Some((kept, kept_q)) if kept == specificity => Some((kept, kept_q.max(q))),
                _ => Some((specificity, q)),
            };
        }
    }
    best.is_some_and(|(_, q)| q > 0.0)
}

/// Reports whether a Content-Type names JSON: `application/json` or a
/// `+json` type, with any parameters.
fn is_json(value: &HeaderValue) -> bool {
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A limit on log lines per second, counting the lines it drops.
#[derive(Debug, Default)]
struct LogLimit {
    /// The current second, lines written in it, and lines dropped since the
    /// last one written.
    window: Mutex<(u64, u64, u64)>,
}

impl LogLimit {
    /// Returns the number of lines dropped since the last one written when a
    /// line may be written now, or `None` when this one is dropped.
    fn allow(&self) -> Option<u64> {
        let second = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs())
            .unwrap_or(0);
        let mut window = match self.window.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (current, written, dropped) = &mut *window;
        if *current != second {
            *current = second;
            *written = 0;
        }
        if *written >= LOG_LINES_PER_SECOND {
            *dropped += 1;
            return None;
        }
        *written += 1;
        Some(std::mem::take(dropped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_header_cases() {
        let admits = |lines: &[&str]| {
            let values: Vec<HeaderValue> = lines
                .iter()
                .map(|line| HeaderValue::from_str(line).unwrap())
                .collect();
            accepts_json(values.iter())
        };
        for lines in [
            &["application/json"][..],
            &["*/*"],
            &["Application/JSON; charset=utf-8"],
            &["text/plain, application/*;q=0.5"],
            &["text/html", "application/json"],
            &["application/json;q=0.001, */*;q=0"],
            &["application/json;q=nan, application/*"],
        ] {
            assert!(admits(lines), "{lines:?}");
        }
        for lines in [
            &["text/plain"][..],
            &["text/html,"],
            &["application/json;q=0, */*"],
            &["application/xml, text/*"],
            &["application/json;q=2"],
            &["*/*;q=0"],
        ] {
            assert!(!admits(lines), "{lines:?}");
        }
    }

    /// Returns the (method, path) pairs of the OpenAPI document.
    fn documented() -> Vec<(String, String)> {
        let document: serde_json::Value = serde_json::from_str(OPENAPI_JSON).unwrap();
        let mut pairs = Vec::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if matches!(
                    method.as_str(),
                    "get" | "put" | "post" | "delete" | "options" | "head" | "patch" | "trace"
                ) {
                    pairs.push((method.to_ascii_uppercase(), path.clone()));
                }
            }
        }
        pairs.sort();
        pairs
    }

    #[test]
    fn document_lists_every_endpoint() {
        let mut served: Vec<(String, String)> = endpoints()
            .into_iter()
            .map(|(method, path, _, _)| (method.to_string(), path.to_owned()))
            .collect();
        served.sort();
        assert_eq!(served, documented());
    }

    #[test]
    fn protected_endpoints_document_401() {
        let document: serde_json::Value = serde_json::from_str(OPENAPI_JSON).unwrap();
        for (method, path, access, _) in endpoints() {
            let operation = &document["paths"][path][method.as_str().to_ascii_lowercase()];
            let documents_401 = operation["responses"].get("401").is_some();
            assert_eq!(documents_401, access == Access::Token, "{method} {path}");
        }
    }

    #[test]
    fn json_media_types() {
        for (value, expected) in [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            ("application/problem+json", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
        ] {
            assert_eq!(
                is_json(&HeaderValue::from_static(value)),
                expected,
                "{value}"
            );
        }
    }

    #[test]
    fn control_characters_escaped() {
        assert_eq!(
            printable("character '\n' is \"x\""),
            "character '\\n' is \"x\""
        );
    }

    #[test]
    fn log_limit_counts_dropped_lines() {
        let limit = LogLimit::default();
        let allowed = (0..100).filter(|_| limit.allow().is_some()).count();
        // The second may turn during the loop, which allows one more window.
        assert!((10..=20).contains(&allowed), "{allowed}");
    }
}

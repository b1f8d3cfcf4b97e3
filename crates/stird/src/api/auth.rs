//! Bearer-token authentication of the API (RFC 6750) and the rule that keeps
//! the API on loopback unless it is protected.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::digest::{SHA256, digest};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, ApiState};

/// Minimum length of a token, in characters: 16 characters of the base64
/// alphabet carry 96 bits, beyond guessing over a network.
pub const MIN_TOKEN_CHARS: usize = 16;

/// A bearer token, kept as its SHA-256 digest so that a comparison takes the
/// same time whatever the length and content of the token presented.
#[derive(Clone)]
pub struct BearerToken {
    digest: [u8; 32],
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(..)")
    }
}

impl BearerToken {
    /// Reads the token from `path`: the file's content without surrounding
    /// whitespace, at least [`MIN_TOKEN_CHARS`] visible ASCII characters. The
    /// file must not be readable by group or others, as for signing keys.
    pub fn read(path: &Path) -> Result<BearerToken, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("[api] token_file {}: {error}", path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|error| format!("[api] token_file {}: {error}", path.display()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(format!(
                    "[api] token_file {} is readable by group or others (mode {:o}): run chmod 600 on it",
                    path.display(),
                    mode & 0o777
                ));
            }
        }
        BearerToken::new(text.trim())
            .map_err(|rule| format!("[api] token_file {}: the token {rule}", path.display()))
    }

    /// Creates a token from its text, which must be at least
    /// [`MIN_TOKEN_CHARS`] visible ASCII characters.
    pub fn new(token: &str) -> Result<BearerToken, String> {
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("must be visible ASCII characters without spaces".to_owned());
        }
        if token.len() < MIN_TOKEN_CHARS {
            return Err(format!(
                "has {} characters; use at least {MIN_TOKEN_CHARS}",
                token.len()
            ));
        }
        Ok(BearerToken {
            digest: sha256(token.as_bytes()),
        })
    }

    /// Compares `presented` with the token in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(
            &self.digest,
            &sha256(presented.as_bytes()),
        )
        .is_ok()
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, bytes).as_ref());
    out
}

/// Checks that the API may listen on `bind`: loopback always; any other
/// address only with `allow_remote` and a token.
pub fn check_exposure(
    bind: SocketAddr,
    allow_remote: bool,
    token: Option<&BearerToken>,
) -> Result<(), String> {
    if bind.ip().to_canonical().is_loopback() {
        return Ok(());
    }
    match (allow_remote, token) {
        (true, Some(_)) => Ok(()),
        (false, _) => Err(format!(
            "[api] bind = '{bind}' is not a loopback address: set [api] allow_remote = true \
             and token_file to serve the API on other addresses"
        )),
        (true, None) => Err(format!(
            "[api] bind = '{bind}' with allow_remote needs authentication: set [api] token_file"
        )),
    }
}

/// Middleware: with a token configured, requires `Authorization: Bearer
/// <token>` and responds 401 otherwise.
pub async fn require_token(
    State(state): State<Arc<ApiState>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = &state.token else {
        return next.run(request).await;
    };
    let rule = match request.headers().get(header::AUTHORIZATION) {
        None => "required: Bearer followed by the API token",
        Some(value) => match bearer(value) {
            Some(presented) if token.matches(presented) => return next.run(request).await,
            Some(_) => "the bearer token is not valid",
            None => "must use the Bearer scheme",
        },
    };
    let error = ApiError::new(StatusCode::UNAUTHORIZED, Some("Authorization"), rule);
    // The header's value is never logged: it may hold a valid token of
    // another service.
    state.log_rejected(request.method(), request.uri().path(), &error, None);
    let mut response = error.into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"stird\""),
    );
    response
}

/// Returns the token of an `Authorization: Bearer <token>` value; the scheme
/// name is case-insensitive (RFC 9110 section 11.1).
fn bearer(value: &HeaderValue) -> Option<&str> {
    let value = value.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_compared_whole() {
        let token = BearerToken::new("0123456789abcdef").unwrap();
        assert!(token.matches("0123456789abcdef"));
        assert!(!token.matches("0123456789abcde"));
        assert!(!token.matches("0123456789abcdefg"));
        assert!(!token.matches(""));
    }

    #[test]
    fn short_or_spaced_token_rejected() {
        assert!(
            BearerToken::new("short")
                .unwrap_err()
                .contains("at least 16")
        );
        assert!(
            BearerToken::new("0123456789 abcdef")
                .unwrap_err()
                .contains("without spaces")
        );
    }

    #[test]
    fn bearer_scheme_parsed() {
        let parse = |text: &'static str| bearer(&HeaderValue::from_static(text)).map(str::to_owned);
        assert_eq!(parse("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(parse("bearer  abc ").as_deref(), Some("abc"));
        assert_eq!(parse("Basic abc"), None);
        assert_eq!(parse("Bearer"), None);
    }

    #[test]
    fn remote_bind_needs_setting_and_token() {
        let token = BearerToken::new("0123456789abcdef").unwrap();
        let loopback: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:8080".parse().unwrap();
        let remote: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert_eq!(check_exposure(loopback, false, None), Ok(()));
        assert_eq!(check_exposure(mapped, false, None), Ok(()));
        assert_eq!(
            check_exposure("[::1]:8080".parse().unwrap(), false, None),
            Ok(())
        );
        assert!(
            check_exposure(remote, false, Some(&token))
                .unwrap_err()
                .contains("allow_remote = true")
        );
        assert!(
            check_exposure(remote, true, None)
                .unwrap_err()
                .contains("token_file")
        );
        assert_eq!(check_exposure(remote, true, Some(&token)), Ok(()));
    }
}

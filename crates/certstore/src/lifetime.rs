//! How long a fetched certificate chain stays cached.
//!
//! The HTTP freshness lifetime (RFC 9111 section 4.2.1: `s-maxage`, then
//! `max-age`, then `Expires` minus `Date`) is raised to a floor, because
//! ATIS-1000074 expects verifiers to keep a certificate for at least 24 hours
//! rather than fetch it for every call, capped by a configured ceiling, and
//! never runs past the notAfter of any certificate on the path.

/// Seconds in a day: the default floor.
pub const DAY: u64 = 86_400;

/// The bounds applied to HTTP freshness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifetimeBounds {
    /// Minimum lifetime, whatever the response headers give.
    pub floor: u64,
    /// Maximum lifetime, whatever the response headers give.
    pub ceiling: u64,
}

impl Default for LifetimeBounds {
    fn default() -> Self {
        LifetimeBounds {
            floor: DAY,
            ceiling: 7 * DAY,
        }
    }
}

/// The caching headers of a response, as received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheHeaders {
    /// `Cache-Control`, several header lines joined with commas.
    pub cache_control: Option<String>,
    /// `Expires`.
    pub expires: Option<String>,
    /// `Date`.
    pub date: Option<String>,
    /// `Age`.
    pub age: Option<String>,
}

/// A cache lifetime and the reason for it, for logs and `stird x5u`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifetime {
    /// When the entry stops being fresh, Unix seconds.
    pub expires_at: i64,
    /// Why: which header set it and which bound changed it.
    pub reason: String,
}

impl Lifetime {
    /// Seconds from `now` until the entry stops being fresh.
    pub fn remaining(&self, now: i64) -> u64 {
        u64::try_from(self.expires_at.saturating_sub(now)).unwrap_or(0)
    }
}

/// Returns the freshness the response headers give, in seconds, and the header
/// that set it.
fn http_freshness(headers: &CacheHeaders) -> Option<(u64, String)> {
    let age = headers
        .age
        .as_deref()
        .and_then(|a| a.trim().parse::<u64>().ok())
        .unwrap_or(0);
    if let Some(control) = &headers.cache_control {
        let mut max_age = None;
        let mut s_maxage = None;
        let mut no_store = false;
        for directive in control.split(',') {
            let directive = directive.trim();
            let (name, value) = match directive.split_once('=') {
                Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
                None => (directive, None),
            };
            let seconds = || value.and_then(|v| v.parse::<u64>().ok());
            match name.to_ascii_lowercase().as_str() {
                "s-maxage" => s_maxage = seconds(),
                "max-age" => max_age = seconds(),
                "no-store" | "no-cache" => no_store = true,
                _ => {}
            }
        }
        if no_store {
            return Some((0, format!("Cache-Control '{}'", control.trim())));
        }
        if let Some(seconds) = s_maxage {
            return Some((seconds.saturating_sub(age), format!("s-maxage={seconds}")));
        }
        if let Some(seconds) = max_age {
            return Some((seconds.saturating_sub(age), format!("max-age={seconds}")));
        }
    }
    let expires = headers.expires.as_deref()?;
    // An Expires that does not parse means "already expired" (RFC 9111 section
    // 5.3).
    let Ok(expires_at) = httpdate::parse_http_date(expires.trim()) else {
        return Some((0, format!("Expires '{}', not a date", expires.trim())));
    };
    let date = headers
        .date
        .as_deref()
        .and_then(|d| httpdate::parse_http_date(d.trim()).ok())?;
    let seconds = expires_at
        .duration_since(date)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Some((seconds.saturating_sub(age), "Expires minus Date".to_owned()))
}

/// Decides how long a chain fetched at `now` is kept, given the response's
/// caching headers and the path's earliest notAfter.
pub fn lifetime(
    headers: &CacheHeaders,
    bounds: LifetimeBounds,
    now: i64,
    not_after: i64,
) -> Lifetime {
    let (seconds, mut reason) = match http_freshness(headers) {
        Some((seconds, source)) => (seconds, format!("{source} gives {}", duration(seconds))),
        None => (0, "no caching headers".to_owned()),
    };
    let bounded = if seconds < bounds.floor {
        reason.push_str(&format!(
            ", raised to the floor of {}",
            duration(bounds.floor)
        ));
        bounds.floor
    } else if seconds > bounds.ceiling {
        reason.push_str(&format!(
            ", capped at the ceiling of {}",
            duration(bounds.ceiling)
        ));
        bounds.ceiling
    } else {
        seconds
    };
    let mut expires_at = now.saturating_add(i64::try_from(bounded).unwrap_or(i64::MAX));
    if not_after < expires_at {
        expires_at = not_after.max(now);
        reason.push_str(", cut short at the certificate's notAfter");
    }
    Lifetime { expires_at, reason }
}

/// Formats seconds the way operators read them: `86400 s (24 h)`.
pub fn duration(seconds: u64) -> String {
    if seconds >= 3600 && seconds.is_multiple_of(3600) {
        format!("{seconds} s ({} h)", seconds / 3600)
    } else if seconds >= 60 && seconds.is_multiple_of(60) {
        format!("{seconds} s ({} min)", seconds / 60)
    } else {
        format!("{seconds} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;
    const FAR: i64 = NOW + 365 * 86_400;

    fn control(value: &str) -> CacheHeaders {
        CacheHeaders {
            cache_control: Some(value.to_owned()),
            ..CacheHeaders::default()
        }
    }

    fn seconds(headers: &CacheHeaders) -> i64 {
        lifetime(headers, LifetimeBounds::default(), NOW, FAR).expires_at - NOW
    }

    #[test]
    fn floor_applies_to_short_or_missing_freshness() {
        assert_eq!(seconds(&CacheHeaders::default()), 86_400);
        assert_eq!(seconds(&control("max-age=60")), 86_400);
        assert_eq!(seconds(&control("no-store")), 86_400);
        assert_eq!(seconds(&control("no-cache, max-age=600000")), 86_400);
    }

    #[test]
    fn longer_freshness_is_kept_up_to_the_ceiling() {
        assert_eq!(seconds(&control("public, max-age=172800")), 172_800);
        assert_eq!(seconds(&control("max-age=\"172800\"")), 172_800);
        assert_eq!(seconds(&control("max-age=99999999")), 7 * 86_400);
        // s-maxage is for shared caches, and wins over max-age.
        assert_eq!(seconds(&control("max-age=90000, s-maxage=200000")), 200_000);
    }

    #[test]
    fn age_is_subtracted() {
        let headers = CacheHeaders {
            cache_control: Some("max-age=200000".to_owned()),
            age: Some("100000".to_owned()),
            ..CacheHeaders::default()
        };
        assert_eq!(seconds(&headers), 100_000);
    }

    #[test]
    fn expires_minus_date() {
        let headers = CacheHeaders {
            expires: Some("Thu, 03 Dec 2026 00:00:00 GMT".to_owned()),
            date: Some("Tue, 01 Dec 2026 00:00:00 GMT".to_owned()),
            ..CacheHeaders::default()
        };
        assert_eq!(seconds(&headers), 2 * 86_400);
        let invalid = CacheHeaders {
            expires: Some("0".to_owned()),
            ..CacheHeaders::default()
        };
        let result = lifetime(&invalid, LifetimeBounds::default(), NOW, FAR);
        assert_eq!(result.expires_at - NOW, 86_400);
        assert!(result.reason.contains("not a date"), "{}", result.reason);
    }

    #[test]
    fn never_past_not_after() {
        let result = lifetime(
            &control("max-age=172800"),
            LifetimeBounds::default(),
            NOW,
            NOW + 3600,
        );
        assert_eq!(result.expires_at, NOW + 3600);
        assert!(result.reason.contains("notAfter"), "{}", result.reason);
    }
}

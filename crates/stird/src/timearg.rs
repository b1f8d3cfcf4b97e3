//! Time arguments: Unix seconds or RFC 3339.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::InputError;

/// Parses `--at` and `--iat` values: Unix seconds (`1796396400`) or an RFC 3339
/// timestamp (`2026-12-04T15:00:00Z`).
pub fn parse(text: &str, option: &str) -> Result<i64, InputError> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(seconds);
    }
    OffsetDateTime::parse(text, &Rfc3339)
        .map(OffsetDateTime::unix_timestamp)
        .map_err(|error| {
            InputError(format!(
                "{option} '{text}' is neither Unix seconds nor an RFC 3339 time ({error})"
            ))
        })
}

/// Returns the current time in Unix seconds.
pub fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Formats Unix seconds as an RFC 3339 UTC time, or "out of range".
pub fn format_utc(seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|time| time.format(&Rfc3339).ok())
        .unwrap_or_else(|| "out of range".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_and_rfc3339_agree() {
        assert_eq!(parse("1796396400", "--at").unwrap(), 1_796_396_400);
        assert_eq!(
            parse("2026-12-04T15:00:00Z", "--at").unwrap(),
            1_796_396_400
        );
        assert_eq!(
            parse("2026-12-04T16:00:00+01:00", "--at").unwrap(),
            1_796_396_400
        );
        assert_eq!(format_utc(1_796_396_400), "2026-12-04T15:00:00Z");
    }

    #[test]
    fn bad_time_named() {
        let error = parse("yesterday", "--iat").unwrap_err();
        assert!(
            error.0.starts_with("--iat 'yesterday' is neither"),
            "{}",
            error.0
        );
    }
}

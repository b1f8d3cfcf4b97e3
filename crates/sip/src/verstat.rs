//! The `verstat` parameter of 3GPP TS 24.229 section 7.2A.20 in
//! P-Asserted-Identity and From header values.
//!
//! In a `sip:` or `sips:` URI, `verstat` is a parameter of the telephone-subscriber
//! user part (`<sip:+12025550100;verstat=TN-Validation-Passed@example.com;user=phone>`);
//! in a `tel:` URI it is an ordinary parameter. Any `verstat` already present is
//! removed first: a value from an upstream peer is not ours to pass on.

/// Returns `value` (a name-addr or addr-spec header value) with its URI carrying
/// `verstat`.
pub fn with_verstat(value: &str, verstat: &str) -> String {
    let trimmed = value.trim();
    match bracketed(trimmed) {
        Some((start, end)) => {
            let uri = trimmed.get(start..end).unwrap_or_default();
            format!(
                "{}{}{}",
                trimmed.get(..start).unwrap_or_default(),
                uri_with_verstat(uri, verstat),
                without_verstat_params(trimmed.get(end..).unwrap_or_default())
            )
        }
        None => {
            // Without angle brackets, parameters after the URI belong to the
            // header (RFC 3261 section 20.10), so the URI is rewritten inside
            // brackets and those parameters kept after it.
            let (uri, header_params) = split_bare(trimmed);
            format!(
                "<{}>{}",
                uri_with_verstat(uri, verstat),
                without_verstat_params(header_params)
            )
        }
    }
}

/// Returns `value` without any `verstat` parameter, unchanged when it has
/// none.
pub(crate) fn without_verstat(value: &str) -> String {
    const MARK: &str = "stird-removed";
    if !value.to_ascii_lowercase().contains("verstat") {
        return value.to_owned();
    }
    with_verstat(value, MARK).replacen(&format!(";verstat={MARK}"), "", 1)
}

/// Finds the URI between angle brackets, skipping a quoted display name whose
/// quotes may hide `<` and `>`.
fn bracketed(value: &str) -> Option<(usize, usize)> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (index, c) in value.char_indices() {
        if in_quotes {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_quotes = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            '<' => {
                let start = index + 1;
                let end = value.get(start..)?.find('>')? + start;
                return Some((start, end));
            }
            _ => {}
        }
    }
    None
}

/// Splits a bare addr-spec from the header parameters after it.
fn split_bare(value: &str) -> (&str, &str) {
    let scheme_end = value.find(':').map_or(0, |i| i + 1);
    // In a sip URI the user part may hold parameters; header parameters start
    // at the first ';' after the host.
    let search_from = match value.get(..4).map(str::to_ascii_lowercase).as_deref() {
        Some("sip:") | Some("sips") => value.find('@').map_or(scheme_end, |i| i + 1),
        _ => scheme_end,
    };
    match value.get(search_from..).and_then(|rest| rest.find(';')) {
        Some(offset) => value.split_at(search_from + offset),
        None => (value, ""),
    }
}

fn uri_with_verstat(uri: &str, verstat: &str) -> String {
    let lower = uri.to_ascii_lowercase();
    if lower.starts_with("tel:") {
        let mut parts = uri.split(';');
        let number = parts.next().unwrap_or_default();
        let mut out = number.to_owned();
        for param in parts.filter(|p| !is_verstat(p)) {
            out.push(';');
            out.push_str(param);
        }
        out.push_str(";verstat=");
        out.push_str(verstat);
        return out;
    }
    let scheme_end = uri.find(':').map_or(0, |i| i + 1);
    match uri.get(scheme_end..).and_then(|rest| rest.find('@')) {
        Some(offset) => {
            let at = scheme_end + offset;
            let user = uri.get(scheme_end..at).unwrap_or_default();
            let mut parts = user.split(';');
            let mut out = uri.get(..scheme_end).unwrap_or_default().to_owned();
            out.push_str(parts.next().unwrap_or_default());
            for param in parts.filter(|p| !is_verstat(p)) {
                out.push(';');
                out.push_str(param);
            }
            out.push_str(";verstat=");
            out.push_str(verstat);
            // A verstat among the URI parameters after the host goes too.
            out.push_str(&without_verstat_params(uri.get(at..).unwrap_or_default()));
            out
        }
        // No user part, as in an anonymous URI: a URI parameter instead.
        None => {
            let mut parts = uri.split(';');
            let mut out = parts.next().unwrap_or_default().to_owned();
            for param in parts.filter(|p| !is_verstat(p)) {
                out.push(';');
                out.push_str(param);
            }
            out.push_str(";verstat=");
            out.push_str(verstat);
            out
        }
    }
}

/// Drops `verstat` parameters from text of the form `head;param;param`, keeping
/// the head and the other parameters.
fn without_verstat_params(text: &str) -> String {
    let mut parts = text.split(';');
    let mut out = parts.next().unwrap_or_default().to_owned();
    for param in parts.filter(|p| !is_verstat(p)) {
        out.push(';');
        out.push_str(param);
    }
    out
}

/// Returns the first entry of a header value that may list several, separated
/// by commas outside quotes and angle brackets (RFC 3261 section 7.3.1).
pub fn first_value(value: &str) -> &str {
    crate::redirect::split_first_entry(value).0
}

fn is_verstat(param: &str) -> bool {
    param
        .split('=')
        .next()
        .is_some_and(|name| name.trim().eq_ignore_ascii_case("verstat"))
}

#[cfg(test)]
mod tests {
    use super::with_verstat;

    const PASSED: &str = "TN-Validation-Passed";

    #[test]
    fn sip_uri_user_part() {
        assert_eq!(
            with_verstat("<sip:+12025550100@example.com;user=phone>", PASSED),
            "<sip:+12025550100;verstat=TN-Validation-Passed@example.com;user=phone>"
        );
        assert_eq!(
            with_verstat(
                "\"Alice <A>\" <sip:+12025550100;npdi@example.com;user=phone>;tag=9",
                PASSED
            ),
            "\"Alice <A>\" <sip:+12025550100;npdi;verstat=TN-Validation-Passed@example.com;user=phone>;tag=9"
        );
    }

    #[test]
    fn tel_uri_parameter() {
        assert_eq!(
            with_verstat("<tel:+12025550100>", "No-TN-Validation"),
            "<tel:+12025550100;verstat=No-TN-Validation>"
        );
    }

    #[test]
    fn upstream_verstat_replaced() {
        assert_eq!(
            with_verstat(
                "<sip:+12025550100;verstat=TN-Validation-Passed@example.com>",
                "TN-Validation-Failed"
            ),
            "<sip:+12025550100;verstat=TN-Validation-Failed@example.com>"
        );
        assert_eq!(
            with_verstat(
                "<tel:+12025550100;VERSTAT=TN-Validation-Passed>",
                "TN-Validation-Failed"
            ),
            "<tel:+12025550100;verstat=TN-Validation-Failed>"
        );
    }

    #[test]
    fn verstat_removed_everywhere() {
        assert_eq!(
            with_verstat(
                "<sip:+12025550100@x;verstat=TN-Validation-Passed>",
                "No-TN-Validation"
            ),
            "<sip:+12025550100;verstat=No-TN-Validation@x>"
        );
        assert_eq!(
            with_verstat(
                "<sip:+12025550100@x>;verstat=TN-Validation-Passed",
                "No-TN-Validation"
            ),
            "<sip:+12025550100;verstat=No-TN-Validation@x>"
        );
        assert_eq!(
            with_verstat(
                "sip:+12025550100@x;verstat=TN-Validation-Passed",
                "No-TN-Validation"
            ),
            "<sip:+12025550100;verstat=No-TN-Validation@x>"
        );
        assert_eq!(
            super::first_value("<sip:a@x>, <tel:+1;verstat=TN-Validation-Passed>"),
            "<sip:a@x>"
        );
        assert_eq!(
            super::first_value("\"a, b\" <sip:a@x>"),
            "\"a, b\" <sip:a@x>"
        );
    }

    #[test]
    fn bare_addr_spec_gets_brackets() {
        assert_eq!(
            with_verstat("sip:+12025550100@example.com;tag=abc", PASSED),
            "<sip:+12025550100;verstat=TN-Validation-Passed@example.com>;tag=abc"
        );
        assert_eq!(
            with_verstat("sip:anonymous@anonymous.invalid", PASSED),
            "<sip:anonymous;verstat=TN-Validation-Passed@anonymous.invalid>"
        );
        assert_eq!(
            with_verstat("<sip:example.com>", PASSED),
            "<sip:example.com;verstat=TN-Validation-Passed>"
        );
    }
}

//! Telephone numbers in the canonical form of RFC 8224 section 8.3.
//!
//! A canonical telephone number is the string of digits (and `*` or `#`) left after
//! the leading `+`, the visual separators and any URI parameters are removed. Both
//! sides of a comparison go through the same procedure: the `tn` claims of a
//! PASSporT and the numbers taken from the SIP request.

use std::fmt;

/// Local numbering-plan rules that RFC 8224 section 8.3 leaves to the verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberPolicy {
    /// Maximum length of a canonical number, in digits. E.164 caps numbers at 15
    /// digits, and national profiles with routing prefixes raise it.
    pub max_digits: usize,
    /// A rule that turns national numbers (without `+`) into international ones.
    pub national: Option<NationalRule>,
}

impl Default for NumberPolicy {
    fn default() -> Self {
        NumberPolicy {
            max_digits: 15,
            national: None,
        }
    }
}

/// A national number of exactly `digits` digits gets `country_code` in front,
/// as NANP carriers do for 10-digit numbers (country code 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NationalRule {
    /// The length of a national number, in digits.
    pub digits: usize,
    /// The country code prepended to such a number, digits only.
    pub country_code: String,
}

impl NationalRule {
    /// Returns the North American Numbering Plan rule: 10 digits get a leading 1.
    pub fn nanp() -> Self {
        NationalRule {
            digits: 10,
            country_code: "1".to_owned(),
        }
    }
}

/// Reason a string is not a telephone number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TnError {
    /// The string is empty, or empty after separators are removed.
    Empty,
    /// A character that is neither a digit, `*`, `#`, a visual separator nor a
    /// leading `+`.
    Character(char),
    /// More digits than the policy's maximum.
    TooLong { digits: usize, max: usize },
    /// The URI identifies a user by name, not by number (RFC 8224 section 8.1).
    NotANumber(String),
    /// A local `tel` number with a `phone-context`, which is not assumed global.
    LocalNumber(String),
    /// The URI could not be parsed.
    BadUri(String),
}

impl fmt::Display for TnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TnError::Empty => f.write_str("no digits"),
            TnError::Character(c) => write!(f, "character '{c}' is not a digit, '*' or '#'"),
            TnError::TooLong { digits, max } => {
                write!(f, "{digits} digits is longer than the {max} allowed")
            }
            TnError::NotANumber(user) => write!(
                f,
                "'{user}' is a user name, not a telephone number (RFC 8224 section 8.1)"
            ),
            TnError::LocalNumber(number) => write!(
                f,
                "'{number}' is a local number with a phone-context, not a global number"
            ),
            TnError::BadUri(uri) => write!(f, "'{uri}' is not a tel, sip or sips URI"),
        }
    }
}

impl std::error::Error for TnError {}

/// Returns the canonical form of a telephone number written with or without `+`
/// and visual separators (space, `-`, `.`, `(`, `)`), per RFC 8224 section 8.3.
pub fn canonicalize(number: &str) -> Result<String, TnError> {
    let rest = number.strip_prefix('+').unwrap_or(number);
    let mut canonical = String::with_capacity(rest.len());
    for character in rest.chars() {
        match character {
            '0'..='9' | '*' | '#' => canonical.push(character),
            ' ' | '-' | '.' | '(' | ')' => {}
            other => return Err(TnError::Character(other)),
        }
    }
    if canonical.is_empty() {
        return Err(TnError::Empty);
    }
    Ok(canonical)
}

/// Reports whether `number` is already canonical: digits, `*` and `#` only.
pub fn is_canonical(number: &str) -> bool {
    !number.is_empty()
        && number
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#')
}

/// Returns the canonical number of a SIP identity under `policy`.
///
/// `text` is a `tel`, `sip` or `sips` URI, a header value with a name-addr such as
/// `"Sales" <sip:+12025550100@example.com;user=phone>;tag=1`, or a bare number.
/// A `sip` URI denotes a number when it has `user=phone` or when its user part is
/// all digits (with `+` and separators), the local policy RFC 8224 section 8.1
/// allows. Parameters inside the user part (`;npdi`, `;rn=`, `;verstat=`) and the
/// URI parameters are not part of the number.
pub fn from_sip(text: &str, policy: &NumberPolicy) -> Result<String, TnError> {
    let uri = addr_spec(text);

    let (scheme, rest) = match uri.split_once(':') {
        Some((scheme, rest)) if !scheme.is_empty() && scheme.bytes().all(is_scheme_byte) => {
            (scheme.to_ascii_lowercase(), rest)
        }
        _ => (String::new(), uri),
    };

    let number = match scheme.as_str() {
        "" => rest,
        "tel" => number_of_tel(rest)?,
        "sip" | "sips" => number_of_sip(rest)?,
        _ => return Err(TnError::BadUri(uri.to_owned())),
    };
    apply_policy(number, policy)
}

/// Returns the URI of a header value: inside the angle brackets of a name-addr,
/// after any quoted display name (whose quotes may hide `<` and `>`, RFC 3261
/// section 25.1), or the whole value trimmed.
pub fn addr_spec(value: &str) -> &str {
    let value = value.trim();
    let mut rest = value;
    if let Some(after_quote) = value.strip_prefix('"') {
        let mut escaped = false;
        let close = after_quote.char_indices().find_map(|(index, character)| {
            let found = !escaped && character == '"';
            escaped = !escaped && character == '\\';
            found.then_some(index)
        });
        match close {
            Some(index) => rest = after_quote.get(index + 1..).unwrap_or(""),
            None => return value,
        }
    }
    match (rest.find('<'), rest.find('>')) {
        (Some(open), Some(close)) if open < close => rest.get(open + 1..close).unwrap_or(rest),
        _ if !std::ptr::eq(rest, value) => rest.trim(),
        _ => value,
    }
}

/// Canonicalizes `number` and applies the national rule and length limit.
pub fn apply_policy(number: &str, policy: &NumberPolicy) -> Result<String, TnError> {
    let global = number.starts_with('+');
    let mut canonical = canonicalize(number)?;
    if let Some(rule) = policy.national.as_ref().filter(|_| !global)
        && canonical.len() == rule.digits
    {
        canonical.insert_str(0, &rule.country_code);
    }
    if canonical.len() > policy.max_digits {
        return Err(TnError::TooLong {
            digits: canonical.len(),
            max: policy.max_digits,
        });
    }
    Ok(canonical)
}

fn is_scheme_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'-' | b'.')
}

/// Returns the number of a `tel` URI body (RFC 3966): everything before the first
/// parameter. A local number is accepted only without a `phone-context`.
fn number_of_tel(body: &str) -> Result<&str, TnError> {
    let mut parts = body.split(';');
    let number = parts.next().unwrap_or("");
    let has_context = parts.any(|p| {
        p.split('=')
            .next()
            .is_some_and(|name| name.trim().eq_ignore_ascii_case("phone-context"))
    });
    if !number.starts_with('+') && has_context {
        return Err(TnError::LocalNumber(number.to_owned()));
    }
    Ok(number)
}

/// Returns the telephone-subscriber of a `sip` URI body (`user;params@host;params`).
fn number_of_sip(body: &str) -> Result<&str, TnError> {
    let Some((userinfo, host_and_params)) = body.rsplit_once('@') else {
        return Err(TnError::NotANumber(body.to_owned()));
    };
    let user = userinfo.split(':').next().unwrap_or("");
    let subscriber = user.split(';').next().unwrap_or("");

    let user_phone = host_and_params
        .split(';')
        .skip(1)
        .any(|p| p.trim().eq_ignore_ascii_case("user=phone"));
    if user_phone || looks_like_number(subscriber) {
        Ok(subscriber)
    } else {
        Err(TnError::NotANumber(subscriber.to_owned()))
    }
}

fn looks_like_number(user: &str) -> bool {
    let rest = user.strip_prefix('+').unwrap_or(user);
    rest.bytes().any(|b| b.is_ascii_digit())
        && rest
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'(' | b')'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(text: &str) -> Result<String, TnError> {
        from_sip(text, &NumberPolicy::default())
    }

    #[test]
    fn separators_and_plus_removed() {
        assert_eq!(canonicalize("+1 (202) 555-01.00"), Ok("12025550100".into()));
        assert_eq!(canonicalize("*67#"), Ok("*67#".into()));
        assert_eq!(canonicalize("+"), Err(TnError::Empty));
        assert_eq!(canonicalize("12a"), Err(TnError::Character('a')));
        assert_eq!(canonicalize("++1"), Err(TnError::Character('+')));
    }

    #[test]
    fn sip_user_phone_and_digits() {
        assert_eq!(
            canon("<sip:+12025550100@carrier.example.org;user=phone>;tag=f1"),
            Ok("12025550100".into())
        );
        assert_eq!(
            canon("sip:12025550100@carrier.example.org"),
            Ok("12025550100".into())
        );
        assert_eq!(
            canon("\"Sales\" <sips:+1-202-555-0100@x.example;user=phone>"),
            Ok("12025550100".into())
        );
    }

    #[test]
    fn sip_user_name_not_number() {
        assert_eq!(
            canon("sip:alice@example.com"),
            Err(TnError::NotANumber("alice".into()))
        );
        assert_eq!(
            canon("<sip:anonymous@anonymous.invalid>"),
            Err(TnError::NotANumber("anonymous".into()))
        );
        assert_eq!(
            canon("sip:example.com"),
            Err(TnError::NotANumber("example.com".into()))
        );
    }

    #[test]
    fn user_part_parameters_split_off() {
        assert_eq!(
            canon("sip:+12155551212;npdi;rn=+12155550000@example.com;user=phone"),
            Ok("12155551212".into())
        );
        assert_eq!(
            canon("<sip:+15715550001;verstat=TN-Validation-Passed@example.com;user=phone>"),
            Ok("15715550001".into())
        );
    }

    #[test]
    fn tel_parameters_dropped() {
        assert_eq!(
            canon("tel:+1-215-555-1212;ext=123"),
            Ok("12155551212".into())
        );
        assert_eq!(canon("<tel:+1(202)555-0101>"), Ok("12025550101".into()));
        assert_eq!(
            canon("tel:5551212;phone-context=+1215"),
            Err(TnError::LocalNumber("5551212".into()))
        );
    }

    #[test]
    fn national_rule_applies_to_national_only() {
        let nanp = NumberPolicy {
            national: Some(NationalRule::nanp()),
            ..NumberPolicy::default()
        };
        assert_eq!(
            from_sip("sip:2025550100@example.com", &nanp),
            Ok("12025550100".into())
        );
        assert_eq!(canon("sip:2025550100@example.com"), Ok("2025550100".into()));
        // A global 10-digit number keeps its digits.
        assert_eq!(from_sip("tel:+3312345678", &nanp), Ok("3312345678".into()));
    }

    #[test]
    fn length_limited_by_policy() {
        assert_eq!(
            canon("sip:+3310999199000101@sbc.example.com;user=phone"),
            Err(TnError::TooLong {
                digits: 16,
                max: 15
            })
        );
        let long = NumberPolicy {
            max_digits: 20,
            national: None,
        };
        assert_eq!(
            from_sip("sip:+3310999199000101@sbc.example.com;user=phone", &long),
            Ok("3310999199000101".into())
        );
    }

    #[test]
    fn quoted_display_name_brackets_ignored() {
        assert_eq!(
            canon("\"<sip:+12025550100@x>\" <sip:alice@example.com>"),
            Err(TnError::NotANumber("alice".into()))
        );
        assert_eq!(
            canon("\"a<b\" <sip:+12025550100@x;user=phone>;tag=1"),
            Ok("12025550100".into())
        );
        assert_eq!(
            canon("\"Quote \\\" <x>\" <tel:+12025550100>"),
            Ok("12025550100".into())
        );
    }

    #[test]
    fn unknown_scheme_rejected() {
        assert!(matches!(canon("mailto:a@b"), Err(TnError::BadUri(_))));
    }

    #[test]
    fn is_canonical_cases() {
        assert!(is_canonical("12025550100"));
        assert!(!is_canonical("+12025550100"));
        assert!(!is_canonical("1-202"));
        assert!(!is_canonical(""));
    }
}

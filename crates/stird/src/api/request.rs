//! The JSON bodies of the signing and verification requests, read field by
//! field so that a rejection names the field and the rule it broke.
//!
//! The shapes are those of the ATIS-1000082 interface as STI-AS and STI-VS
//! products use it. Where SBCs differ, both forms are accepted: `tn` as a
//! string or an array, `iat` and `time` as a number or a string of digits, and
//! the identity with or without its header parameters. Unknown members are
//! ignored.

use passport::tn::{self, NumberPolicy};
use passport::{Attestation, base64url};
use serde_json::{Map, Value};

/// The largest NumericDate accepted for `iat` and `time`: the last second of
/// the year 9999, which keeps every later time calculation in range.
pub const MAX_NUMERIC_DATE: i64 = 253_402_300_799;

/// The most called numbers in `dest.tn` or `to.tn`, and the most Identity
/// header values in one verification request.
pub const MAX_LIST: usize = passport::MAX_IDENTITY_HEADERS;

/// A request body that breaks a rule: the field's JSON path, the rule, and the
/// offending value for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The field, as a dotted path such as `signingRequest.orig.tn`.
    pub field: String,
    /// The rule the value breaks.
    pub rule: String,
    /// The value received, shortened, for the log line; `None` when missing.
    pub value: Option<String>,
}

impl Invalid {
    fn missing(field: &str) -> Invalid {
        Invalid {
            field: field.to_owned(),
            rule: "required".to_owned(),
            value: None,
        }
    }

    fn new(field: &str, rule: impl Into<String>, value: &Value) -> Invalid {
        Invalid {
            field: field.to_owned(),
            rule: rule.into(),
            value: Some(excerpt(&value.to_string())),
        }
    }
}

/// Shortens `text` to at most 80 characters for a log line.
pub fn excerpt(text: &str) -> String {
    const MAX_CHARS: usize = 80;
    if text.chars().count() <= MAX_CHARS {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(MAX_CHARS).collect();
    short.push_str("...");
    short
}

/// A `signingRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signing {
    /// The calling number, as received.
    pub orig: String,
    /// The called numbers, as received.
    pub dest: Vec<String>,
    /// The attestation requested; the credential's default when absent.
    pub attest: Option<Attestation>,
    /// The origination identifier; a fresh UUID when absent or empty.
    pub origid: Option<String>,
    /// The `iat` claim in Unix seconds; the time of the request when absent.
    pub iat: i64,
}

/// A `verificationRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// The Identity header values, parameters completed where they were absent.
    pub identities: Vec<String>,
    /// The calling number, as received.
    pub from: String,
    /// The called numbers, as received.
    pub to: Vec<String>,
    /// The time of the call in Unix seconds; the time of the request when absent.
    pub time: i64,
}

/// Parses a signing request body received at Unix time `now`.
pub fn signing(body: &[u8], now: i64) -> Result<Signing, Invalid> {
    let request = envelope(body, "signingRequest")?;
    let at = |name: &str| format!("signingRequest.{name}");

    let orig = object(&request, "orig", &at("orig"))?;
    let orig = single_tn(&orig, &at("orig.tn"))?;
    let dest = object(&request, "dest", &at("dest"))?;
    let dest = tn_list(&dest, &at("dest.tn"))?;
    let attest = match request.get("attest") {
        None | Some(Value::Null) => None,
        Some(value) => Some(attestation(value, &at("attest"))?),
    };
    let origid = match request.get("origid") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.is_empty() => None,
        Some(value @ Value::String(text)) => {
            passport::check_origid(text)
                .map_err(|error| Invalid::new(&at("origid"), error.to_string(), value))?;
            Some(text.clone())
        }
        Some(value) => return Err(Invalid::new(&at("origid"), "must be a string", value)),
    };
    let iat = numeric_date(request.get("iat"), &at("iat"))?.unwrap_or(now);
    Ok(Signing {
        orig,
        dest,
        attest,
        origid,
        iat,
    })
}

/// Parses a verification request body received at Unix time `now`; the
/// numbers are checked under `numbers`, the verifier's numbering plan.
pub fn verification(
    body: &[u8],
    now: i64,
    numbers: &NumberPolicy,
) -> Result<Verification, Invalid> {
    let request = envelope(body, "verificationRequest")?;
    let at = |name: &str| format!("verificationRequest.{name}");

    let from = object(&request, "from", &at("from"))?;
    let from = single_tn(&from, &at("from.tn"))?;
    check_number(&from, numbers, &at("from.tn"))?;
    let to = object(&request, "to", &at("to"))?;
    let to = tn_list(&to, &at("to.tn"))?;
    for (index, number) in to.iter().enumerate() {
        check_number(number, numbers, &format!("{}[{index}]", at("to.tn")))?;
    }
    let time = numeric_date(request.get("time"), &at("time"))?.unwrap_or(now);
    // The 3GPP variant of the interface names the member identityHeader.
    let (name, value) = match (request.get("identity"), request.get("identityHeader")) {
        (Some(value), _) => ("identity", value),
        (None, Some(value)) => ("identityHeader", value),
        (None, None) => return Err(Invalid::missing(&at("identity"))),
    };
    let identities = identity_list(value, &at(name))?;
    Ok(Verification {
        identities,
        from,
        to,
        time,
    })
}

/// Parses `body` as a JSON object and returns its member `name`, an object.
fn envelope(body: &[u8], name: &str) -> Result<Map<String, Value>, Invalid> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Invalid::missing("body"));
    }
    let document: Value = serde_json::from_slice(body).map_err(|error| Invalid {
        field: "body".to_owned(),
        rule: format!("must be JSON: {error}"),
        value: Some(excerpt(&String::from_utf8_lossy(body))),
    })?;
    let Value::Object(mut document) = document else {
        return Err(Invalid::new("body", "must be a JSON object", &document));
    };
    match document.remove(name) {
        Some(Value::Object(request)) => Ok(request),
        Some(other) => Err(Invalid::new(name, "must be an object", &other)),
        None => Err(Invalid::missing(name)),
    }
}

fn object(
    parent: &Map<String, Value>,
    name: &str,
    field: &str,
) -> Result<Map<String, Value>, Invalid> {
    match parent.get(name) {
        Some(Value::Object(object)) => Ok(object.clone()),
        Some(other) => Err(Invalid::new(field, "must be an object", other)),
        None => Err(Invalid::missing(field)),
    }
}

/// Reads a `tn` member that contains one number: a string, or an array of one
/// string.
fn single_tn(parent: &Map<String, Value>, field: &str) -> Result<String, Invalid> {
    let value = parent.get("tn").ok_or_else(|| Invalid::missing(field))?;
    match value {
        Value::String(number) => non_empty(number, field, value),
        Value::Array(items) if items.len() == 1 => match items.first() {
            Some(item @ Value::String(number)) => non_empty(number, &format!("{field}[0]"), item),
            Some(item) => Err(Invalid::new(
                &format!("{field}[0]"),
                "must be a string",
                item,
            )),
            None => Err(Invalid::missing(field)),
        },
        _ => Err(Invalid::new(
            field,
            "must be a string or an array of one string",
            value,
        )),
    }
}

/// Reads a `tn` member that contains one or more numbers: an array of strings, or
/// one string.
fn tn_list(parent: &Map<String, Value>, field: &str) -> Result<Vec<String>, Invalid> {
    let value = parent.get("tn").ok_or_else(|| Invalid::missing(field))?;
    strings(value, field)
}

fn identity_list(value: &Value, field: &str) -> Result<Vec<String>, Invalid> {
    let values = strings(value, field)?;
    values
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let at = if matches!(value, Value::Array(_)) {
                format!("{field}[{index}]")
            } else {
                field.to_owned()
            };
            if text.len() > passport::MAX_IDENTITY_LEN {
                return Err(Invalid {
                    field: at,
                    rule: format!("must be at most {} bytes", passport::MAX_IDENTITY_LEN),
                    value: Some(excerpt(text)),
                });
            }
            Ok(with_parameters(text.trim()))
        })
        .collect()
}

/// Reads a string or an array of 1 to [`MAX_LIST`] non-empty strings.
fn strings(value: &Value, field: &str) -> Result<Vec<String>, Invalid> {
    match value {
        Value::String(text) => Ok(vec![non_empty(text, field, value)?]),
        Value::Array(items) if items.is_empty() => {
            Err(Invalid::new(field, "must hold at least one string", value))
        }
        Value::Array(items) if items.len() > MAX_LIST => Err(Invalid::new(
            field,
            format!("must hold at most {MAX_LIST} strings"),
            value,
        )),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(index, item)| match item {
                Value::String(text) => non_empty(text, &format!("{field}[{index}]"), item),
                other => Err(Invalid::new(
                    &format!("{field}[{index}]"),
                    "must be a string",
                    other,
                )),
            })
            .collect(),
        other => Err(Invalid::new(
            field,
            "must be a string or an array of strings",
            other,
        )),
    }
}

fn non_empty(text: &str, field: &str, value: &Value) -> Result<String, Invalid> {
    if text.trim().is_empty() {
        Err(Invalid::new(field, "must not be empty", value))
    } else {
        Ok(text.to_owned())
    }
}

fn check_number(number: &str, numbers: &NumberPolicy, field: &str) -> Result<(), Invalid> {
    tn::from_sip(number, numbers)
        .map(drop)
        .map_err(|error| Invalid {
            field: field.to_owned(),
            rule: format!("must be a telephone number: {error}"),
            value: Some(excerpt(number)),
        })
}

fn attestation(value: &Value, field: &str) -> Result<Attestation, Invalid> {
    match value.as_str() {
        Some("A") => Ok(Attestation::A),
        Some("B") => Ok(Attestation::B),
        Some("C") => Ok(Attestation::C),
        _ => Err(Invalid::new(field, "must be \"A\", \"B\" or \"C\"", value)),
    }
}

/// Reads an optional NumericDate: an integer, or a string of decimal digits as
/// some SBCs send, from 0 to [`MAX_NUMERIC_DATE`].
fn numeric_date(value: Option<&Value>, field: &str) -> Result<Option<i64>, Invalid> {
    let rule = format!("must be an integer number of seconds from 0 to {MAX_NUMERIC_DATE}");
    let seconds = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(number)) => number.as_i64(),
        Some(Value::String(text))
            if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) =>
        {
            text.parse::<i64>().ok()
        }
        Some(_) => None,
    };
    match seconds {
        Some(seconds) if (0..=MAX_NUMERIC_DATE).contains(&seconds) => Ok(Some(seconds)),
        _ => Err(Invalid::new(field, rule, value.unwrap_or(&Value::Null))),
    }
}

/// Completes a bare PASSporT (no `;` parameters) into an Identity header value:
/// `info` is the `x5u` and `alg` and `ppt` are those of its protected header,
/// the values RFC 8224 section 4.1 requires them to equal. A value with
/// parameters, or one whose header does not decode, is returned as received and
/// fails verification with its own error.
fn with_parameters(identity: &str) -> String {
    if identity.contains(';') {
        return identity.to_owned();
    }
    let header = identity
        .split('.')
        .next()
        .and_then(|segment| base64url::decode(segment).ok())
        .and_then(|bytes| serde_json::from_slice::<Map<String, Value>>(&bytes).ok());
    let Some(header) = header else {
        return identity.to_owned();
    };
    let Some(x5u) = header.get("x5u").and_then(Value::as_str) else {
        return identity.to_owned();
    };
    let mut value = format!("{identity};info=<{x5u}>");
    if let Some(alg) = header.get("alg").and_then(Value::as_str) {
        value.push_str(";alg=");
        value.push_str(alg);
    }
    if let Some(ppt) = header.get("ppt").and_then(Value::as_str) {
        value.push_str(";ppt=");
        value.push_str(ppt);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn sign(body: &str) -> Result<Signing, Invalid> {
        signing(body.as_bytes(), NOW)
    }

    fn verify(body: &str) -> Result<Verification, Invalid> {
        verification(body.as_bytes(), NOW, &NumberPolicy::default())
    }

    #[test]
    fn signing_accepts_atis_shape() {
        let request = sign(
            r#"{"signingRequest":{"attest":"A","dest":{"tn":["12355551212"]},"iat":1632412033,
                "orig":{"tn":"12155551212"},"origid":"de305d54-75b4-431b-adb2-eb6b9e546014"}}"#,
        )
        .unwrap();
        assert_eq!(request.orig, "12155551212");
        assert_eq!(request.dest, vec!["12355551212".to_owned()]);
        assert_eq!(request.attest, Some(Attestation::A));
        assert_eq!(
            request.origid.as_deref(),
            Some("de305d54-75b4-431b-adb2-eb6b9e546014")
        );
        assert_eq!(request.iat, 1_632_412_033);
    }

    #[test]
    fn signing_accepts_sbc_variants() {
        let request = sign(
            r#"{"signingRequest":{"dest":{"tn":"12355551212"},"orig":{"tn":["12155551212"]},
                "origid":"","iat":"1632412033","requestId":"x","ppt":"shaken"}}"#,
        )
        .unwrap();
        assert_eq!(request.orig, "12155551212");
        assert_eq!(request.dest, vec!["12355551212".to_owned()]);
        assert_eq!(request.attest, None);
        assert_eq!(request.origid, None);
        assert_eq!(request.iat, 1_632_412_033);

        let request =
            sign(r#"{"signingRequest":{"dest":{"tn":["1"]},"orig":{"tn":"2"}}}"#).unwrap();
        assert_eq!(request.iat, NOW);
    }

    #[test]
    fn signing_rejections_name_field() {
        let cases = [
            ("", "body", "required"),
            ("{", "body", "must be JSON"),
            ("[]", "body", "must be a JSON object"),
            ("{}", "signingRequest", "required"),
            (
                r#"{"signingRequest":1}"#,
                "signingRequest",
                "must be an object",
            ),
            (
                r#"{"signingRequest":{"dest":{"tn":["1"]}}}"#,
                "signingRequest.orig",
                "required",
            ),
            (
                r#"{"signingRequest":{"orig":{},"dest":{"tn":["1"]}}}"#,
                "signingRequest.orig.tn",
                "required",
            ),
            (
                r#"{"signingRequest":{"orig":{"tn":["1","2"]},"dest":{"tn":["1"]}}}"#,
                "signingRequest.orig.tn",
                "an array of one string",
            ),
            (
                r#"{"signingRequest":{"orig":{"tn":[5]},"dest":{"tn":["1"]}}}"#,
                "signingRequest.orig.tn[0]",
                "must be a string",
            ),
            (
                r#"{"signingRequest":{"orig":{"tn":""},"dest":{"tn":["1"]}}}"#,
                "signingRequest.orig.tn",
                "must not be empty",
            ),
            (
                r#"{"signingRequest":{"orig":{"tn":"1"}}}"#,
                "signingRequest.dest",
                "required",
            ),
            (
                r#"{"signingRequest":{"orig":{"tn":"1"},"dest":{"tn":[]}}}"#,
                "signingRequest.dest.tn",
                "at least one",
            ),
            (
                r#"{"signingRequest":{"orig":{"tn":"1"},"dest":{"tn":["1",2]}}}"#,
                "signingRequest.dest.tn[1]",
                "must be a string",
            ),
            (
                r#"{"signingRequest":{"orig":{"tn":"1"},"dest":{"tn":["1"]},"attest":"D"}}"#,
                "signingRequest.attest",
                "\"A\", \"B\" or \"C\"",
            ),
            (
                r#"{"signingRequest":{"orig":{"tn":"1"},"dest":{"tn":["1"]},"iat":-1}}"#,
                "signingRequest.iat",
                "integer number of seconds",
            ),
            (
                r#"{"signingRequest":{"orig":{"tn":"1"},"dest":{"tn":["1"]},"iat":1.5}}"#,
                "signingRequest.iat",
                "integer number of seconds",
            ),
            (
                r#"{"signingRequest":{"orig":{"tn":"1"},"dest":{"tn":["1"]},"iat":253402300800}}"#,
                "signingRequest.iat",
                "integer number of seconds",
            ),
            (
                r#"{"signingRequest":{"orig":{"tn":"1"},"dest":{"tn":["1"]},"origid":"a b"}}"#,
                "signingRequest.origid",
                "origid",
            ),
            (
                r#"{"signingRequest":{"orig":{"tn":"1"},"dest":{"tn":["1"]},"origid":7}}"#,
                "signingRequest.origid",
                "must be a string",
            ),
        ];
        for (body, field, rule) in cases {
            let error = sign(body).unwrap_err();
            assert_eq!(error.field, field, "{body}");
            assert!(error.rule.contains(rule), "{body}: {}", error.rule);
        }
    }

    #[test]
    fn dest_list_bounded() {
        let numbers: Vec<String> = (0..=MAX_LIST)
            .map(|i| format!("\"1202555{i:04}\""))
            .collect();
        let body = format!(
            r#"{{"signingRequest":{{"orig":{{"tn":"1"}},"dest":{{"tn":[{}]}}}}}}"#,
            numbers.join(",")
        );
        let error = sign(&body).unwrap_err();
        assert_eq!(error.field, "signingRequest.dest.tn");
        assert!(error.rule.contains("at most 16"), "{}", error.rule);
    }

    #[test]
    fn verification_accepts_atis_shape() {
        let request = verify(
            r#"{"verificationRequest":{"from":{"tn":"12355551212"},"to":{"tn":["12155551212"]},
                "time":1632413071,"identity":"a.b.c;info=<https://cr.example.com/x.pem>"}}"#,
        )
        .unwrap();
        assert_eq!(request.from, "12355551212");
        assert_eq!(request.to, vec!["12155551212".to_owned()]);
        assert_eq!(request.time, 1_632_413_071);
        assert_eq!(
            request.identities,
            vec!["a.b.c;info=<https://cr.example.com/x.pem>".to_owned()]
        );
        let request = verify(
            r#"{"verificationRequest":{"from":{"tn":["+1 235 555 1212"]},"to":{"tn":"12155551212"},
                "identityHeader":"a.b.c"}}"#,
        )
        .unwrap();
        assert_eq!(request.time, NOW);
        assert_eq!(request.identities, vec!["a.b.c".to_owned()]);
    }

    #[test]
    fn verification_rejections_name_field() {
        let cases = [
            ("{}", "verificationRequest", "required"),
            (
                r#"{"verificationRequest":{"to":{"tn":["1"]},"identity":"x"}}"#,
                "verificationRequest.from",
                "required",
            ),
            (
                r#"{"verificationRequest":{"from":{"tn":"abc"},"to":{"tn":["1"]},"identity":"x"}}"#,
                "verificationRequest.from.tn",
                "must be a telephone number",
            ),
            (
                r#"{"verificationRequest":{"from":{"tn":"1"},"identity":"x"}}"#,
                "verificationRequest.to",
                "required",
            ),
            (
                r#"{"verificationRequest":{"from":{"tn":"1"},"to":{"tn":["1","x"]},"identity":"x"}}"#,
                "verificationRequest.to.tn[1]",
                "must be a telephone number",
            ),
            (
                r#"{"verificationRequest":{"from":{"tn":"1"},"to":{"tn":["1"]}}}"#,
                "verificationRequest.identity",
                "required",
            ),
            (
                r#"{"verificationRequest":{"from":{"tn":"1"},"to":{"tn":["1"]},"identity":5}}"#,
                "verificationRequest.identity",
                "must be a string",
            ),
            (
                r#"{"verificationRequest":{"from":{"tn":"1"},"to":{"tn":["1"]},"identity":" "}}"#,
                "verificationRequest.identity",
                "must not be empty",
            ),
            (
                r#"{"verificationRequest":{"from":{"tn":"1"},"to":{"tn":["1"]},"identity":"x","time":"soon"}}"#,
                "verificationRequest.time",
                "integer number of seconds",
            ),
        ];
        for (body, field, rule) in cases {
            let error = verify(body).unwrap_err();
            assert_eq!(error.field, field, "{body}");
            assert!(error.rule.contains(rule), "{body}: {}", error.rule);
        }
    }

    #[test]
    fn bare_passport_gets_parameters() {
        let header = base64url::encode(
            br#"{"alg":"ES256","ppt":"shaken","typ":"passport","x5u":"https://cr.example.com/a.pem"}"#,
        );
        let bare = format!("{header}.cGF5bG9hZA.c2ln");
        assert_eq!(
            with_parameters(&bare),
            format!("{bare};info=<https://cr.example.com/a.pem>;alg=ES256;ppt=shaken")
        );
        let full = format!("{bare};info=<https://cr.example.com/b.pem>");
        assert_eq!(with_parameters(&full), full);
        assert_eq!(with_parameters("not-a-passport"), "not-a-passport");
    }
}

//! Bounded JSON decoding of the header and payload segments.

use serde_json::{Map, Value};

use crate::error::{Error, Segment};
use crate::{MAX_JSON_DEPTH, MAX_MEMBERS};

/// Parses a segment's JSON object after checking its nesting depth, then checks the
/// member count.
///
/// The depth scan runs before serde_json allocates anything, so a payload of ten
/// thousand `[` never reaches the parser.
pub(crate) fn parse_object(segment: Segment, bytes: &[u8]) -> Result<Map<String, Value>, Error> {
    let depth = nesting_depth(bytes);
    if depth > MAX_JSON_DEPTH {
        return Err(Error::JsonTooDeep {
            segment,
            depth,
            max: MAX_JSON_DEPTH,
        });
    }

    let value = serde_json::from_slice::<Strict>(bytes)
        .map(|strict| strict.0)
        .map_err(|error| Error::Json {
            segment,
            reason: error.to_string(),
        })?;
    let Value::Object(map) = value else {
        return Err(Error::Json {
            segment,
            reason: format!("found {}", describe(&value)),
        });
    };

    if map.len() > MAX_MEMBERS {
        return Err(Error::TooManyMembers {
            segment,
            count: map.len(),
            max: MAX_MEMBERS,
        });
    }
    Ok(map)
}

/// Returns the deepest nesting of `[` and `{` outside strings. The scan stops
/// counting once past the limit, and malformed input is left for the parser to name.
fn nesting_depth(bytes: &[u8]) -> usize {
    let mut depth = 0usize;
    let mut deepest = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
                if deepest > MAX_JSON_DEPTH {
                    return deepest;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// A JSON value whose objects have no repeated member names. RFC 7519 section 4
/// lets a parser reject duplicates, and a PASSporT that names `attest` twice says
/// two things under one signature: a verifier that keeps the first member and
/// one that keeps the last would disagree.
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = access.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(name) = access.next_key::<String>()? {
            let Strict(value) = access.next_value()?;
            if members.contains_key(&name) {
                return Err(serde::de::Error::custom(format!(
                    "member '{name}' appears more than once"
                )));
            }
            members.insert(name, value);
        }
        Ok(Value::Object(members))
    }
}

/// Names a JSON value's type, with the value itself when it is short, for messages.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.len() <= 64 => format!("string \"{s}\""),
        Value::String(s) => format!("string of {} bytes", s.len()),
        Value::Array(a) => format!("array of {} elements", a.len()),
        Value::Object(o) => format!("object of {} members", o.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_outside_strings() {
        assert_eq!(nesting_depth(br#"{"a":"[[[[{{{{"}"#), 1);
        assert_eq!(nesting_depth(br#"{"a":[{"b":[]}]}"#), 4);
        assert_eq!(nesting_depth(br#"{"a":"\"[["}"#), 1);
    }

    #[test]
    fn deep_json_rejected_before_parse() {
        let deep = "[".repeat(100_000);
        let error = parse_object(Segment::Payload, deep.as_bytes());
        assert!(matches!(error, Err(Error::JsonTooDeep { .. })));
    }

    #[test]
    fn duplicate_member_rejected() {
        let error =
            parse_object(Segment::Payload, br#"{"attest":"C","iat":1,"attest":"A"}"#).unwrap_err();
        assert!(
            matches!(&error, Error::Json { reason, .. } if reason.contains("member 'attest' appears more than once")),
            "{error}"
        );
        let nested = parse_object(Segment::Payload, br#"{"orig":{"tn":"1","tn":"2"}}"#);
        assert!(nested.is_err());
    }

    #[test]
    fn large_numbers_kept() {
        let map = parse_object(
            Segment::Payload,
            br#"{"a":18446744073709551615,"b":-5,"c":1.5}"#,
        )
        .unwrap();
        assert_eq!(map["a"], Value::from(u64::MAX));
        assert_eq!(map["b"], Value::from(-5));
        assert_eq!(map["c"], serde_json::json!(1.5));
    }

    #[test]
    fn non_object_rejected() {
        let error = parse_object(Segment::Header, b"[1,2]");
        assert_eq!(
            error,
            Err(Error::Json {
                segment: Segment::Header,
                reason: "found array of 2 elements".to_owned()
            })
        );
    }

    #[test]
    fn member_count_limited() {
        let members: Vec<String> = (0..=MAX_MEMBERS).map(|i| format!("\"k{i}\":1")).collect();
        let json = format!("{{{}}}", members.join(","));
        assert!(matches!(
            parse_object(Segment::Payload, json.as_bytes()),
            Err(Error::TooManyMembers { .. })
        ));
    }
}

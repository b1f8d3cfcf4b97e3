//! The PASSporT protected header and claims (RFC 8225, RFC 8588, RFC 8946, RFC 8443
//! and the Rich Call Data claims of RFC 9795).
//!
//! Decoding goes through a JSON map, so every signed member, known or not, stays
//! available for inspection, and each type error names the member. Encoding goes
//! through structs whose fields are declared in lexicographic order: serde_json
//! writes them in that order without whitespace, which is the deterministic form
//! of RFC 8225 section 9, with no sorting at run time.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Segment};
use crate::json::describe;
use crate::tn;

/// The `ppt` value of a SHAKEN PASSporT (RFC 8588).
pub const PPT_SHAKEN: &str = "shaken";
/// The `ppt` value of a diversion PASSporT (RFC 8946).
pub const PPT_DIV: &str = "div";

/// The decoded protected header of a PASSporT, with every member kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    members: Map<String, Value>,
}

impl Header {
    pub(crate) fn from_map(members: Map<String, Value>) -> Self {
        Header { members }
    }

    /// Returns every member as decoded.
    pub fn members(&self) -> &Map<String, Value> {
        &self.members
    }

    /// Returns the `alg` member: absent, a string, or an error naming its type.
    pub fn alg(&self) -> Result<Option<&str>, Error> {
        self.string("alg")
    }

    /// Returns the `typ` member.
    pub fn typ(&self) -> Result<Option<&str>, Error> {
        self.string("typ")
    }

    /// Returns the `ppt` member.
    pub fn ppt(&self) -> Result<Option<&str>, Error> {
        self.string("ppt")
    }

    /// Returns the `x5u` member: the URL of the signer's certificate.
    pub fn x5u(&self) -> Result<Option<&str>, Error> {
        self.string("x5u")
    }

    fn string(&self, name: &'static str) -> Result<Option<&str>, Error> {
        match self.members.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(Error::MemberType {
                segment: Segment::Header,
                name,
                expected: "a string",
                found: describe(other),
            }),
        }
    }
}

/// The protected header our signer writes, members in lexicographic order.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct HeaderOut<'a> {
    pub alg: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ppt: Option<&'a str>,
    pub typ: &'a str,
    pub x5u: &'a str,
}

/// The attestation level of RFC 8588 section 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Attestation {
    /// Full attestation: the signer authenticated the customer and verified their
    /// right to use the number.
    A,
    /// Partial attestation: the signer authenticated the customer but did not
    /// verify their right to the number.
    B,
    /// Gateway attestation: the signer authenticated only the point where the call
    /// entered its network.
    C,
}

impl Attestation {
    /// Parses `A`, `B` or `C`; letter case matters (RFC 8588 section 4).
    pub fn parse(text: &str) -> Result<Self, Error> {
        match text {
            "A" => Ok(Attestation::A),
            "B" => Ok(Attestation::B),
            "C" => Ok(Attestation::C),
            _ => Err(Error::InvalidAttest {
                found: text.to_owned(),
            }),
        }
    }

    /// Returns the letter.
    pub fn as_str(self) -> &'static str {
        match self {
            Attestation::A => "A",
            Attestation::B => "B",
            Attestation::C => "C",
        }
    }
}

impl std::fmt::Display for Attestation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The originating identity: a telephone number or a URI (RFC 8225 section 5.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Orig {
    /// `{"tn": "12025550100"}`.
    Tn(String),
    /// `{"uri": "sip:alice@example.com"}`.
    Uri(String),
}

/// The destination identities: arrays of telephone numbers and URIs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Dest {
    /// Canonical telephone numbers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tn: Vec<String>,
    /// URIs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub uri: Vec<String>,
}

/// The diverting identity of a `div` PASSporT (RFC 8946 section 3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Div {
    /// The History-Info index of the retargeting, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hi: Option<String>,
    /// The diverting telephone number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tn: Option<String>,
    /// The diverting URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
}

/// The Resource-Priority claim of RFC 8443.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Rph {
    /// The r-values of the Resource-Priority header.
    pub auth: Vec<String>,
}

/// The claims of a PASSporT, typed.
///
/// Fields are declared in lexicographic order so that serializing them gives the
/// deterministic JSON of RFC 8225 section 9. Unknown claims are kept in `other`
/// for inspection but never signed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Claims {
    /// SHAKEN attestation level (RFC 8588).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attest: Option<Attestation>,
    /// Call reason (RFC 9795).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crn: Option<String>,
    /// Destination identities.
    pub dest: Dest,
    /// Diverting identity (RFC 8946).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub div: Option<Div>,
    /// Issued-at time, seconds since the Unix epoch.
    pub iat: i64,
    /// Originating identity.
    pub orig: Orig,
    /// SHAKEN origination identifier (RFC 8588), normally a UUID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origid: Option<String>,
    /// Rich Call Data (RFC 9795): `nam`, `icn`, `jcd`, `jcl` and others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcd: Option<Map<String, Value>>,
    /// Integrity digests of the Rich Call Data (RFC 9795).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcdi: Option<Map<String, Value>>,
    /// Resource priority (RFC 8443).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rph: Option<Rph>,
    /// Claims this crate does not model, as received.
    #[serde(skip)]
    pub other: Map<String, Value>,
}

/// Maximum length of `origid`, in bytes. A UUID takes 36.
pub const MAX_ORIGID_LEN: usize = 128;

/// Checks an `origid`: not empty, at most [`MAX_ORIGID_LEN`] bytes, and printable
/// ASCII only, since verifiers copy it into SIP headers (P-Origination-ID), where
/// a control character could end the header or the message.
pub fn check_origid(origid: &str) -> Result<(), Error> {
    if origid.is_empty() {
        return Err(Error::EmptyOrigid);
    }
    if origid.len() > MAX_ORIGID_LEN || !origid.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(Error::InvalidOrigid {
            found: origid
                .chars()
                .take(40)
                .collect::<String>()
                .escape_debug()
                .to_string(),
            length: origid.len(),
        });
    }
    Ok(())
}

impl Claims {
    /// Builds the claims of a base PASSporT (RFC 8225): `orig`, `dest` and `iat`.
    pub fn new(orig: Orig, dest: Dest, iat: i64) -> Claims {
        Claims {
            attest: None,
            crn: None,
            dest,
            div: None,
            iat,
            orig,
            origid: None,
            rcd: None,
            rcdi: None,
            rph: None,
            other: Map::new(),
        }
    }

    /// Builds the claims of a SHAKEN PASSporT (RFC 8588).
    pub fn shaken(attest: Attestation, orig: Orig, dest: Dest, iat: i64, origid: String) -> Claims {
        Claims {
            attest: Some(attest),
            origid: Some(origid),
            ..Claims::new(orig, dest, iat)
        }
    }

    /// Types the claims of a decoded payload. Each failure names the claim, the
    /// type RFC 8225, RFC 8588 or RFC 8946 gives it and what was found.
    pub fn from_map(members: &Map<String, Value>) -> Result<Claims, Error> {
        let iat = parse_iat(required(members, "iat")?)?;
        let orig = parse_orig(required(members, "orig")?)?;
        let dest = parse_dest(required(members, "dest")?)?;
        let mut claims = Claims::new(orig, dest, iat);

        for (name, value) in members {
            match name.as_str() {
                "iat" | "orig" | "dest" => {}
                "attest" => {
                    claims.attest = Some(Attestation::parse(string(value, "attest")?)?);
                }
                "origid" => {
                    let origid = string(value, "origid")?;
                    check_origid(origid)?;
                    claims.origid = Some(origid.to_owned());
                }
                "crn" => claims.crn = Some(string(value, "crn")?.to_owned()),
                "div" => claims.div = Some(parse_div(value)?),
                "rcd" => claims.rcd = Some(object(value, "rcd")?.clone()),
                "rcdi" => claims.rcdi = Some(object(value, "rcdi")?.clone()),
                "rph" => claims.rph = Some(parse_rph(value)?),
                _ => {
                    claims.other.insert(name.clone(), value.clone());
                }
            }
        }
        Ok(claims)
    }

    /// Returns the deterministic JSON of RFC 8225 section 9.
    pub fn to_json(&self) -> Result<Vec<u8>, Error> {
        serde_json::to_vec(self).map_err(|error| Error::Signing {
            reason: error.to_string(),
        })
    }

    /// Iterates over every `tn` claim value, with the claim's path, for checks that
    /// treat all numbers alike.
    pub fn telephone_numbers(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let orig = match &self.orig {
            Orig::Tn(tn) => Some(("orig.tn", tn.as_str())),
            Orig::Uri(_) => None,
        };
        let div = self
            .div
            .as_ref()
            .and_then(|d| d.tn.as_deref())
            .map(|tn| ("div.tn", tn));
        orig.into_iter()
            .chain(self.dest.tn.iter().map(|tn| ("dest.tn", tn.as_str())))
            .chain(div)
    }
}

fn required<'a>(members: &'a Map<String, Value>, name: &'static str) -> Result<&'a Value, Error> {
    members.get(name).ok_or(Error::MissingMember {
        segment: Segment::Payload,
        name,
    })
}

fn type_error(name: &'static str, expected: &'static str, value: &Value) -> Error {
    Error::MemberType {
        segment: Segment::Payload,
        name,
        expected,
        found: describe(value),
    }
}

fn string<'a>(value: &'a Value, name: &'static str) -> Result<&'a str, Error> {
    value
        .as_str()
        .ok_or_else(|| type_error(name, "a string", value))
}

fn object<'a>(value: &'a Value, name: &'static str) -> Result<&'a Map<String, Value>, Error> {
    value
        .as_object()
        .ok_or_else(|| type_error(name, "an object", value))
}

/// `iat` is a NumericDate (RFC 8225 section 5.1.1, RFC 7519 section 2): a JSON
/// number, never a string, although the examples of RFC 8225 and RFC 8588 printed
/// one (errata 5985 and 6656). A fractional value is rounded down.
fn parse_iat(value: &Value) -> Result<i64, Error> {
    const EXPECTED: &str = "a JSON number (NumericDate)";
    if let Some(seconds) = value.as_i64() {
        return Ok(seconds);
    }
    match value.as_f64() {
        // The range check keeps the conversion exact enough and free of saturation.
        Some(seconds) if seconds.is_finite() && seconds.abs() < 9.0e15 =>
        {
            #[allow(clippy::cast_possible_truncation)]
            Ok(seconds.floor() as i64)
        }
        _ => Err(type_error("iat", EXPECTED, value)),
    }
}

fn parse_orig(value: &Value) -> Result<Orig, Error> {
    const EXPECTED: &str = "an object with one string member, tn or uri";
    let members = value
        .as_object()
        .ok_or_else(|| type_error("orig", EXPECTED, value))?;
    let tn = members.get("tn");
    let uri = members.get("uri");
    match (tn, uri) {
        (Some(tn), None) => {
            let tn = tn
                .as_str()
                .ok_or_else(|| type_error("orig.tn", "a string", tn))?;
            check_tn_characters("orig.tn", tn)?;
            Ok(Orig::Tn(tn.to_owned()))
        }
        (None, Some(uri)) => Ok(Orig::Uri(
            uri.as_str()
                .ok_or_else(|| type_error("orig.uri", "a string", uri))?
                .to_owned(),
        )),
        _ => Err(type_error("orig", EXPECTED, value)),
    }
}

fn parse_dest(value: &Value) -> Result<Dest, Error> {
    const EXPECTED: &str = "an object with tn or uri arrays";
    let members = value
        .as_object()
        .ok_or_else(|| type_error("dest", EXPECTED, value))?;
    let dest = Dest {
        tn: string_array(members.get("tn"), "dest.tn")?,
        uri: string_array(members.get("uri"), "dest.uri")?,
    };
    if dest.tn.is_empty() && dest.uri.is_empty() {
        return Err(type_error("dest", EXPECTED, value));
    }
    for tn in &dest.tn {
        check_tn_characters("dest.tn", tn)?;
    }
    Ok(dest)
}

fn string_array(value: Option<&Value>, name: &'static str) -> Result<Vec<String>, Error> {
    const EXPECTED: &str = "an array of strings";
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let items = value
        .as_array()
        .ok_or_else(|| type_error(name, EXPECTED, value))?;
    items
        .iter()
        .map(|item| {
            item.as_str()
                .map(str::to_owned)
                .ok_or_else(|| type_error(name, EXPECTED, value))
        })
        .collect()
}

fn parse_div(value: &Value) -> Result<Div, Error> {
    const EXPECTED: &str = "an object with a string tn or uri";
    let members = object(value, "div")?;
    let optional = |key: &str, name: &'static str| -> Result<Option<String>, Error> {
        members
            .get(key)
            .map(|v| string(v, name).map(str::to_owned))
            .transpose()
    };
    let div = Div {
        hi: optional("hi", "div.hi")?,
        tn: optional("tn", "div.tn")?,
        uri: optional("uri", "div.uri")?,
    };
    if div.tn.is_none() && div.uri.is_none() {
        return Err(type_error("div", EXPECTED, value));
    }
    if let Some(tn) = &div.tn {
        check_tn_characters("div.tn", tn)?;
    }
    Ok(div)
}

fn parse_rph(value: &Value) -> Result<Rph, Error> {
    let members = object(value, "rph")?;
    Ok(Rph {
        auth: string_array(members.get("auth"), "rph.auth")?,
    })
}

/// Rejects a `tn` value that is not a telephone number even after separators are
/// removed. Whether a non-canonical but valid number passes is the profile's call.
fn check_tn_characters(claim: &'static str, value: &str) -> Result<(), Error> {
    tn::canonicalize(value)
        .map(|_| ())
        .map_err(|error| Error::InvalidTn {
            claim,
            value: value.to_owned(),
            reason: error.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("test input is an object"),
        }
    }

    fn base() -> Value {
        json!({"attest":"A","dest":{"tn":["12025550101"]},"iat":1796396400,
               "orig":{"tn":"12025550100"},"origid":"8d7c1b5e-2f3a-4c6d-9e0f-1a2b3c4d5e6f"})
    }

    #[test]
    fn shaken_claims_typed() {
        let claims = Claims::from_map(&map(base())).unwrap();
        assert_eq!(claims.attest, Some(Attestation::A));
        assert_eq!(claims.iat, 1796396400);
        assert_eq!(claims.orig, Orig::Tn("12025550100".into()));
        assert_eq!(claims.dest.tn, vec!["12025550101".to_owned()]);
    }

    #[test]
    fn serialization_is_sorted_and_compact() {
        let claims = Claims::from_map(&map(base())).unwrap();
        let json = claims.to_json().unwrap();
        // serde_json's Value map is ordered by key, so re-encoding it sorts the keys.
        let sorted = serde_json::to_vec(&serde_json::from_slice::<Value>(&json).unwrap()).unwrap();
        assert_eq!(json, sorted);
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#"{"attest":"A","dest":{"tn":["12025550101"]},"iat":1796396400,"orig":{"tn":"12025550100"},"origid":"8d7c1b5e-2f3a-4c6d-9e0f-1a2b3c4d5e6f"}"#
        );
    }

    #[test]
    fn every_optional_claim_serializes_sorted() {
        let mut value = base();
        value["crn"] = json!("Rebooking");
        value["div"] = json!({"tn":"12025550199","hi":"1.1"});
        value["rcd"] = json!({"nam":"Example","icn":"https://x/i.png"});
        value["rcdi"] = json!({"/icn":"sha256-abc"});
        value["rph"] = json!({"auth":["ets.0"]});
        let claims = Claims::from_map(&map(value)).unwrap();
        let json = claims.to_json().unwrap();
        let sorted = serde_json::to_vec(&serde_json::from_slice::<Value>(&json).unwrap()).unwrap();
        assert_eq!(json, sorted);
    }

    #[test]
    fn iat_string_rejected() {
        let mut value = base();
        value["iat"] = json!("1796396400");
        assert_eq!(
            Claims::from_map(&map(value)),
            Err(Error::MemberType {
                segment: Segment::Payload,
                name: "iat",
                expected: "a JSON number (NumericDate)",
                found: "string \"1796396400\"".into()
            })
        );
    }

    #[test]
    fn iat_missing_rejected() {
        let mut value = base();
        value.as_object_mut().unwrap().remove("iat");
        assert_eq!(
            Claims::from_map(&map(value)),
            Err(Error::MissingMember {
                segment: Segment::Payload,
                name: "iat"
            })
        );
    }

    #[test]
    fn dest_tn_must_be_array() {
        let mut value = base();
        value["dest"] = json!({"tn":"12025550101"});
        assert!(matches!(
            Claims::from_map(&map(value)),
            Err(Error::MemberType {
                name: "dest.tn",
                ..
            })
        ));
    }

    #[test]
    fn stringified_orig_rejected() {
        let mut value = base();
        value["orig"] = json!("{\"tn\":\"12025550100\"}");
        assert!(matches!(
            Claims::from_map(&map(value)),
            Err(Error::MemberType { name: "orig", .. })
        ));
    }

    #[test]
    fn orig_with_both_members_rejected() {
        let mut value = base();
        value["orig"] = json!({"tn":"1","uri":"sip:a@b"});
        assert!(matches!(
            Claims::from_map(&map(value)),
            Err(Error::MemberType { name: "orig", .. })
        ));
    }

    #[test]
    fn attest_outside_abc_rejected() {
        for bad in ["X", "a", "", "AB"] {
            let mut value = base();
            value["attest"] = json!(bad);
            assert_eq!(
                Claims::from_map(&map(value)),
                Err(Error::InvalidAttest { found: bad.into() })
            );
        }
    }

    #[test]
    fn origid_empty_rejected_and_opaque_kept() {
        let mut value = base();
        value["origid"] = json!("");
        assert_eq!(Claims::from_map(&map(value)), Err(Error::EmptyOrigid));

        let mut value = base();
        value["origid"] = json!("ref");
        assert_eq!(
            Claims::from_map(&map(value)).unwrap().origid.as_deref(),
            Some("ref")
        );
    }

    #[test]
    fn tn_letters_rejected() {
        let mut value = base();
        value["orig"] = json!({"tn":"fdsvgas"});
        assert!(matches!(
            Claims::from_map(&map(value)),
            Err(Error::InvalidTn {
                claim: "orig.tn",
                ..
            })
        ));
    }

    #[test]
    fn unknown_claims_kept() {
        let mut value = base();
        value["iss"] = json!("someone");
        let claims = Claims::from_map(&map(value)).unwrap();
        assert_eq!(claims.other.get("iss"), Some(&json!("someone")));
    }

    #[test]
    fn fractional_iat_floored() {
        let mut value = base();
        value["iat"] = json!(1796396400.7);
        assert_eq!(Claims::from_map(&map(value)).unwrap().iat, 1796396400);
    }
}

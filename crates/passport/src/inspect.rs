//! Field-by-field explanation of an Identity header, verified or not.
//!
//! Inspection decodes as much as it can and reports each defect instead of
//! stopping at the first one, so a garbled header still shows its readable parts.
//! Nothing here is verified: the signature, the certificate, freshness and the
//! numbers need a key, a clock and a request.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::claims::{Claims, Header};
use crate::error::{Error, Segment};
use crate::identity::{IdentityHeader, Token};
use crate::verify::{
    Profile, check_alg, check_ppt, check_ppt_claims, check_tn_canonical, check_typ,
    check_x5u_matches_info,
};
use crate::{base64url, json, jws};

/// Everything decoded from one Identity header value, all of it unverified.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// Always false: inspection verifies nothing.
    pub verified: bool,
    /// The Identity header parameters, when the header parsed.
    pub parameters: Option<Parameters>,
    /// `full`, `compact` or `unknown`.
    pub form: &'static str,
    /// The decoded protected header.
    pub header: Option<Map<String, Value>>,
    /// The decoded claims.
    pub claims: Option<Map<String, Value>>,
    /// The signature length in bytes, when it decoded.
    pub signature_length: Option<usize>,
    /// The main SHAKEN fields, taken from the decoded JSON as they are.
    pub summary: Summary,
    /// Defects found, one sentence each.
    pub findings: Vec<String>,
    /// Checks that inspection cannot run.
    pub not_checked: Vec<&'static str>,
}

/// The Identity header parameters.
#[derive(Debug, Clone, Serialize)]
pub struct Parameters {
    /// The `info` URI.
    pub info: String,
    /// The `alg` parameter.
    pub alg: Option<String>,
    /// The `ppt` parameter, unquoted.
    pub ppt: Option<String>,
    /// Whether `ppt` was a quoted string.
    pub ppt_quoted: bool,
    /// Other parameters.
    pub extensions: Vec<(String, Option<String>)>,
}

/// The SHAKEN fields most often asked about.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// The PASSporT type from the protected header.
    pub ppt: Option<String>,
    /// The certificate URL from the protected header.
    pub x5u: Option<String>,
    /// Attestation level.
    pub attest: Option<Value>,
    /// Origination identifier.
    pub origid: Option<Value>,
    /// Originating identity.
    pub orig: Option<Value>,
    /// Destination identities.
    pub dest: Option<Value>,
    /// Issued-at time as signed.
    pub iat: Option<Value>,
}

/// Decodes an Identity header value and lists every defect found without a key,
/// a clock or a request.
pub fn inspect(value: &str) -> Inspection {
    let mut inspection = Inspection {
        verified: false,
        parameters: None,
        form: "unknown",
        header: None,
        claims: None,
        signature_length: None,
        summary: Summary::default(),
        findings: Vec::new(),
        not_checked: vec![
            "signature",
            "certificate and its chain",
            "iat freshness",
            "orig and dest against the request",
        ],
    };

    let parsed = IdentityHeader::parse(value);
    let token = match &parsed {
        Ok(identity) => {
            inspection.parameters = Some(Parameters {
                info: identity.info.clone(),
                alg: identity.alg.as_ref().map(|a| a.value.clone()),
                ppt: identity.ppt().map(str::to_owned),
                ppt_quoted: identity.ppt.as_ref().is_some_and(|p| p.quoted),
                extensions: identity.extensions.clone(),
            });
            identity.token.as_text().into_owned()
        }
        Err(error) => {
            inspection.findings.push(format!("header: {error}"));
            value
                .trim()
                .split([';', ' ', '\t'])
                .next()
                .unwrap_or("")
                .to_owned()
        }
    };

    decode_segments(&token, &mut inspection);
    if let Ok(identity) = &parsed {
        run_checks(identity, &mut inspection);
    }
    inspection
}

fn decode_segments(token: &str, inspection: &mut Inspection) {
    let segments: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = segments.as_slice() else {
        inspection.findings.push(
            Error::SegmentCount {
                found: segments.len(),
            }
            .to_string(),
        );
        return;
    };

    if header.is_empty() && payload.is_empty() {
        inspection.form = "compact";
        inspection.findings.push(
            "compact form: the header and claims are rebuilt from the SIP request, and SHAKEN requires the full form".to_owned(),
        );
    } else {
        inspection.form = "full";
        inspection.header = decode_object(Segment::Header, header, inspection);
        inspection.claims = decode_object(Segment::Payload, payload, inspection);
    }
    match jws::decode_signature(signature) {
        Ok(bytes) => inspection.signature_length = Some(bytes.len()),
        Err(error) => inspection.findings.push(error.to_string()),
    }

    if let Some(header) = &inspection.header {
        inspection.summary.ppt = header.get("ppt").and_then(Value::as_str).map(str::to_owned);
        inspection.summary.x5u = header.get("x5u").and_then(Value::as_str).map(str::to_owned);
    }
    if let Some(claims) = &inspection.claims {
        inspection.summary.attest = claims.get("attest").cloned();
        inspection.summary.origid = claims.get("origid").cloned();
        inspection.summary.orig = claims.get("orig").cloned();
        inspection.summary.dest = claims.get("dest").cloned();
        inspection.summary.iat = claims.get("iat").cloned();
    }
}

fn decode_object(
    segment: Segment,
    text: &str,
    inspection: &mut Inspection,
) -> Option<Map<String, Value>> {
    let bytes = match base64url::decode(text) {
        Ok(bytes) => bytes,
        Err(reason) => {
            inspection
                .findings
                .push(Error::Base64 { segment, reason }.to_string());
            return None;
        }
    };
    match json::parse_object(segment, &bytes) {
        Ok(map) => {
            // serde_json's map is ordered by key, so this is the deterministic form.
            let canonical = serde_json::to_vec(&map).unwrap_or_default();
            if canonical != bytes {
                inspection.findings.push(format!(
                    "{segment} JSON is not in the deterministic form of RFC 8225 section 9 (key order or whitespace); the signature still covers it as sent"
                ));
            }
            Some(map)
        }
        Err(error) => {
            inspection.findings.push(error.to_string());
            None
        }
    }
}

/// Runs the checks that need neither key nor clock, under the strict profile so
/// that every deviation is listed.
fn run_checks(identity: &IdentityHeader, inspection: &mut Inspection) {
    let mut findings = Vec::new();
    if let Some(header) = inspection.header.clone().map(Header::from_map) {
        let mut warnings = Vec::new();
        let results = [
            check_alg(&header, identity),
            check_typ(&header),
            check_ppt(&header, identity, Profile::Strict, &mut warnings).map(|_| ()),
            check_x5u_matches_info(&header, identity).map(|_| ()),
        ];
        findings.extend(results.into_iter().filter_map(Result::err));
    }
    if let Some(claims) = &inspection.claims {
        let ppt = inspection.summary.ppt.as_deref();
        match Claims::from_map(claims) {
            Ok(typed) => {
                let mut warnings = Vec::new();
                findings.extend(check_ppt_claims(ppt, &typed).err());
                findings.extend(check_tn_canonical(&typed, Profile::Strict, &mut warnings).err());
                if let Some(origid) = &typed.origid
                    && !is_uuid(origid)
                {
                    inspection.findings.push(format!(
                        "origid '{origid}' is not a UUID; RFC 8588 section 5 treats it as opaque"
                    ));
                }
            }
            Err(error) => findings.push(error),
        }
    }
    if matches!(identity.token, Token::Compact { .. }) && identity.ppt() == Some(crate::PPT_SHAKEN)
    {
        findings.push(Error::CompactFormShaken);
    }
    inspection
        .findings
        .extend(findings.into_iter().map(|error| error.to_string()));
}

fn is_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            8 | 13 | 18 | 23 => *byte == b'-',
            _ => byte.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_shape() {
        assert!(is_uuid("8d7c1b5e-2f3a-4c6d-9e0f-1a2b3c4d5e6f"));
        assert!(!is_uuid("ref"));
        assert!(!is_uuid("8d7c1b5e-2f3a-4c6d-9e0f-1a2b3c4d5e6g"));
    }

    #[test]
    fn empty_value_reports_empty_token() {
        let inspection = inspect("");
        assert!(!inspection.verified);
        assert!(
            inspection
                .findings
                .iter()
                .any(|f| f.contains("no PASSporT")),
            "{:?}",
            inspection.findings
        );
    }
}

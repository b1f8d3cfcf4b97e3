//! The SIP verification vectors of testdata/vectors.jsonl, run through
//! `verify_request` with each x5u resolved to a local file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use certstore::{Trust, TrustedCert};
use passport::{Options, Profile};
use serde_json::Value;
use service::{
    CertificateError, CertificateFuture, CertificateSource, VerifyPolicy, VerifyRequest, Verstat,
};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

fn vectors() -> Vec<Value> {
    let text = std::fs::read_to_string(data_dir().join("vectors.jsonl")).unwrap();
    text.lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|vector| vector["kind"] == "sip-verify")
        .collect()
}

/// Resolves x5u URLs through the vector's map to local files and validates the
/// chain against the vector's trust anchors at the vector's time.
struct MappedFiles {
    files: HashMap<String, PathBuf>,
    anchors: Vec<cert::Certificate>,
    at: i64,
}

impl CertificateSource for MappedFiles {
    fn certificate_for<'a>(&'a self, x5u: &'a str, _at: i64) -> CertificateFuture<'a> {
        Box::pin(std::future::ready(self.lookup(x5u)))
    }
}

impl MappedFiles {
    fn lookup(&self, x5u: &str) -> Result<Arc<TrustedCert>, CertificateError> {
        // A fetching source refuses what the x5u policy refuses before any I/O.
        certstore::x5u_policy::check_url(x5u, &certstore::x5u_policy::X5uPolicy::default())
            .map_err(|error| CertificateError::Unavailable(error.to_string()))?;
        let path = self
            .files
            .get(x5u)
            .ok_or_else(|| CertificateError::Unavailable(format!("no file for {x5u}")))?;
        let chain = cert::parse_chain(&std::fs::read(path).unwrap())
            .map_err(|error| CertificateError::Unavailable(error.to_string()))?;
        let trust = Trust::new(
            cert::TrustStore::from_certificates(self.anchors.clone()),
            None,
        );
        TrustedCert::from_chain(x5u, chain, Some(&trust), self.at)
            .map(Arc::new)
            .map_err(|error| CertificateError::Unsupported(error.to_string()))
    }
}

fn verify_request(
    request: &VerifyRequest,
    source: &dyn CertificateSource,
    policy: &VerifyPolicy,
) -> service::Verdict {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(service::verify_request(request, source, policy))
}

fn request_of(vector: &Value) -> VerifyRequest {
    let input = &vector["input"];
    let sip = &input["sip"];
    let text = |value: &Value| value.as_str().map(str::to_owned);
    VerifyRequest {
        identities: input["identity"]
            .as_array()
            .unwrap()
            .iter()
            .map(|value| value.as_str().unwrap().to_owned())
            .collect(),
        orig: text(&sip["pai"]).or_else(|| text(&sip["from"])),
        to: text(&sip["to"]),
        request_uri: text(&sip["request_uri"]),
        date: sip["date"]
            .as_str()
            .map(|date| httpdate::parse_http_date(date).unwrap())
            .map(|time| {
                time.duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs() as i64
            }),
    }
}

fn source_of(vector: &Value) -> MappedFiles {
    let context = &vector["context"];
    let files = context["x5u_map"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(url, file)| (url.clone(), data_dir().join(file.as_str().unwrap())))
        .collect();
    let anchors = context["trust_anchors"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|file| {
            cert::parse_chain(&std::fs::read(data_dir().join(file.as_str().unwrap())).unwrap())
                .unwrap()
        })
        .collect();
    MappedFiles {
        files,
        anchors,
        at: vector["input"]["now"].as_i64().unwrap(),
    }
}

fn policy_of(vector: &Value, profile: Profile) -> VerifyPolicy {
    let input = &vector["input"];
    VerifyPolicy {
        options: Options {
            freshness: input["freshness_s"].as_u64().unwrap() as u32,
            profile,
            ..Options::at(input["now"].as_i64().unwrap())
        },
        require_identity: true,
    }
}

fn expected_verstat(expected: &Value) -> Verstat {
    match expected["verstat"].as_str().unwrap() {
        "TN-Validation-Passed" => Verstat::TnValidationPassed,
        "TN-Validation-Failed" => Verstat::TnValidationFailed,
        "No-TN-Validation" => Verstat::NoTnValidation,
        other => panic!("unknown verstat {other}"),
    }
}

/// Checks one vector's verdict against an expected block of the vector file.
fn check(vector: &Value, expected: &Value, profile: Profile) {
    let id = vector["id"].as_str().unwrap();
    let verdict = verify_request(
        &request_of(vector),
        &source_of(vector),
        &policy_of(vector, profile),
    );

    assert_eq!(
        verdict.verstat,
        expected_verstat(expected),
        "{id}: {verdict:?}"
    );
    match expected["result"].as_str().unwrap() {
        "valid" => {
            assert_eq!(verdict.failure, None, "{id}");
            let attest = verdict.attestation.map(|a| a.as_str().to_owned());
            if let Some(expected_attest) = expected.get("attest") {
                assert_eq!(attest.as_deref(), expected_attest.as_str(), "{id}");
            }
        }
        "invalid" => {
            let failure = verdict
                .failure
                .as_ref()
                .unwrap_or_else(|| panic!("{id}: no failure"));
            assert_eq!(
                u64::from(failure.response.code),
                expected["sip_response"].as_u64().unwrap(),
                "{id}: {failure:?}"
            );
        }
        other => panic!("{id}: unknown result {other}"),
    }
}

#[test]
fn sip_verify_vectors() {
    let vectors = vectors();
    assert_eq!(vectors.len(), 31, "the vector file changed");

    let mut ran = 0;
    for vector in &vectors {
        let expected = &vector["expected"];
        if expected["profile"] == "strict" {
            check(vector, expected, Profile::Strict);
            check(vector, &expected["default_profile"], Profile::Lenient);
        } else {
            check(vector, expected, Profile::Lenient);
        }
        ran += 1;
    }
    assert_eq!(ran, vectors.len());
}

#[test]
fn default_profile_warns_on_deviations() {
    for id in [
        "syn-ppt-param-missing",
        "syn-tn-with-plus",
        "syn-valid-shaken-A-ppt-quoted",
    ] {
        let vector = vectors().into_iter().find(|v| v["id"] == id).unwrap();
        let verdict = verify_request(
            &request_of(&vector),
            &source_of(&vector),
            &policy_of(&vector, Profile::Lenient),
        );
        assert_eq!(verdict.verstat, Verstat::TnValidationPassed, "{id}");
        assert!(!verdict.warnings.is_empty(), "{id}: no warning");
    }
}

#[test]
fn failing_check_named() {
    let cases = [
        ("syn-stale-iat-61s", passport::Check::Freshness),
        ("syn-tampered-payload", passport::Check::Signature),
        ("syn-signature-der-encoded", passport::Check::HeaderParse),
        ("syn-x5u-info-mismatch", passport::Check::InfoX5u),
        ("syn-orig-mismatch-from", passport::Check::Numbers),
        ("syn-iat-as-string", passport::Check::Claims),
        ("syn-no-identity", passport::Check::IdentityPresent),
    ];
    let vectors = vectors();
    for (id, check) in cases {
        let vector = vectors.iter().find(|v| v["id"] == id).unwrap();
        let verdict = verify_request(
            &request_of(vector),
            &source_of(vector),
            &policy_of(vector, Profile::Lenient),
        );
        assert_eq!(verdict.failure.unwrap().check, check, "{id}");
    }
}

//! The real SHAKEN certificates of testdata/corpus: every one parses, every
//! end-entity TNAuthList decodes, and path validation agrees with
//! `openssl verify`, whose results scripts/corpus-openssl.py recorded.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::{BTreeMap, HashMap};
use std::io::Read as _;

use base64::Engine as _;
use cert::{Certificate, ValidationError, parse_chain, validate_path};
use serde_json::Value;

fn corpus_file(name: &str) -> String {
    format!(
        "{}/../../testdata/corpus/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

struct Entry {
    is_ca: bool,
    certificate: Certificate,
    peer_lints: Vec<String>,
}

/// Loads every certificate of the corpus by the SHA-256 of its DER.
fn corpus() -> HashMap<String, Entry> {
    let file = std::fs::File::open(corpus_file("real-certs.jsonl.gz")).unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .unwrap();
    text.lines()
        .map(|line| {
            let record: Value = serde_json::from_str(line).unwrap();
            let sha256 = record["sha256"].as_str().unwrap().to_owned();
            let der = base64::engine::general_purpose::STANDARD
                .decode(record["der_b64"].as_str().unwrap())
                .unwrap();
            let certificate = parse_chain(&der)
                .unwrap_or_else(|error| panic!("{sha256} does not parse: {error}"))
                .remove(0);
            let entry = Entry {
                is_ca: record["is_ca"].as_bool().unwrap(),
                certificate,
                peer_lints: record["peer_lints"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|lint| lint.as_str().unwrap().to_owned())
                    .collect(),
            };
            (sha256, entry)
        })
        .collect()
}

#[test]
fn every_certificate_parses() {
    let corpus = corpus();
    assert_eq!(corpus.len(), 6678);
}

/// Every end-entity TNAuthList decodes, except the malformed ones, which the
/// peer linter flags too (its TNAuthList rule requires the RFC 8226 form).
#[test]
fn end_entity_tnauthlists_decode() {
    let corpus = corpus();
    let mut with_list = 0;
    let mut without = Vec::new();
    let mut spc_only = 0;
    let mut malformed = Vec::new();
    for (sha256, entry) in &corpus {
        if entry.is_ca {
            continue;
        }
        match &entry.certificate.tn_auth_list {
            Some(Ok(list)) => {
                with_list += 1;
                if list
                    .entries()
                    .iter()
                    .all(|e| matches!(e, cert::tnauthlist::TnEntry::Spc(_)))
                {
                    spc_only += 1;
                }
            }
            Some(Err(error)) => {
                let flagged = entry
                    .peer_lints
                    .iter()
                    .any(|lint| lint.ends_with("_tn_auth_list"));
                assert!(
                    flagged,
                    "{sha256}: TNAuthList does not decode ({error}) and the peer linter accepts it"
                );
                malformed.push(format!("{sha256}: {error}"));
            }
            None => without.push(sha256.clone()),
        }
    }
    eprintln!(
        "end-entity certificates: {with_list} with TNAuthList ({spc_only} SPC only), {} malformed, {} without",
        malformed.len(),
        without.len()
    );
    for line in &malformed {
        eprintln!("malformed TNAuthList: {line}");
    }
    assert!(with_list > 6000, "{with_list}");
    assert!(malformed.len() < 20, "{malformed:?}");
    assert!(without.len() < 20, "{without:?}");
}

/// Kinds of disagreement with openssl that follow from a deliberate rule, each
/// with the reason. A disagreement of any other kind fails the test.
fn explained(stird: &Result<(), ValidationError>, openssl_ok: bool) -> Option<&'static str> {
    match (stird, openssl_ok) {
        // ES256 needs a P-256 key; openssl validates any key type.
        (Err(ValidationError::SubscriberKeyNotP256 { .. }), true) => {
            Some("subscriber key is not P-256")
        }
        // SHAKEN subscriber certificates sign PASSporTs, so a keyUsage without
        // digitalSignature cannot serve; openssl's default purpose does not check it.
        (Err(ValidationError::MissingDigitalSignature { .. }), true) => {
            Some("keyUsage lacks digitalSignature")
        }
        _ => None,
    }
}

#[test]
fn validation_agrees_with_openssl() {
    let corpus = corpus();
    let text = std::fs::read_to_string(corpus_file("openssl-verify.jsonl")).unwrap();
    let mut agree = 0;
    let mut total = 0;
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut unexplained = Vec::new();

    for line in text.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        let sha256 = record["sha256"].as_str().unwrap();
        let certificates = |key: &str| -> Vec<Certificate> {
            record[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| corpus[h.as_str().unwrap()].certificate.clone())
                .collect()
        };
        let mut chain = vec![corpus[sha256].certificate.clone()];
        chain.extend(certificates("intermediates"));
        let roots = certificates("roots");

        for moment in ["inside", "after"] {
            let at = record[moment]["time"].as_i64().unwrap();
            let openssl_ok = record[moment]["ok"].as_bool().unwrap();
            let stird = validate_path(&chain, &roots, at).map(|_| ());
            total += 1;
            if stird.is_ok() == openssl_ok {
                agree += 1;
                continue;
            }
            match explained(&stird, openssl_ok) {
                Some(reason) => *reasons.entry(reason.to_owned()).or_default() += 1,
                None => unexplained.push(format!(
                    "{sha256} at {moment} {at}: stird {stird:?}, openssl {}",
                    record[moment]["error"]
                )),
            }
        }
    }

    eprintln!(
        "agreement with openssl verify: {agree} of {total}; explained differences: {reasons:?}"
    );
    assert!(total > 1000, "{total}");
    assert!(
        unexplained.is_empty(),
        "{} unexplained:\n{}",
        unexplained.len(),
        unexplained[..unexplained.len().min(20)].join("\n")
    );
}

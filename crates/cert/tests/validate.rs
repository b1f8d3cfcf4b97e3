//! Path validation on the synthetic test PKI, the libstirshaken test certificates
//! and a real Martini Security chain.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use cert::{Certificate, ValidationError, parse_chain, validate_path};

fn load(name: &str) -> Vec<Certificate> {
    let path = format!("{}/../../testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    parse_chain(&std::fs::read(&path).unwrap()).unwrap()
}

/// 2025-06-15T15:06:40Z, inside every synthetic certificate's validity.
const SYNTHETIC_TIME: i64 = 1_750_000_005;

#[test]
fn synthetic_chain_validates() {
    let path = validate_path(
        &load("synthetic/syn-x5u-ee-123J.pem"),
        &load("synthetic/syn-root.pem"),
        SYNTHETIC_TIME,
    )
    .unwrap();
    assert_eq!(path.certificates.len(), 3);
    assert!(path.certificates[0].subject.contains("SHAKEN 123J"));
    assert!(path.certificates[2].subject.contains("TEST ROOT"));
}

#[test]
fn intermediates_in_any_order() {
    let mut chain = load("synthetic/syn-x5u-ee-123J.pem");
    chain.push(load("synthetic/syn-other-root.pem").remove(0));
    chain.swap(1, 2);
    assert!(validate_path(&chain, &load("synthetic/syn-root.pem"), SYNTHETIC_TIME).is_ok());
}

#[test]
fn untrusted_root_rejected() {
    let error = validate_path(
        &load("synthetic/syn-x5u-other-ee.pem"),
        &load("synthetic/syn-root.pem"),
        SYNTHETIC_TIME,
    )
    .unwrap_err();
    assert!(
        matches!(
            error,
            ValidationError::UnknownIssuer { .. } | ValidationError::UntrustedRoot { .. }
        ),
        "{error}"
    );
}

#[test]
fn leaf_without_intermediate_rejected() {
    let leaf_only = load("synthetic/syn-ee-123J.pem");
    let error =
        validate_path(&leaf_only, &load("synthetic/syn-root.pem"), SYNTHETIC_TIME).unwrap_err();
    assert!(
        matches!(error, ValidationError::UnknownIssuer { .. }),
        "{error}"
    );
}

#[test]
fn expired_subscriber_rejected() {
    let error = validate_path(
        &load("synthetic/syn-x5u-ee-expired.pem"),
        &load("synthetic/syn-root.pem"),
        SYNTHETIC_TIME,
    )
    .unwrap_err();
    assert!(matches!(error, ValidationError::Expired { .. }), "{error}");
    assert!(error.to_string().contains("SHAKEN 123J"), "{error}");
}

#[test]
fn not_yet_valid_rejected() {
    let error = validate_path(
        &load("synthetic/syn-x5u-ee-123J.pem"),
        &load("synthetic/syn-root.pem"),
        1_600_000_000,
    )
    .unwrap_err();
    assert!(
        matches!(error, ValidationError::NotYetValid { .. }),
        "{error}"
    );
}

#[test]
fn real_martini_chain_validates_then_expires() {
    let chain = load("certs/real-martini-x5u-chain.pem");
    let root = load("certs/real-martini-r1-root.pem");
    let path = validate_path(&chain, &root, 1_696_000_000).unwrap();
    assert!(
        path.certificates[0].subject.contains("SHAKEN 709J"),
        "{path:?}"
    );

    // The end-entity certificate expired at 2023-10-21T17:35:16Z.
    let error = validate_path(&chain, &root, 1_697_909_717).unwrap_err();
    assert!(
        matches!(
            error,
            ValidationError::Expired {
                not_after: 1_697_909_716,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn libstirshaken_wrong_ca_rejected() {
    let error = validate_path(
        &load("certs/libstirshaken-wrongsp.pem"),
        &load("certs/libstirshaken-ca.pem"),
        1_616_442_528,
    )
    .unwrap_err();
    assert!(
        matches!(error, ValidationError::UnknownIssuer { .. }),
        "{error}"
    );
}

#[test]
fn wrong_anchor_rejected() {
    let error = validate_path(
        &load("certs/real-martini-x5u-chain.pem"),
        &load("synthetic/syn-root.pem"),
        1_696_000_000,
    )
    .unwrap_err();
    assert!(
        matches!(error, ValidationError::UnknownIssuer { .. }),
        "{error}"
    );
}

#[test]
fn p384_subscriber_rejected() {
    let chain = load("certs/pyasn1-rfc8226-example-ee.pem");
    let error = validate_path(&chain, &chain, chain[0].not_before + 1).unwrap_err();
    assert!(
        matches!(error, ValidationError::SubscriberKeyNotP256 { .. }),
        "{error}"
    );
}

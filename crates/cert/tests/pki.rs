//! Path validation and revocation on the test PKI of testdata/pki, where each
//! broken certificate differs from the good subscriber certificate in one rule.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;

use cert::{
    Certificate, CrlError, CrlPolicy, CrlStore, Revocation, ValidationError, parse_chain,
    validate_path, validate_path_with_crls,
};

/// 2026-12-04T15:00:00Z, inside the test PKI's validity.
const T0: i64 = 1_796_396_400;

fn path(name: &str) -> PathBuf {
    PathBuf::from(format!(
        "{}/../../testdata/pki/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
}

fn load(name: &str) -> Vec<Certificate> {
    parse_chain(&std::fs::read(path(name)).unwrap()).unwrap()
}

fn validate(chain: &str) -> Result<cert::ValidatedPath, ValidationError> {
    validate_path(&load(chain), &load("root.pem"), T0)
}

fn crls(files: &[&str]) -> CrlStore {
    let files: Vec<PathBuf> = files.iter().map(|name| path(name)).collect();
    CrlStore::load(&files, &[], CrlPolicy::default()).unwrap()
}

#[test]
fn subscriber_validates() {
    let validated = validate("subscriber-chain.pem").unwrap();
    assert_eq!(validated.certificates.len(), 3);
    assert_eq!(validated.revocation, Revocation::NotChecked);
}

#[test]
fn expired_rejected() {
    assert!(matches!(
        validate("expired-chain.pem"),
        Err(ValidationError::Expired { .. })
    ));
}

#[test]
fn not_yet_valid_rejected() {
    assert!(matches!(
        validate("not-yet-valid-chain.pem"),
        Err(ValidationError::NotYetValid { .. })
    ));
}

#[test]
fn wrong_issuer_rejected() {
    let error = validate("wrong-issuer-chain.pem").unwrap_err();
    assert!(
        matches!(error, ValidationError::UnknownIssuer { .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("Other Untrusted Root"),
        "{error}"
    );
}

#[test]
fn ca_bit_missing_rejected() {
    let error = validate("ca-bit-missing-chain.pem").unwrap_err();
    assert!(matches!(error, ValidationError::NotCa { .. }), "{error}");
    assert!(error.to_string().contains("Not CA"), "{error}");
}

#[test]
fn path_length_exceeded() {
    let error = validate("path-length-chain.pem").unwrap_err();
    assert_eq!(
        error,
        ValidationError::PathLenExceeded {
            certificate: cert::Named {
                subject: load("intermediate.pem")[0].subject.clone(),
                serial: load("intermediate.pem")[0].serial.clone(),
            },
            allowed: 0,
            found: 1,
        }
    );
}

#[test]
fn unknown_critical_extension_rejected() {
    let error = validate("unknown-critical-chain.pem").unwrap_err();
    assert!(
        matches!(&error, ValidationError::UnknownCriticalExtension { oid, .. } if oid == "1.3.6.1.4.1.55555.1"),
        "{error}"
    );
}

#[test]
fn p384_subscriber_rejected() {
    assert!(matches!(
        validate("p384-chain.pem"),
        Err(ValidationError::SubscriberKeyNotP256 { .. })
    ));
}

#[test]
fn key_cert_sign_only_subscriber_rejected() {
    assert!(matches!(
        validate("key-usage-keycertsign-chain.pem"),
        Err(ValidationError::MissingDigitalSignature { .. })
    ));
}

/// certificatePolicies marked critical: real STI-CAs issued such certificates,
/// and openssl accepts them too.
#[test]
fn critical_policies_accepted() {
    assert!(validate("critical-policies-chain.pem").is_ok());
}

#[test]
fn no_tnauthlist_path_valid_but_flagged() {
    // The path is valid; the verification service rejects the missing TNAuthList.
    assert!(validate("no-tnauthlist-chain.pem").is_ok());
    assert_eq!(load("no-tnauthlist.pem")[0].tn_auth_list, None);
    assert!(matches!(
        load("subscriber.pem")[0].tn_auth_list,
        Some(Ok(_))
    ));
}

#[test]
fn indirect_crl_passes_good_subscriber() {
    let store = crls(&["crl-certificate-issuer.pem", "crl-signer.pem"]);
    let validated =
        validate_path_with_crls(&load("subscriber-chain.pem"), &load("root.pem"), &store, T0)
            .unwrap();
    assert_eq!(validated.revocation, Revocation::Checked { notes: vec![] });
}

#[test]
fn indirect_crl_revokes() {
    for crl in ["crl-certificate-issuer.pem", "crl.pem"] {
        let store = crls(&[crl, "crl-signer.pem"]);
        let error =
            validate_path_with_crls(&load("revoked-chain.pem"), &load("root.pem"), &store, T0)
                .unwrap_err();
        assert!(
            matches!(&error, ValidationError::Revoked { reason, .. } if reason == "keyCompromise"),
            "{crl}: {error}"
        );
    }
}

#[test]
fn der_crl_loads() {
    let store = crls(&["crl.der", "crl-signer.pem"]);
    assert_eq!(store.len(), 1);
    assert!(
        validate_path_with_crls(&load("revoked-chain.pem"), &load("root.pem"), &store, T0).is_err()
    );
}

#[test]
fn revocation_after_time_not_applied() {
    // The CRL lists the revocation on 2026-11-15; at 2026-11-01 the certificate
    // was still good.
    let store = crls(&["crl.pem", "crl-signer.pem"]);
    let before = 1_793_491_200;
    assert!(
        validate_path_with_crls(
            &load("revoked-chain.pem"),
            &load("root.pem"),
            &store,
            before
        )
        .is_ok()
    );
}

#[test]
fn stale_crl_rejected_past_grace() {
    let store = crls(&["crl-stale.pem", "crl-signer.pem"]);
    let error =
        validate_path_with_crls(&load("subscriber-chain.pem"), &load("root.pem"), &store, T0)
            .unwrap_err();
    assert!(matches!(error, ValidationError::CrlStale { .. }), "{error}");

    let lenient = CrlPolicy {
        stale_grace: 365 * 24 * 3600,
        ..CrlPolicy::default()
    };
    let files = [path("crl-stale.pem"), path("crl-signer.pem")];
    let store = CrlStore::load(&files, &[], lenient).unwrap();
    let validated =
        validate_path_with_crls(&load("subscriber-chain.pem"), &load("root.pem"), &store, T0)
            .unwrap();
    assert!(matches!(validated.revocation, Revocation::Checked { notes } if notes.len() == 1));
}

#[test]
fn crl_without_signer_untrusted() {
    let store = crls(&["crl.pem"]);
    let error =
        validate_path_with_crls(&load("subscriber-chain.pem"), &load("root.pem"), &store, T0)
            .unwrap_err();
    assert!(
        matches!(error, ValidationError::CrlUntrusted { .. }),
        "{error}"
    );
}

#[test]
fn crl_signer_must_chain_to_anchor() {
    let store = crls(&["crl.pem", "crl-signer.pem"]);
    let chain = load("subscriber-chain.pem");
    // With the other root as the only anchor, neither the path nor the CRL signer validates.
    assert!(validate_path_with_crls(&chain, &load("other-root.pem"), &store, T0).is_err());
}

#[test]
fn missing_named_crl_rejected() {
    // The real subscriber certificate names the STI-PA's CRL, which is not loaded.
    let store = crls(&["crl.pem", "crl-signer.pem"]);
    let chain = parse_chain(
        &std::fs::read(format!(
            "{}/../../testdata/certs/real-martini-x5u-chain.pem",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let root = parse_chain(
        &std::fs::read(format!(
            "{}/../../testdata/certs/real-martini-r1-root.pem",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let error = validate_path_with_crls(&chain, &root, &store, 1_696_000_000).unwrap_err();
    assert!(
        matches!(&error, ValidationError::CrlMissing { crl_issuer, .. } if crl_issuer.contains("STI-PA CRL")),
        "{error}"
    );

    let optional = CrlPolicy {
        require_crl: false,
        ..CrlPolicy::default()
    };
    let files = [path("crl.pem"), path("crl-signer.pem")];
    let store = CrlStore::load(&files, &[], optional).unwrap();
    let validated = validate_path_with_crls(&chain, &root, &store, 1_696_000_000).unwrap();
    assert!(matches!(validated.revocation, Revocation::Checked { notes } if !notes.is_empty()));
}

#[test]
fn crl_loading_errors_named() {
    assert!(matches!(
        CrlStore::load(&[path("no-such.crl")], &[], CrlPolicy::default()),
        Err(CrlError::Read { .. })
    ));
    assert!(matches!(
        CrlStore::load(&[path("root.pem")], &[], CrlPolicy::default()),
        Err(CrlError::Empty { .. })
    ));
}

/// 2027-06-01T00:00:00Z: the delegate fixtures are valid from when they were made.
const DELEGATE_TIME: i64 = 1_811_808_000;

#[test]
fn delegate_inside_range_validates() {
    let validated = validate_path(
        &load("delegate/inside-chain.pem"),
        &load("root.pem"),
        DELEGATE_TIME,
    )
    .unwrap();
    assert_eq!(validated.certificates.len(), 3);
}

#[test]
fn delegate_outside_range_rejected() {
    let error = validate_path(
        &load("delegate/outside-chain.pem"),
        &load("root.pem"),
        DELEGATE_TIME,
    )
    .unwrap_err();
    assert!(
        matches!(error, ValidationError::TnAuthListNotEncompassed { .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("Delegate 12025559999"),
        "{error}"
    );
}

/// RFC 5280 section 4.2: an extension appears at most once, and a critical one
/// that cannot be decoded cannot be processed.
#[test]
fn repeated_or_malformed_key_usage_rejected() {
    let at = |seconds: i64| time::OffsetDateTime::from_unix_timestamp(seconds).unwrap();
    let root_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut root_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    root_params.not_before = at(T0 - 3600);
    root_params.not_after = at(T0 + 3600);
    root_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Test ROOT");
    root_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    root_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    let root_pem = root_params.self_signed(&root_key).unwrap().pem();
    let root = parse_chain(root_pem.as_bytes()).unwrap();
    let issuer = rcgen::Issuer::new(root_params, &root_key);

    for extra in [
        // A second keyUsage: keyCertSign.
        vec![0x03, 0x02, 0x02, 0x04],
        // A keyUsage BIT STRING with its length wrong.
        vec![0x03, 0x05, 0x00],
    ] {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.not_before = at(T0 - 60);
        params.not_after = at(T0 + 60);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "SHAKEN 999X");
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        let mut extension = rcgen::CustomExtension::from_oid_content(&[2, 5, 29, 15], extra);
        extension.set_criticality(true);
        params.custom_extensions = vec![extension];
        let leaf = params.signed_by(&key, &issuer).unwrap();
        let chain = parse_chain(leaf.pem().as_bytes()).unwrap();
        let error = validate_path(&chain, &root, T0).unwrap_err();
        assert!(
            matches!(error, ValidationError::BadExtension { .. }),
            "{error}"
        );
    }
}

/// An x5u document serves the signer's certificate first (RFC 7515 section
/// 4.1.5). Served the other way round, the first certificate is taken as the
/// signer, which fails, and no other certificate is tried.
#[test]
fn intermediate_first_not_reordered() {
    let mut chain = load("subscriber-chain.pem");
    chain.reverse();
    let error = validate_path(&chain, &load("root.pem"), T0).unwrap_err();
    assert!(
        matches!(error, ValidationError::MissingDigitalSignature { .. }),
        "{error}"
    );
}

/// The leaf, its intermediate and an unrelated certificate: the extra one is
/// ignored.
#[test]
fn unrelated_extra_certificate_ignored() {
    let mut chain = load("subscriber-chain.pem");
    chain.extend(load("other-root.pem"));
    assert!(validate_path(&chain, &load("root.pem"), T0).is_ok());
}

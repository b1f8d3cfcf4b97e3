//! The signing service over credentials built with the test PKI: selection,
//! attestation capping, and signatures that verify with the credential's key.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use certstore::{CredentialConfig, CredentialSet, CredentialStore};
use passport::tn::NumberPolicy;
use passport::{Attestation, Decoded, IdentityHeader};
use service::{AuthService, SignError, SignRequest};

const NOW: i64 = 1_796_396_400;

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn pki(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let options = cert::pki::PkiOptions {
        spc: "1234".into(),
        tn_ranges: vec![],
        tns: vec![],
        now: NOW,
        defects: vec![],
    };
    cert::pki::write(&path, &cert::pki::build(&options).unwrap()).unwrap();
    path
}

fn config(name: &str, pki: &Path) -> CredentialConfig {
    CredentialConfig {
        name: name.into(),
        key: pki.join("subscriber.key.pem"),
        chain: pki.join("chain.pem"),
        x5u: format!("https://cr.example.com/{name}.pem"),
        attest_max: "A".into(),
        attest_default: "B".into(),
        numbers: vec![],
        prefixes: vec![],
        ranges: vec![],
        trunks: vec![],
        default: false,
    }
}

fn service(name: &str) -> (TempDir, AuthService) {
    // One directory per test: the tests of this file run in parallel.
    let dir =
        std::env::temp_dir().join(format!("stird-service-auth-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let a = pki(&dir, "a");
    let b = pki(&dir, "b");
    let mut east = config("east", &a);
    east.prefixes = vec!["1202".into()];
    let mut trunk = config("trunk", &b);
    trunk.trunks = vec!["sbc-west".into()];
    trunk.attest_max = "B".into();
    let set = CredentialSet::load(&[east, trunk], NOW).unwrap();
    let store = Arc::new(CredentialStore::new(set));
    (
        TempDir(dir),
        AuthService::new(store, NumberPolicy::default()),
    )
}

fn request(orig: &str, trunk: Option<&str>, attest: Option<Attestation>) -> SignRequest {
    SignRequest {
        orig: orig.into(),
        dest: vec!["<sip:+12025550101@sbc.example.com;user=phone>".into()],
        trunk: trunk.map(str::to_owned),
        attest,
        origid: None,
        iat: NOW,
    }
}

#[test]
fn prefix_selects_and_signs() {
    let (_dir, service) = service("prefix");
    let signed = service
        .sign(&request(
            "\"Alice\" <sip:+1-202-555-0100@carrier.example.org;user=phone>;tag=1",
            None,
            Some(Attestation::A),
        ))
        .unwrap();
    assert_eq!(signed.credential, "east");
    assert_eq!(signed.attestation, Attestation::A);
    assert_eq!(signed.capped_from, None);
    let header = IdentityHeader::parse(&signed.identity).unwrap();
    let decoded = Decoded::from_identity(&header).unwrap();
    let claims = &decoded.payload;
    assert_eq!(claims["orig"]["tn"], "12025550100");
    assert_eq!(claims["dest"]["tn"][0], "12025550101");
    assert_eq!(claims["iat"], NOW);
    assert_eq!(claims["attest"], "A");
    assert_eq!(claims["origid"], signed.origid.as_str());
    assert_eq!(header.info, "https://cr.example.com/east.pem");
}

#[test]
fn trunk_policy_caps_attestation() {
    let (_dir, service) = service("trunk");
    let signed = service
        .sign(&request(
            "+14155550100",
            Some("sbc-west"),
            Some(Attestation::A),
        ))
        .unwrap();
    assert_eq!(signed.credential, "trunk");
    assert_eq!(signed.attestation, Attestation::B);
    assert_eq!(signed.capped_from, Some(Attestation::A));
    // A request may lower the attestation.
    let lower = service
        .sign(&request(
            "+14155550100",
            Some("sbc-west"),
            Some(Attestation::C),
        ))
        .unwrap();
    assert_eq!(lower.attestation, Attestation::C);
    // Without a request, the credential's default.
    let default = service.sign(&request("+12025550100", None, None)).unwrap();
    assert_eq!(default.attestation, Attestation::B);
}

#[test]
fn unmatched_and_invalid_calls_rejected() {
    let (_dir, service) = service("unmatched");
    assert_eq!(
        service.sign(&request("+14155550100", None, None)),
        Err(SignError::NoCredential {
            orig: "14155550100".into(),
            trunk: None
        })
    );
    assert!(matches!(
        service.sign(&request("sip:alice@example.com", None, None)),
        Err(SignError::InvalidOrig { .. })
    ));
    let mut no_dest = request("+12025550100", None, None);
    no_dest.dest.clear();
    assert_eq!(service.sign(&no_dest), Err(SignError::NoDest));
}

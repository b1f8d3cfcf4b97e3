//! Signing properties and the effect of tampering with each signed field.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use passport::{
    Attestation, Check, Claims, Decoded, Dest, Error, IdentityHeader, Options, Orig,
    RequestIdentities, SigningKey, base64url,
};
use serde_json::{Value, json};

const X5U: &str = "https://cr.example.com/sp/shaken.pem";
const IAT: i64 = 1_796_396_400;

fn key() -> SigningKey {
    SigningKey::from_pem_or_der(include_bytes!("data/signer.key.pem")).unwrap()
}

fn claims(iat: i64) -> Claims {
    Claims::shaken(
        Attestation::A,
        Orig::Tn("12025550100".into()),
        Dest {
            tn: vec!["12025550101".into()],
            uri: vec![],
        },
        iat,
        "8d7c1b5e-2f3a-4c6d-9e0f-1a2b3c4d5e6f".into(),
    )
}

/// RFC 7518 section 3.4: every ES256 signature is 64 bytes, 86 base64url
/// characters, however small r or s happens to be. About 1 signature in 128 has
/// an r or s below 2^248, so 10,000 signatures include such cases.
#[test]
fn signatures_always_64_bytes() {
    let key = key();
    let verifying = key.verifying_key().unwrap();
    for index in 0..10_000 {
        let jws = passport::sign(&key, X5U, Some("shaken"), &claims(IAT + index)).unwrap();
        let (signing_input, signature) = jws.rsplit_once('.').unwrap();
        assert_eq!(signature.len(), 86, "{jws}");
        verifying
            .verify(
                signing_input.as_bytes(),
                &base64url::decode(signature).unwrap(),
            )
            .unwrap();
    }
}

#[test]
fn signed_identity_has_fixed_parameters() {
    let identity = passport::sign_identity(&key(), X5U, Some("shaken"), &claims(IAT)).unwrap();
    let text = identity.to_string();
    assert!(
        text.ends_with(&format!(";info=<{X5U}>;alg=ES256;ppt=shaken")),
        "{text}"
    );
    assert_eq!(IdentityHeader::parse(&text).unwrap(), identity);
}

#[test]
fn equal_claims_sign_differently() {
    let key = key();
    let first = passport::sign(&key, X5U, Some("shaken"), &claims(IAT)).unwrap();
    let second = passport::sign(&key, X5U, Some("shaken"), &claims(IAT)).unwrap();
    // ECDSA signatures are randomized, so even equal claims sign differently.
    assert_ne!(first, second);
}

#[test]
fn signer_refuses_noncanonical_tn() {
    let mut plus = claims(IAT);
    plus.orig = Orig::Tn("+12025550100".into());
    assert_eq!(
        passport::sign(&key(), X5U, Some("shaken"), &plus),
        Err(Error::NonCanonicalTn {
            claim: "orig.tn",
            value: "+12025550100".into()
        })
    );
}

#[test]
fn signer_refuses_shaken_without_origid() {
    let mut missing = claims(IAT);
    missing.origid = None;
    assert!(matches!(
        passport::sign(&key(), X5U, Some("shaken"), &missing),
        Err(Error::MissingMember { name: "origid", .. })
    ));
}

/// Signs the baseline, replaces one member of the header or payload, re-encodes
/// it and keeps the original signature, then returns the failing check.
fn tamper(segment: usize, name: &str, value: Value) -> Error {
    let jws = passport::sign(&key(), X5U, Some("shaken"), &claims(IAT)).unwrap();
    let mut segments: Vec<String> = jws.split('.').map(str::to_owned).collect();
    let mut object: Value =
        serde_json::from_slice(&base64url::decode(&segments[segment]).unwrap()).unwrap();
    object[name] = value;
    segments[segment] = base64url::encode(&serde_json::to_vec(&object).unwrap());

    let info = object
        .get("x5u")
        .and_then(Value::as_str)
        .unwrap_or(X5U)
        .to_owned();
    let value = format!("{};info=<{info}>;alg=ES256;ppt=shaken", segments.join("."));
    let identity = IdentityHeader::parse(&value).unwrap();
    Decoded::from_identity(&identity)
        .unwrap()
        .check(&identity, RequestIdentities::default(), &Options::at(IAT))
        .and_then(|checked| checked.verify_signature(&key().verifying_key().unwrap()))
        .unwrap_err()
}

#[test]
fn each_claim_tampered_fails_signature() {
    let changes = [
        ("attest", json!("B")),
        ("dest", json!({"tn": ["12025550199"]})),
        ("iat", json!(IAT + 1)),
        ("orig", json!({"tn": "12025550111"})),
        ("origid", json!("00000000-0000-4000-8000-000000000000")),
    ];
    for (name, value) in changes {
        assert_eq!(tamper(1, name, value), Error::BadSignature, "{name}");
    }
}

#[test]
fn each_header_member_tampered_fails() {
    assert_eq!(
        tamper(0, "x5u", json!("https://cr.example.com/other.pem")),
        Error::BadSignature
    );
    assert_eq!(tamper(0, "typ", json!("jwt")).check(), Check::Algorithm);
    assert_eq!(tamper(0, "alg", json!("ES384")).check(), Check::Algorithm);
    assert_eq!(tamper(0, "ppt", json!("div")).check(), Check::Algorithm);
}

/// Verifiers copy origid into a SIP header, so one that could end the header
/// line is refused when signing and when decoding.
#[test]
fn origid_must_be_printable() {
    let key = passport::SigningKey::from_pem_or_der(include_bytes!("data/signer.key.pem")).unwrap();
    for origid in ["abc\r\nX-Injected: yes", "a b", &"x".repeat(129)] {
        let mut claims = claims(1_796_396_400);
        claims.origid = Some(origid.to_owned());
        let error = passport::sign(
            &key,
            "https://cr.example.com/a.pem",
            Some("shaken"),
            &claims,
        )
        .unwrap_err();
        assert!(
            matches!(error, passport::Error::InvalidOrigid { .. }),
            "{error}"
        );
    }
    assert!(passport::check_origid("8d7c1b5e-2f3a-4c6d-9e0f-1a2b3c4d5e6f").is_ok());
}

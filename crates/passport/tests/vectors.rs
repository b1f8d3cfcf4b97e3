//! The PASSporT, serialization, Identity header and telephone-number vectors of
//! testdata/, each asserting the value its source gives.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};

use passport::tn::{NationalRule, NumberPolicy, TnError};
use passport::{
    Attestation, Check, Claims, Decoded, Dest, Error, IdentityHeader, Options, Orig,
    RequestIdentities, Segment, SigningKey, VerifyingKey, base64url,
};
use serde_json::Value;

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(name)
}

fn vector(id: &str) -> Value {
    let text = std::fs::read_to_string(testdata("vectors.jsonl")).unwrap();
    text.lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .find(|vector| vector["id"] == id)
        .unwrap_or_else(|| panic!("no vector {id}"))
}

fn verifying_key(file: &str) -> VerifyingKey {
    VerifyingKey::from_pem_or_der(&std::fs::read(testdata(file)).unwrap()).unwrap()
}

/// Verifies the signature of a full-form token over its first two segments,
/// whatever its claims say.
fn signature_verifies(token: &str, key: &VerifyingKey) -> bool {
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    key.verify(
        signing_input.as_bytes(),
        &base64url::decode(signature).unwrap(),
    )
    .is_ok()
}

#[test]
fn rfc8225_example_serialization() {
    let input = &vector("rfc8225-appA-serialization")["input"];
    let header =
        passport::protected_header_json(None, "https://cert.example.org/passport.cer").unwrap();
    assert_eq!(header, input["header_json"].as_str().unwrap().as_bytes());
    assert_eq!(base64url::encode(&header), input["header_b64u"]);

    let claims = Claims::new(
        Orig::Tn("12155551212".into()),
        Dest {
            tn: vec![],
            uri: vec!["sip:alice@example.com".into()],
        },
        1471375418,
    );
    let json = claims.to_json().unwrap();
    assert_eq!(json, input["claims_json"].as_str().unwrap().as_bytes());
    assert_eq!(base64url::encode(&json), input["claims_b64u"]);
}

#[test]
fn rfc8588_example_serialization() {
    let vector = vector("rfc8588-sec6-example-serialization");
    let expected = &vector["expected"];
    let header =
        passport::protected_header_json(Some("shaken"), "https://cert.example.org/passport.cer")
            .unwrap();
    assert_eq!(header, expected["header_json"].as_str().unwrap().as_bytes());
    assert_eq!(base64url::encode(&header), expected["header_b64u"]);

    let claims = Claims::shaken(
        Attestation::A,
        Orig::Tn("12155550121".into()),
        Dest {
            tn: vec!["12155550131".into()],
            uri: vec![],
        },
        1443208345,
        "123e4567-e89b-12d3-a456-426655440000".into(),
    );
    let json = claims.to_json().unwrap();
    assert_eq!(json, expected["claims_json"].as_str().unwrap().as_bytes());
    assert_eq!(base64url::encode(&json), expected["claims_b64u"]);
}

#[test]
fn rfc_key_pairs_match_as_published() {
    let message = b"PASSporT signing input";
    let public = verifying_key("keys/rfc8225-appA2-public.pem");

    let draft = SigningKey::from_pem_or_der(
        &std::fs::read(testdata(
            "keys/draft-ietf-stir-passport-05-appA1-private.pem",
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        public.verify(message, &draft.sign(message).unwrap()),
        Ok(())
    );

    let published = SigningKey::from_pem_or_der(
        &std::fs::read(testdata("keys/rfc8225-appA1-private-as-published.pem")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        public.verify(message, &published.sign(message).unwrap()),
        Err(Error::BadSignature)
    );
}

#[test]
fn rfc_example_iat_string_rejected() {
    let vector = vector("rfc8224-rfc8225-example-iat-string");
    let token = vector["input"]["passport"].as_str().unwrap();
    assert!(signature_verifies(
        token,
        &verifying_key("keys/rfc8225-appA2-public.pem")
    ));

    let identity = IdentityHeader::parse(&format!(
        "{token};info=<https://cert.example.org/passport.cer>"
    ))
    .unwrap();
    let error = Decoded::from_identity(&identity)
        .unwrap()
        .check(
            &identity,
            RequestIdentities::default(),
            &Options::at(1443208345),
        )
        .unwrap_err();
    assert_eq!(error.check(), Check::Claims);
    assert!(
        matches!(error, Error::MemberType { name: "iat", .. }),
        "{error}"
    );
}

#[test]
fn libstirshaken_stringified_claims_rejected() {
    let vector = vector("libstirshaken-ref-identity-stringified-claims");
    let value = vector["input"]["value"].as_str().unwrap();
    let identity = IdentityHeader::parse(value).unwrap();
    let token = identity.token.as_text().into_owned();
    assert!(signature_verifies(
        &token,
        &verifying_key("keys/libstirshaken-sp-public.pem")
    ));

    let decoded = Decoded::from_identity(&identity).unwrap();
    assert_eq!(
        Value::Object(decoded.payload.clone()),
        vector["input"]["decoded_claims"]
    );
    let error = decoded
        .check(
            &identity,
            RequestIdentities::default(),
            &Options::at(1603458131),
        )
        .unwrap_err();
    assert_eq!(error.check(), Check::Claims);
    assert!(
        matches!(
            error,
            Error::MemberType { name: "dest", .. } | Error::MemberType { name: "orig", .. }
        ),
        "{error}"
    );
}

#[test]
fn libstirshaken_readme_passport_well_formed() {
    let vector = vector("libstirshaken-readme-identity");
    let input = &vector["input"];
    let identity = IdentityHeader::parse(input["value"].as_str().unwrap()).unwrap();
    let key = verifying_key("keys/libstirshaken-sp-public.pem");
    let request = RequestIdentities {
        orig: Some("01256500600"),
        dest: Some("01256700800"),
    };
    let verified = Decoded::from_identity(&identity)
        .unwrap()
        .check(
            &identity,
            request,
            &Options::at(input["verify_at"].as_i64().unwrap()),
        )
        .unwrap()
        .verify_signature(&key)
        .unwrap();
    assert_eq!(verified.attestation(), Some(Attestation::B));
    assert_eq!(
        verified.claims.origid.as_deref(),
        Some("e32f4189-cb86-460f-bb92-bd3acb89f29c")
    );
}

/// Parse-only vectors: the header parses and decodes to the JSON the source gives.
#[test]
fn published_identity_headers_decode() {
    for id in [
        "neustar-3gpp-shaken",
        "neustar-3gpp-div",
        "neustar-3gpp-rph",
        "neustar-rcd-nam",
        "neustar-rcd-rcdi-nonconformant",
        "sansay-sti-as-302-identity",
        "comcast-vesper-signing-example",
    ] {
        let vector = vector(id);
        let input = &vector["input"];
        let identity = IdentityHeader::parse(input["value"].as_str().unwrap()).unwrap();
        let decoded = Decoded::from_identity(&identity).unwrap();
        assert_eq!(
            &Value::Object(decoded.header.members().clone()),
            &input["decoded_header"],
            "{id}"
        );
        assert_eq!(
            &Value::Object(decoded.payload.clone()),
            &input["decoded_claims"],
            "{id}"
        );
    }
}

/// The published SHAKEN, div and rph PASSporTs pass every check that needs no
/// certificate when the request carries their own numbers at their own time.
#[test]
fn published_passports_pass_checks() {
    let cases = [
        ("neustar-3gpp-shaken", Some("shaken")),
        ("neustar-3gpp-div", Some("div")),
        ("sansay-sti-as-302-identity", Some("shaken")),
        ("neustar-rcd-nam", Some("rcd")),
    ];
    for (id, ppt) in cases {
        let vector = vector(id);
        let claims = &vector["input"]["decoded_claims"];
        let identity = IdentityHeader::parse(vector["input"]["value"].as_str().unwrap()).unwrap();
        let orig = claims["orig"]["tn"].as_str();
        let dest = claims["dest"]["tn"][0].as_str();
        let checked = Decoded::from_identity(&identity)
            .unwrap()
            .check(
                &identity,
                RequestIdentities { orig, dest },
                &Options::at(claims["iat"].as_i64().unwrap()),
            )
            .unwrap_or_else(|error| panic!("{id}: {error}"));
        assert_eq!(
            checked.claims_unverified().iat,
            claims["iat"].as_i64().unwrap(),
            "{id}"
        );
        assert_eq!(identity.ppt(), ppt, "{id}");
    }
}

#[test]
fn sansay_dest_needs_national_rule() {
    let vector = vector("sansay-sti-as-302-identity");
    let identity = IdentityHeader::parse(vector["input"]["value"].as_str().unwrap()).unwrap();
    let request = RequestIdentities {
        orig: Some("sip:18587542200@sbc.example.com"),
        dest: Some("sip:8587542211@sbc.example.com"),
    };
    let at = 1616457307;

    let error = Decoded::from_identity(&identity)
        .unwrap()
        .check(&identity, request, &Options::at(at))
        .unwrap_err();
    assert!(matches!(error, Error::DestMismatch { .. }), "{error}");

    let nanp = Options {
        numbers: NumberPolicy {
            national: Some(NationalRule::nanp()),
            ..NumberPolicy::default()
        },
        ..Options::at(at)
    };
    assert!(
        Decoded::from_identity(&identity)
            .unwrap()
            .check(&identity, request, &nanp)
            .is_ok()
    );
}

#[test]
fn comcast_example_rejected_for_tn() {
    let vector = vector("comcast-vesper-signing-example");
    let identity = IdentityHeader::parse(vector["input"]["value"].as_str().unwrap()).unwrap();
    assert_eq!(identity.ppt, None);
    let error = Decoded::from_identity(&identity)
        .unwrap()
        .check(
            &identity,
            RequestIdentities::default(),
            &Options::at(32312341),
        )
        .unwrap_err();
    assert_eq!(
        error,
        Error::InvalidTn {
            claim: "orig.tn",
            value: "dwdw".into(),
            reason: "character 'd' is not a digit, '*' or '#'".into()
        }
    );

    let inspection = passport::inspect::inspect(vector["input"]["value"].as_str().unwrap());
    assert!(
        inspection
            .findings
            .iter()
            .any(|f| f.starts_with("header JSON is not in the deterministic form")),
        "{:?}",
        inspection.findings
    );
}

#[test]
fn garbled_header_segment_rejected() {
    let vector = vector("neustar-verify-example-garbled-header");
    let value = vector["input"]["value"].as_str().unwrap();
    let identity = IdentityHeader::parse(value).unwrap();
    let error = Decoded::from_identity(&identity).unwrap_err();
    assert_eq!(error.check(), Check::HeaderParse);
    assert!(
        matches!(
            error,
            Error::Json {
                segment: Segment::Header,
                ..
            }
        ),
        "{error}"
    );

    let inspection = passport::inspect::inspect(value);
    assert_eq!(inspection.header, None);
    assert_eq!(
        Value::Object(inspection.claims.unwrap()),
        vector["input"]["decoded_claims"]
    );
}

#[test]
fn rcdi_nonconformant_claims_kept() {
    let vector = vector("neustar-rcd-rcdi-nonconformant");
    let identity = IdentityHeader::parse(vector["input"]["value"].as_str().unwrap()).unwrap();
    let decoded = Decoded::from_identity(&identity).unwrap();
    let claims = Claims::from_map(&decoded.payload).unwrap();
    assert!(claims.rcd.is_some());
    assert!(claims.rcdi.is_some());
    assert!(claims.other.contains_key("iss"));
}

#[test]
fn tn_canonicalization_vectors() {
    let text = std::fs::read_to_string(testdata("tn-canonicalization.jsonl")).unwrap();
    let plain = NumberPolicy::default();
    let nanp = NumberPolicy {
        national: Some(NationalRule::nanp()),
        ..NumberPolicy::default()
    };
    let mut count = 0;
    for line in text.lines() {
        let vector: Value = serde_json::from_str(line).unwrap();
        let id = vector["id"].as_str().unwrap();
        let input = vector["input"].as_str().unwrap();
        let result = passport::tn::from_sip(input, &plain);
        match id {
            // National 10-digit number: only a configured numbering plan adds the 1.
            "tn-canon-08" => {
                assert_eq!(result, Ok("2155551212".to_owned()), "{id}");
                assert_eq!(
                    passport::tn::from_sip(input, &nanp),
                    Ok("12155551212".to_owned()),
                    "{id}"
                );
            }
            // Local number with a phone-context: never assumed global.
            "tn-canon-09" => {
                assert_eq!(result, Err(TnError::LocalNumber("5551212".into())), "{id}")
            }
            // A JSON tn claim with '+': canonicalizes, but is not canonical as written.
            "tn-canon-12" => {
                assert!(!passport::tn::is_canonical("+12155551212"), "{id}");
                assert_eq!(
                    passport::tn::canonicalize("+12155551212"),
                    Ok("12155551212".into()),
                    "{id}"
                );
            }
            _ => match vector["expected_tn"].as_str() {
                Some(expected) => assert_eq!(result, Ok(expected.to_owned()), "{id}"),
                None => assert!(
                    matches!(result, Err(TnError::NotANumber(_))),
                    "{id}: {result:?}"
                ),
            },
        }
        count += 1;
    }
    assert_eq!(count, 12);
}

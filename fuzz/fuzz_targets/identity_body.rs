// The body of the `identity` fuzz target. The fuzz target and the passport crate's
// `fuzz_corpus` test both include this file with `include!`, so a crash input
// replays through the same code under `cargo test`. The including file defines
// `SIGNER_KEY_PEM`, the bytes of the test key that signed the seed corpus.

use passport::{
    Claims, CompactValues, Decoded, IdentityHeader, Options, Profile, RequestIdentities, Token,
    VerifyingKey,
};

/// The time at which the signed seeds are fresh, because their `iat` is at most five
/// seconds earlier.
const FUZZ_NOW: i64 = 1_796_396_400;

/// The request's calling identity, which matches `orig` in the signed seeds.
const FUZZ_REQUEST_ORIG: &str = "<sip:+12025550100@example.com;user=phone>";

/// The request's called identity, which matches `dest` in the signed seeds.
const FUZZ_REQUEST_DEST: &str = "<tel:+1-202-555-0101>";

/// The maximum number of header values taken from a header block, so that one
/// input of many short `y:` lines does not slow the fuzzer down.
const FUZZ_MAX_FOUND_VALUES: usize = 8;

/// Returns the public half of the test key, parsed once.
fn fuzz_verifying_key() -> &'static VerifyingKey {
    static KEY: std::sync::OnceLock<VerifyingKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        passport::SigningKey::from_pem_or_der(SIGNER_KEY_PEM)
            .and_then(|key| key.verifying_key())
            .expect("the test signing key parses")
    })
}

/// Runs one input, decoded as lossy UTF-8, through the Identity header and JWS
/// code of the passport crate. Errors are expected results. A panic means that
/// the crate panicked or that one of the invariants asserted here broke.
pub fn run_identity_input(data: &[u8]) {
    let text = String::from_utf8_lossy(data);

    check_identity_value(&text);
    for value in passport::find_identity_values(&text)
        .iter()
        .take(FUZZ_MAX_FOUND_VALUES)
    {
        check_identity_value(value);
    }

    let token = text.trim();
    if let Ok(decoded) = Decoded::from_token(token) {
        assert_signing_input_is_prefix(&decoded, token);
        check_claims(&decoded);
    }

    check_base64url(token);
    for segment in token.split('.').take(4) {
        check_base64url(segment);
    }

    check_telephone_number(&text);
}

/// Parses, formats, decodes, checks and verifies one Identity header value, and
/// inspects it.
fn check_identity_value(value: &str) {
    let inspection = passport::inspect::inspect(value);
    assert!(!inspection.verified, "inspection never verifies");
    assert!(
        serde_json::to_string(&inspection).is_ok(),
        "an inspection serializes to JSON"
    );

    let Ok(identity) = IdentityHeader::parse(value) else {
        return;
    };
    assert_format_round_trip(&identity);

    match &identity.token {
        Token::Full(token) => {
            if let Ok(decoded) = Decoded::from_identity(&identity) {
                assert!(!decoded.rebuilt, "a full-form PASSporT is not rebuilt");
                assert_signing_input_is_prefix(&decoded, token);
                check_decoded(decoded, &identity);
            }
        }
        Token::Compact { .. } => {
            assert!(
                Decoded::from_identity(&identity).is_err(),
                "a compact-form header needs the request's values"
            );
            let values = CompactValues {
                orig: "12025550100".to_owned(),
                dest: "12025550101".to_owned(),
                iat: FUZZ_NOW,
            };
            if let Ok(decoded) = Decoded::from_compact(&identity, &values) {
                assert!(decoded.rebuilt, "a compact-form PASSporT is rebuilt");
                check_decoded(decoded, &identity);
            }
        }
    }
}

/// Asserts that formatting a parsed header and parsing the text again gives the
/// same header.
///
/// `Display` writes `alg` and `ppt` without quotes whenever the value is a
/// non-empty token, so the `quoted` flag is the one field allowed to change.
fn assert_format_round_trip(identity: &IdentityHeader) {
    let text = identity.to_string();
    let reparsed = match IdentityHeader::parse(&text) {
        Ok(reparsed) => reparsed,
        Err(error) => panic!("formatted header {text:?} does not parse: {error}"),
    };

    let mut expected = identity.clone();
    for param in [&mut expected.alg, &mut expected.ppt].into_iter().flatten() {
        param.quoted = !is_sip_token(&param.value);
    }
    assert_eq!(reparsed, expected, "format then parse changed {text:?}");
    assert_eq!(reparsed.to_string(), text, "formatting is not stable");
}

/// Reports whether `value` is a SIP token (RFC 3261 section 25.1).
fn is_sip_token(value: &str) -> bool {
    !value.is_empty()
        && value.bytes().all(|byte| {
            byte.is_ascii_alphanumeric()
                || matches!(
                    byte,
                    b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
                )
        })
}

/// Asserts that the signing input is the token's header and payload segments as
/// received, followed by the `.` before the signature.
fn assert_signing_input_is_prefix(decoded: &Decoded, token: &str) {
    let signing_input = decoded.signing_input();
    assert!(
        token
            .strip_prefix(signing_input)
            .is_some_and(|rest| rest.starts_with('.')),
        "signing input {signing_input:?} is not a prefix of {token:?}"
    );
}

/// Runs the I/O-free checks under both profiles, then verifies the signature
/// with the test key.
fn check_decoded(decoded: Decoded, identity: &IdentityHeader) {
    check_claims(&decoded);

    let request = RequestIdentities {
        orig: Some(FUZZ_REQUEST_ORIG),
        dest: Some(FUZZ_REQUEST_DEST),
    };
    let lenient = Options::at(FUZZ_NOW);
    let strict = Options {
        profile: Profile::Strict,
        ..Options::at(FUZZ_NOW)
    };

    let lenient_result = decoded.clone().check(identity, request, &lenient);
    let strict_result = decoded.check(identity, request, &strict);
    assert!(
        strict_result.is_err() || lenient_result.is_ok(),
        "the strict profile accepted what the lenient one rejected: {:?}",
        lenient_result.err()
    );

    for checked in [lenient_result, strict_result].into_iter().flatten() {
        assert_eq!(checked.x5u(), identity.info, "x5u differs from info");
        if let Ok(verified) = checked.verify_signature(fuzz_verifying_key()) {
            assert_eq!(
                verified.x5u, identity.info,
                "verified x5u differs from info"
            );
        }
    }
}

/// Types the claims and asserts that the claims JSON written for signing types
/// back to the same claims.
///
/// Unknown claims are never written, and `rcd` and `rcdi` are left out of the
/// comparison because serde_json's default float parsing may change a number's
/// last bit.
fn check_claims(decoded: &Decoded) {
    let Ok(claims) = Claims::from_map(&decoded.payload) else {
        return;
    };
    let Ok(json) = claims.to_json() else {
        return;
    };
    let value: serde_json::Value = match serde_json::from_slice(&json) {
        Ok(value) => value,
        Err(error) => panic!("claims JSON does not parse: {error}"),
    };
    let Some(map) = value.as_object() else {
        panic!("claims JSON is not an object: {value}");
    };
    let retyped = match Claims::from_map(map) {
        Ok(retyped) => retyped,
        Err(error) => panic!("claims JSON {value} does not type back: {error}"),
    };

    let mut expected = claims;
    expected.other.clear();
    expected.rcd = None;
    expected.rcdi = None;
    let mut retyped = retyped;
    retyped.rcd = None;
    retyped.rcdi = None;
    assert_eq!(retyped, expected, "claims changed through JSON");
}

/// Asserts that strict base64url decoding accepts only the canonical encoding.
fn check_base64url(text: &str) {
    if let Ok(bytes) = passport::base64url::decode(text) {
        assert_eq!(
            passport::base64url::encode(&bytes),
            text,
            "base64url decoding accepted a non-canonical encoding"
        );
    }
}

/// Canonicalizes the input as a SIP identity under the default and the North
/// American policies.
fn check_telephone_number(text: &str) {
    let default_policy = passport::tn::NumberPolicy::default();
    let nanp_policy = passport::tn::NumberPolicy {
        national: Some(passport::tn::NationalRule::nanp()),
        ..passport::tn::NumberPolicy::default()
    };
    for policy in [&default_policy, &nanp_policy] {
        if let Ok(number) = passport::tn::from_sip(text, policy) {
            assert!(
                passport::tn::is_canonical(&number),
                "from_sip returned the non-canonical number {number:?}"
            );
            assert!(
                number.len() <= policy.max_digits,
                "from_sip returned {number:?}, longer than {} digits",
                policy.max_digits
            );
        }
    }
}

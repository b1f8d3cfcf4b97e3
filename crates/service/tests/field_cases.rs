//! Failures that STIR/SHAKEN verifiers shipped to production, each reduced to a
//! small input and the response the standards call for.
//!
//! The fixtures: the verifier's clock reads T0 (Fri, 04 Dec 2026 15:00:00 GMT);
//! the caller is +12025550100 and the callee +12025550101; the token segments `H`
//! and `P` below are signed with the test end-entity key whose certificate the
//! x5u URL resolves to.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use certstore::TrustedCert;
use passport::tn::{NationalRule, NumberPolicy};
use passport::{Check, Options, Profile, SigningKey, base64url};
use service::{
    CertificateError, CertificateFuture, CertificateSource, Verdict, VerifyPolicy, VerifyRequest,
    Verstat,
};

const T0: i64 = 1_796_396_400;
const X5U: &str = "https://cert.example.com/sp/shaken.pem";

/// `{"alg":"ES256","ppt":"shaken","typ":"passport","x5u":"https://cert.example.com/sp/shaken.pem"}`
const H: &str = "eyJhbGciOiJFUzI1NiIsInBwdCI6InNoYWtlbiIsInR5cCI6InBhc3Nwb3J0IiwieDV1IjoiaHR0cHM6Ly9jZXJ0LmV4YW1wbGUuY29tL3NwL3NoYWtlbi5wZW0ifQ";
/// `{"attest":"A","dest":{"tn":["12025550101"]},"iat":1796396400,"orig":{"tn":"12025550100"},"origid":"8d7c1b5e-..."}`
const P: &str = "eyJhdHRlc3QiOiJBIiwiZGVzdCI6eyJ0biI6WyIxMjAyNTU1MDEwMSJdfSwiaWF0IjoxNzk2Mzk2NDAwLCJvcmlnIjp7InRuIjoiMTIwMjU1NTAxMDAifSwib3JpZ2lkIjoiOGQ3YzFiNWUtMmYzYS00YzZkLTllMGYtMWEyYjNjNGQ1ZTZmIn0";
/// `H` with `ppt` rcd and the x5u `https://cert.example.com/sp/rcd.pem`.
const H_RCD: &str = "eyJhbGciOiJFUzI1NiIsInBwdCI6InJjZCIsInR5cCI6InBhc3Nwb3J0IiwieDV1IjoiaHR0cHM6Ly9jZXJ0LmV4YW1wbGUuY29tL3NwL3JjZC5wZW0ifQ";
/// `H` with `ppt` div and the x5u `https://cert.example.org/fwd/div.pem`.
const H_DIV: &str = "eyJhbGciOiJFUzI1NiIsInBwdCI6ImRpdiIsInR5cCI6InBhc3Nwb3J0IiwieDV1IjoiaHR0cHM6Ly9jZXJ0LmV4YW1wbGUub3JnL2Z3ZC9kaXYucGVtIn0";
/// `{"dest":{"tn":["12025550102"]},"div":{"tn":"12025550101"},"iat":1796396402,"orig":{"tn":"12025550100"}}`
const P_DIV: &str = "eyJkZXN0Ijp7InRuIjpbIjEyMDI1NTUwMTAyIl19LCJkaXYiOnsidG4iOiIxMjAyNTU1MDEwMSJ9LCJpYXQiOjE3OTYzOTY0MDIsIm9yaWciOnsidG4iOiIxMjAyNTU1MDEwMCJ9fQ";

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(name)
}

fn key() -> SigningKey {
    SigningKey::from_pem_or_der(&std::fs::read(testdata("synthetic/syn-ee-123J.key.pem")).unwrap())
        .unwrap()
}

/// Signs `header.payload` with the test key and returns the base64url signature.
fn sig(header: &str, payload: &str) -> String {
    base64url::encode(
        &key()
            .sign(format!("{header}.{payload}").as_bytes())
            .unwrap(),
    )
}

fn token(header: &str, payload: &str) -> String {
    format!("{header}.{payload}.{}", sig(header, payload))
}

fn params(x5u: &str) -> String {
    format!(";info=<{x5u}>;alg=ES256;ppt=shaken")
}

/// Returns the baseline Identity header value.
fn baseline() -> String {
    format!("{}{}", token(H, P), params(X5U))
}

fn claims(json: &str) -> String {
    base64url::encode(json.as_bytes())
}

fn claims_with(attest: &str, iat: &str, orig: &str, origid: &str) -> String {
    claims(&format!(
        r#"{{"attest":{attest},"dest":{{"tn":["12025550101"]}},"iat":{iat},"orig":{{"tn":"{orig}"}},"origid":{origid}}}"#
    ))
}

/// Every x5u of these cases serves the test end-entity certificate.
struct TestRepository;

impl CertificateSource for TestRepository {
    fn certificate_for<'a>(&'a self, x5u: &'a str, _at: i64) -> CertificateFuture<'a> {
        Box::pin(std::future::ready(self.lookup(x5u)))
    }
}

impl TestRepository {
    fn lookup(&self, x5u: &str) -> Result<Arc<TrustedCert>, CertificateError> {
        if !x5u.starts_with("https://cert.example.") {
            return Err(CertificateError::Unavailable(format!(
                "no repository at {x5u}"
            )));
        }
        let chain =
            cert::parse_chain(&std::fs::read(testdata("synthetic/syn-x5u-ee-123J.pem")).unwrap())
                .unwrap();
        TrustedCert::unvalidated(x5u, chain)
            .map(Arc::new)
            .map_err(|error| CertificateError::Unsupported(error.to_string()))
    }
}

fn verify_request(
    request: &VerifyRequest,
    source: &dyn CertificateSource,
    policy: &VerifyPolicy,
) -> Verdict {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(service::verify_request(request, source, policy))
}

/// Returns the baseline request with the given Identity header values.
fn request(identities: Vec<String>) -> VerifyRequest {
    VerifyRequest {
        identities,
        orig: Some("<sip:+12025550100@carrier.example.org;user=phone>".into()),
        to: Some("<sip:+12025550101@sbc.example.com;user=phone>".into()),
        request_uri: Some("sip:+12025550101@sbc.example.com;user=phone".into()),
        date: Some(T0),
    }
}

fn policy(profile: Profile) -> VerifyPolicy {
    VerifyPolicy {
        options: Options {
            profile,
            ..Options::at(T0)
        },
        require_identity: true,
    }
}

fn verify(request: &VerifyRequest) -> Verdict {
    verify_request(request, &TestRepository, &policy(Profile::Lenient))
}

fn verify_one(value: String) -> Verdict {
    verify(&request(vec![value]))
}

#[track_caller]
fn assert_passed(verdict: &Verdict) {
    assert_eq!(verdict.verstat, Verstat::TnValidationPassed, "{verdict:?}");
    assert_eq!(verdict.failure, None);
}

#[track_caller]
fn assert_rejected(verdict: &Verdict, code: u16) {
    assert_eq!(verdict.verstat, Verstat::TnValidationFailed, "{verdict:?}");
    assert_eq!(
        verdict.failure.as_ref().map(|f| f.response.code),
        Some(code),
        "{verdict:?}"
    );
}

#[test]
fn baseline_verifies_with_attest_a() {
    let verdict = verify_one(baseline());
    assert_passed(&verdict);
    assert_eq!(verdict.attestation, Some(passport::Attestation::A));
    assert_eq!(
        verdict.origid.as_deref(),
        Some("8d7c1b5e-2f3a-4c6d-9e0f-1a2b3c4d5e6f")
    );
}

#[test]
fn nothing_after_token_rejected() {
    let token = token(H, P);
    for value in [
        token.clone(),
        format!("{token};"),
        format!("{token};info"),
        format!(";info=<{X5U}>"),
        String::new(),
    ] {
        let verdict = verify_one(value.clone());
        assert_rejected(&verdict, 438);
        assert_eq!(
            verdict.failure.unwrap().check,
            Check::HeaderParse,
            "{value}"
        );
    }
}

#[test]
fn parameter_spellings_accepted() {
    let token = token(H, P);
    let accepted = [
        format!("{token};info=<{X5U}>;alg=ES256;ppt=shaken"),
        format!("{token};info=<{X5U}>;alg=ES256;ppt=\"shaken\""),
        format!("{token};info=<{X5U}>;ppt=\"shaken\""),
        format!("{token};info=<{X5U}>;alg=ES256"),
        format!("{token} ; INFO = <{X5U}> ; ALG=ES256 ; PPT=shaken"),
    ];
    for value in &accepted {
        assert_passed(&verify_one(value.clone()));
    }

    // The strict profile rejects the quoted and the missing ppt parameter.
    for value in &accepted[1..4] {
        let verdict = verify_request(
            &request(vec![value.clone()]),
            &TestRepository,
            &policy(Profile::Strict),
        );
        assert_rejected(&verdict, 438);
    }
}

#[test]
fn wrong_alg_and_duplicate_ppt_rejected() {
    let token = token(H, P);
    assert_rejected(
        &verify_one(format!("{token};info=<{X5U}>;alg=ES384;ppt=shaken")),
        437,
    );
    assert_rejected(
        &verify_one(format!("{token};info=<{X5U}>;alg=ES256;ppt=shaken;ppt=div")),
        438,
    );
}

#[test]
fn compact_header_name_verifies() {
    let message = format!(
        "Via: SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bK-case01\r\ny: {}\r\nContent-Length: 0\r\n\r\n",
        baseline()
    );
    let identities = passport::find_identity_values(&message);
    assert_eq!(identities.len(), 1);
    assert_passed(&verify(&request(identities)));
}

#[test]
fn compact_shaken_passport_rejected() {
    let value = format!("..{}{}", sig(H, P), params(X5U));
    let verdict = verify_one(value);
    assert_rejected(&verdict, 438);
    assert!(verdict.failure.unwrap().reason.contains("compact form"));
}

#[test]
fn shaken_found_among_other_headers() {
    let rcd = format!(
        "{}.{P}.{};info=<https://cert.example.com/sp/rcd.pem>;alg=ES256;ppt=rcd",
        H_RCD,
        sig(H_RCD, P)
    );
    let orders = [
        vec![rcd.clone(), baseline()],
        vec![baseline(), rcd],
        vec!["garbage".to_owned(), baseline()],
        vec![baseline(), "garbage".to_owned()],
    ];
    for identities in orders {
        assert_passed(&verify(&request(identities)));
    }
}

#[test]
fn unsupported_ppt_alone_treated_as_absent() {
    let header = base64url::encode(br#"{"alg":"ES256","ppt":"foo","typ":"passport","x5u":"https://cert.example.com/sp/shaken.pem"}"#);
    let value = format!(
        "{}.{P}.{};info=<{X5U}>;alg=ES256;ppt=foo",
        header,
        sig(&header, P)
    );
    let verdict = verify_one(value.clone());
    assert_eq!(verdict.verstat, Verstat::NoTnValidation);
    assert_eq!(verdict.failure.unwrap().response.code, 428);

    let lenient = VerifyPolicy {
        require_identity: false,
        ..policy(Profile::Lenient)
    };
    let verdict = verify_request(&request(vec![value]), &TestRepository, &lenient);
    assert_eq!(verdict.verstat, Verstat::NoTnValidation);
    assert_eq!(verdict.failure, None);
}

/// A verifier without diversion support skips the div PASSporT and reports the
/// shaken one's dest mismatch, cleanly.
#[test]
fn diverted_call_without_div_support() {
    let div = format!(
        "{H_DIV}.{P_DIV}.{};info=<https://cert.example.org/fwd/div.pem>;alg=ES256;ppt=div",
        sig(H_DIV, P_DIV)
    );
    let mut diverted = request(vec![baseline(), div]);
    diverted.to = Some("<sip:+12025550102@sbc.example.com;user=phone>".into());
    diverted.request_uri = Some("sip:+12025550102@sbc.example.com;user=phone".into());
    let verdict = verify(&diverted);
    assert_rejected(&verdict, 438);
    assert_eq!(verdict.failure.unwrap().check, Check::Numbers);
}

#[test]
fn folded_identity_line_verifies() {
    let message = format!(
        "Identity: {}\r\n ;info=<{X5U}>\r\n\t;alg=ES256;ppt=shaken\r\nIdentity-Info: <https://cert.example.com/sp/x.cer>;alg=rsa-sha256\r\n\r\n",
        token(H, P)
    );
    let identities = passport::find_identity_values(&message);
    assert_eq!(
        identities.len(),
        1,
        "Identity-Info is not an Identity header"
    );
    assert_passed(&verify(&request(identities)));
}

#[test]
fn nul_byte_and_oversize_rejected() {
    let mut with_nul = baseline();
    with_nul.insert(120, '\0');
    assert_rejected(&verify_one(with_nul), 438);

    let oversize = format!("{}{}", "A".repeat(70_000), params(X5U));
    assert_rejected(&verify_one(oversize), 438);
}

#[test]
fn sip_identities_canonicalized() {
    let spellings = [
        (
            "<sip:+12025550100@carrier.example.org;user=phone>",
            "<sip:+12025550101@sbc.example.com;user=phone>",
        ),
        ("<tel:+1-202-555-0100>", "<tel:+1(202)555-0101>"),
        (
            "<sip:12025550100@carrier.example.org>",
            "<sip:12025550101@sbc.example.com>",
        ),
    ];
    for (orig, to) in spellings {
        let mut case = request(vec![baseline()]);
        case.orig = Some(orig.into());
        case.to = Some(to.into());
        assert_passed(&verify(&case));
    }
}

#[test]
fn national_numbers_need_configured_rule() {
    let mut case = request(vec![baseline()]);
    case.orig = Some("<sip:2025550100@carrier.example.org>".into());
    case.to = Some("<sip:2025550101@sbc.example.com>".into());
    assert_rejected(&verify(&case), 438);

    let mut nanp = policy(Profile::Lenient);
    nanp.options.numbers.national = Some(NationalRule::nanp());
    assert_passed(&verify_request(&case, &TestRepository, &nanp));
}

#[test]
fn user_name_caller_rejected() {
    let mut case = request(vec![baseline()]);
    case.orig = Some("<sip:alice@carrier.example.org>".into());
    let verdict = verify(&case);
    assert_rejected(&verdict, 438);
    assert!(verdict.failure.unwrap().reason.contains("user name"));
}

#[test]
fn plus_in_tn_claims_by_profile() {
    let plus = "eyJhdHRlc3QiOiJBIiwiZGVzdCI6eyJ0biI6WyIrMTIwMjU1NTAxMDEiXX0sImlhdCI6MTc5NjM5NjQwMCwib3JpZyI6eyJ0biI6IisxMjAyNTU1MDEwMCJ9LCJvcmlnaWQiOiI4ZDdjMWI1ZS0yZjNhLTRjNmQtOWUwZi0xYTJiM2M0ZDVlNmYifQ";
    let value = format!("{}{}", token(H, plus), params(X5U));
    let verdict = verify_one(value.clone());
    assert_passed(&verdict);
    assert_eq!(verdict.warnings.len(), 2);

    let strict = verify_request(
        &request(vec![value]),
        &TestRepository,
        &policy(Profile::Strict),
    );
    assert_rejected(&strict, 438);
}

#[test]
fn long_dest_needs_national_profile() {
    let long = "eyJhdHRlc3QiOiJDIiwiZGVzdCI6eyJ0biI6WyIzMzEwOTk5MTk5MDAwMTAxIl19LCJpYXQiOjE3OTYzOTY0MDAsIm9yaWciOnsidG4iOiIzMzE5OTAwMDEwMCJ9LCJvcmlnaWQiOiI4ZDdjMWI1ZS0yZjNhLTRjNmQtOWUwZi0xYTJiM2M0ZDVlNmYifQ";
    let mut case = request(vec![format!("{}{}", token(H, long), params(X5U))]);
    case.orig = Some("<sip:+33199000100@carrier.example.org;user=phone>".into());
    case.to = Some("<sip:+3310999199000101@sbc.example.com;user=phone>".into());

    let verdict = verify(&case);
    assert_rejected(&verdict, 438);
    assert!(verdict.failure.unwrap().reason.contains("16 digits"));

    let mut national = policy(Profile::Lenient);
    national.options.numbers = NumberPolicy {
        max_digits: 20,
        national: None,
    };
    let verdict = verify_request(&case, &TestRepository, &national);
    assert_passed(&verdict);
    assert_eq!(verdict.attestation, Some(passport::Attestation::C));
}

#[test]
fn orig_taken_from_asserted_identity() {
    // The front end passes P-Asserted-Identity when present, so From's number is
    // not what orig is compared with.
    let mut case = request(vec![baseline()]);
    case.orig = Some("<sip:+12025550100@carrier.example.org;user=phone>".into());
    assert_passed(&verify(&case));

    let other = claims_with(
        "\"A\"",
        "1796396400",
        "12025550111",
        "\"8d7c1b5e-2f3a-4c6d-9e0f-1a2b3c4d5e6f\"",
    );
    case.identities = vec![format!("{}{}", token(H, &other), params(X5U))];
    let verdict = verify(&case);
    assert_rejected(&verdict, 438);
    assert_eq!(verdict.failure.unwrap().check, Check::Numbers);
}

#[test]
fn iat_missing_zero_or_string() {
    let missing = "eyJhdHRlc3QiOiJBIiwiZGVzdCI6eyJ0biI6WyIxMjAyNTU1MDEwMSJdfSwib3JpZyI6eyJ0biI6IjEyMDI1NTUwMTAwIn0sIm9yaWdpZCI6IjhkN2MxYjVlLTJmM2EtNGM2ZC05ZTBmLTFhMmIzYzRkNWU2ZiJ9";
    let zero = "eyJhdHRlc3QiOiJBIiwiZGVzdCI6eyJ0biI6WyIxMjAyNTU1MDEwMSJdfSwiaWF0IjowLCJvcmlnIjp7InRuIjoiMTIwMjU1NTAxMDAifSwib3JpZ2lkIjoiOGQ3YzFiNWUtMmYzYS00YzZkLTllMGYtMWEyYjNjNGQ1ZTZmIn0";
    let string = "eyJhdHRlc3QiOiJBIiwiZGVzdCI6eyJ0biI6WyIxMjAyNTU1MDEwMSJdfSwiaWF0IjoiMTc5NjM5NjQwMCIsIm9yaWciOnsidG4iOiIxMjAyNTU1MDEwMCJ9LCJvcmlnaWQiOiI4ZDdjMWI1ZS0yZjNhLTRjNmQtOWUwZi0xYTJiM2M0ZDVlNmYifQ";

    assert_rejected(
        &verify_one(format!("{}{}", token(H, missing), params(X5U))),
        438,
    );
    assert_rejected(
        &verify_one(format!("{}{}", token(H, zero), params(X5U))),
        403,
    );
    assert_rejected(
        &verify_one(format!("{}{}", token(H, string), params(X5U))),
        438,
    );
    assert_rejected(&verify_one(format!("{H}.{P}{}", params(X5U))), 438);
    assert_rejected(
        &verify_one(format!("{}.x{}", token(H, P), params(X5U))),
        438,
    );
}

#[test]
fn attest_outside_abc_rejected() {
    for attest in ["\"X\"", "\"a\""] {
        let payload = claims_with(
            attest,
            "1796396400",
            "12025550100",
            "\"8d7c1b5e-2f3a-4c6d-9e0f-1a2b3c4d5e6f\"",
        );
        let verdict = verify_one(format!("{}{}", token(H, &payload), params(X5U)));
        assert_rejected(&verdict, 438);
        assert_eq!(verdict.failure.unwrap().check, Check::Claims);
    }
}

#[test]
fn origid_required_but_opaque() {
    let opaque = claims_with("\"B\"", "1796396400", "12025550100", "\"ref\"");
    let verdict = verify_one(format!("{}{}", token(H, &opaque), params(X5U)));
    assert_passed(&verdict);
    assert_eq!(verdict.origid.as_deref(), Some("ref"));

    let empty = claims_with("\"B\"", "1796396400", "12025550100", "\"\"");
    assert_rejected(
        &verify_one(format!("{}{}", token(H, &empty), params(X5U))),
        438,
    );

    let missing = claims(
        r#"{"attest":"B","dest":{"tn":["12025550101"]},"iat":1796396400,"orig":{"tn":"12025550100"}}"#,
    );
    assert_rejected(
        &verify_one(format!("{}{}", token(H, &missing), params(X5U))),
        438,
    );

    let number = claims_with("\"B\"", "1796396400", "12025550100", "42");
    assert_rejected(
        &verify_one(format!("{}{}", token(H, &number), params(X5U))),
        438,
    );
}

#[test]
fn signature_encodings_other_than_raw_rejected() {
    let raw = base64url::decode(&sig(H, P)).unwrap();
    let (r, s) = raw.split_at(32);

    let mut der = vec![0x30, 0, 0x02, 33, 0x00];
    der.extend_from_slice(r);
    der.extend_from_slice(&[0x02, 33, 0x00]);
    der.extend_from_slice(s);
    der[1] = (der.len() - 2) as u8;
    let verdict = verify_one(format!(
        "{H}.{P}.{}{}",
        base64url::encode(&der),
        params(X5U)
    ));
    assert_rejected(&verdict, 438);
    assert!(verdict.failure.unwrap().reason.contains("DER"));

    let short = &raw[1..];
    let verdict = verify_one(format!(
        "{H}.{P}.{}{}",
        base64url::encode(short),
        params(X5U)
    ));
    assert_rejected(&verdict, 438);
    assert!(verdict.failure.unwrap().reason.contains("63 bytes"));
}

#[test]
fn tampered_passports_rejected() {
    let signature = sig(H, P);

    let mut flipped = signature.clone().into_bytes();
    flipped[40] = if flipped[40] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let verdict = verify_one(format!("{H}.{P}.{flipped}{}", params(X5U)));
    assert_rejected(&verdict, 438);
    assert_eq!(verdict.failure.unwrap().check, Check::Signature);

    let attest_b = claims_with(
        "\"B\"",
        "1796396400",
        "12025550100",
        "\"8d7c1b5e-2f3a-4c6d-9e0f-1a2b3c4d5e6f\"",
    );
    let verdict = verify_one(format!("{H}.{attest_b}.{signature}{}", params(X5U)));
    assert_rejected(&verdict, 438);
    assert_eq!(verdict.failure.unwrap().check, Check::Signature);

    let other_call = claims_with(
        "\"A\"",
        "1796396401",
        "12025550100",
        "\"00000000-0000-4000-8000-000000000000\"",
    );
    let verdict = verify_one(format!("{H}.{P}.{}{}", sig(H, &other_call), params(X5U)));
    assert_rejected(&verdict, 438);
    assert_eq!(verdict.failure.unwrap().check, Check::Signature);
}

#[test]
fn iat_window_symmetric() {
    let passes = [-60, -59, 59, 60];
    let fails = [-3600, -61, 61, 300];
    for offset in passes.iter().chain(&fails) {
        let iat = (T0 + offset).to_string();
        let payload = claims_with(
            "\"A\"",
            &iat,
            "12025550100",
            "\"8d7c1b5e-2f3a-4c6d-9e0f-1a2b3c4d5e6f\"",
        );
        let verdict = verify_one(format!("{}{}", token(H, &payload), params(X5U)));
        if passes.contains(offset) {
            assert_passed(&verdict);
        } else {
            assert_rejected(&verdict, 403);
        }
    }
}

#[test]
fn stale_and_unfetchable_answers_stale() {
    // The check order puts freshness before the certificate, so a stale PASSporT
    // never makes the verifier fetch its x5u.
    let payload = claims_with(
        "\"A\"",
        "1796396000",
        "12025550100",
        "\"8d7c1b5e-2f3a-4c6d-9e0f-1a2b3c4d5e6f\"",
    );
    let header = base64url::encode(br#"{"alg":"ES256","ppt":"shaken","typ":"passport","x5u":"https://unreachable.example.net/x.pem"}"#);
    let value = format!(
        "{}{}",
        token(&header, &payload),
        params("https://unreachable.example.net/x.pem")
    );
    assert_rejected(&verify_one(value), 403);
}

/// A div or unknown PASSporT stays skipped when its Identity header leaves out
/// the ppt parameter, which the lenient profile otherwise tolerates.
#[test]
fn unsupported_ppt_without_parameter_skipped() {
    for header in [H_DIV.to_owned(), base64url::encode(br#"{"alg":"ES256","ppt":"foo","typ":"passport","x5u":"https://cert.example.com/sp/shaken.pem"}"#)] {
        let value = format!("{header}.{P}.{};info=<{X5U}>;alg=ES256", sig(&header, P));
        let verdict = verify_one(value);
        assert_eq!(verdict.verstat, Verstat::NoTnValidation, "{verdict:?}");
        assert_eq!(verdict.failure.map(|f| f.response.code), Some(428));
    }
}

/// A PASSporT that names a claim twice says two things under one signature.
#[test]
fn duplicate_claim_rejected() {
    let payload = claims(
        r#"{"attest":"C","dest":{"tn":["12025550101"]},"iat":1796396400,"orig":{"tn":"12025550100"},"origid":"x","attest":"A"}"#,
    );
    let verdict = verify_one(format!("{}{}", token(H, &payload), params(X5U)));
    assert_rejected(&verdict, 438);
    assert!(
        verdict
            .failure
            .unwrap()
            .reason
            .contains("appears more than once")
    );
}

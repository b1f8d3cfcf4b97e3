// The body of the `certificate` fuzz target. The fuzz target and the cert crate's
// `fuzz_corpus` test both include this file with `include!`, so a crash input
// replays through the same code under `cargo test`. The including file defines
// these byte constants, each the contents of a file under `testdata/pki/`:
// `ROOT_PEM` (root.pem), `SUBSCRIBER_CHAIN_PEM` (subscriber-chain.pem),
// `REVOKED_CHAIN_PEM` (revoked-chain.pem), `CRL_PEM` (crl-certificate-issuer.pem)
// and `CRL_SIGNER_PEM` (crl-signer.pem).

use std::sync::atomic::{AtomicU64, Ordering};

use cert::tnauthlist::{
    Coverage, JwtClaimConstraints, MAX_CLAIM_LIST_ITEMS, MAX_TELEPHONE_NUMBER_LENGTH,
    MAX_TN_ENTRIES, OID_ENHANCED_JWT_CLAIM_CONSTRAINTS, OID_JWT_CLAIM_CONSTRAINTS,
    OID_TN_AUTH_LIST, TnAuthList, TnEntry,
};
use cert::{
    Certificate, CrlPolicy, CrlStore, MAX_BUNDLE_CERTIFICATES, MAX_CHAIN_BYTES,
    MAX_CHAIN_CERTIFICATES, MAX_PATH_LEN, Revocation, ValidatedPath, ValidationError,
};

/// The verification time, 2026-12-04T15:00:00Z, inside the test PKI's validity.
const FUZZ_NOW: i64 = 1_796_396_400;

/// Telephone numbers matched against every decoded TNAuthList. The last two are
/// not canonical, so no entry may cover them.
const FUZZ_NUMBERS: [&str; 7] = [
    "12025550100",
    "999",
    "0",
    "*",
    "123456789012345",
    "",
    "+12025550100",
];

/// The maximum number of entries of one TNAuthList matched against the whole
/// list, because each match walks every entry.
const FUZZ_MAX_LIST_MATCHES: usize = 64;

/// The keyUsage bit names that `Certificate::key_usage` may contain.
const KEY_USAGE_NAMES: [&str; 9] = [
    "digitalSignature",
    "nonRepudiation",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
    "encipherOnly",
    "decipherOnly",
];

/// The fixed part of the test PKI, parsed once.
struct FuzzPki {
    /// The trust anchor `root.pem`.
    anchors: Vec<Certificate>,
    /// The valid subscriber chain.
    subscriber_chain: Vec<Certificate>,
    /// The subscriber chain that `CRL_PEM` revokes.
    revoked_chain: Vec<Certificate>,
    /// `CRL_PEM` and its signer under the default policy.
    crls: CrlStore,
    /// `CRL_PEM` and its signer under a policy that lets missing and stale CRLs pass.
    lenient_crls: CrlStore,
}

/// Returns the test PKI, parsed and checked on the first call.
fn fuzz_pki() -> &'static FuzzPki {
    static PKI: std::sync::OnceLock<FuzzPki> = std::sync::OnceLock::new();
    PKI.get_or_init(|| {
        let parse = |pem: &[u8]| cert::parse_chain(pem).expect("the test PKI file parses");
        let mut crl_file = CRL_PEM.to_vec();
        crl_file.extend_from_slice(CRL_SIGNER_PEM);
        let lenient = CrlPolicy {
            stale_grace: i64::MAX,
            require_crl: false,
        };
        let pki = FuzzPki {
            anchors: parse(ROOT_PEM),
            subscriber_chain: parse(SUBSCRIBER_CHAIN_PEM),
            revoked_chain: parse(REVOKED_CHAIN_PEM),
            crls: load_crl_file(&crl_file, CrlPolicy::default()).expect("the test CRL loads"),
            lenient_crls: load_crl_file(&crl_file, lenient).expect("the test CRL loads"),
        };

        let subscriber =
            cert::validate_path_with_crls(&pki.subscriber_chain, &pki.anchors, &pki.crls, FUZZ_NOW);
        assert!(
            subscriber.is_ok(),
            "the test subscriber chain does not validate: {subscriber:?}"
        );
        let revoked =
            cert::validate_path_with_crls(&pki.revoked_chain, &pki.anchors, &pki.crls, FUZZ_NOW);
        assert!(
            matches!(revoked, Err(ValidationError::Revoked { .. })),
            "the test CRL does not revoke the revoked chain: {revoked:?}"
        );
        pki
    })
}

/// Loads `bytes` as a CRL file with `CrlStore::load`, which reads only from disk,
/// through a temporary file that is removed afterwards.
fn load_crl_file(bytes: &[u8], policy: CrlPolicy) -> Result<CrlStore, cert::CrlError> {
    static NEXT_FILE: AtomicU64 = AtomicU64::new(0);
    let number = NEXT_FILE.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "stird-fuzz-crl-{}-{number}.pem",
        std::process::id()
    ));
    if let Err(error) = std::fs::write(&path, bytes) {
        panic!(
            "cannot write the temporary CRL file {}: {error}",
            path.display()
        );
    }
    let store = CrlStore::load(std::slice::from_ref(&path), &[], policy);
    if let Err(error) = std::fs::remove_file(&path) {
        panic!(
            "cannot remove the temporary CRL file {}: {error}",
            path.display()
        );
    }
    store
}

/// Runs one input through the cert crate: as a certificate document, as a
/// TNAuthList, as both forms of JWT claim constraints and as a CRL file. Errors
/// are expected results. A panic means that the crate panicked or that one of
/// the invariants asserted here broke.
pub fn run_certificate_input(data: &[u8]) {
    let pki = fuzz_pki();

    let chain = check_certificate_document(data, pki);
    check_tn_auth_list_value(data);
    check_claim_constraints_value(data);

    // `CrlStore::load` reads DER when a file starts with a SEQUENCE tag and PEM
    // blocks otherwise, so other inputs can only fail with `CrlError::Empty`.
    if data.first() == Some(&0x30) || contains(data, b"-----BEGIN ") {
        check_crl_file(data, chain.as_deref(), pki);
    }
}

/// Parses the input as a chain and as a bundle, checks each certificate, and
/// validates the chain. Returns the chain when it parses.
fn check_certificate_document(data: &[u8], pki: &FuzzPki) -> Option<Vec<Certificate>> {
    let chain = cert::parse_chain(data);
    let bundle = cert::parse_bundle(data);

    match (&chain, &bundle) {
        (Ok(chain), Ok(bundle)) => assert_eq!(chain, bundle, "chain and bundle differ"),
        (Ok(_), Err(error)) => panic!("a chain that parses is not a bundle: {error}"),
        (Err(error), Ok(bundle)) => assert!(
            bundle.len() > MAX_CHAIN_CERTIFICATES || data.len() > MAX_CHAIN_BYTES,
            "a bundle of {} certificates in {} bytes is not a chain: {error}",
            bundle.len(),
            data.len()
        ),
        (Err(chain_error), Err(bundle_error)) => {
            assert!(!chain_error.to_string().is_empty(), "empty chain error");
            assert!(!bundle_error.to_string().is_empty(), "empty bundle error");
        }
    }

    if let Ok(bundle) = &bundle {
        assert!(
            (1..=MAX_BUNDLE_CERTIFICATES).contains(&bundle.len()),
            "a bundle has {} certificates",
            bundle.len()
        );
        for certificate in bundle {
            check_certificate(certificate);
        }
    }

    let chain = chain.ok()?;
    assert!(
        (1..=MAX_CHAIN_CERTIFICATES).contains(&chain.len()),
        "a chain has {} certificates",
        chain.len()
    );
    check_chain_validation(&chain, pki);
    Some(chain)
}

/// Checks the decoded fields of one certificate against each other and against
/// a second parse of its DER encoding.
fn check_certificate(certificate: &Certificate) {
    let reparsed = cert::parse_bundle(&certificate.der);
    assert_eq!(
        reparsed.as_deref(),
        Ok(std::slice::from_ref(certificate)),
        "the DER encoding of a certificate parses differently"
    );

    assert!(
        certificate
            .serial
            .bytes()
            .all(|byte| byte.is_ascii_hexdigit() || byte == b':'),
        "serial {:?} is not colon-separated hexadecimal",
        certificate.serial
    );

    match certificate.p256_public_key() {
        Ok(key) => {
            assert_eq!(key, certificate.public_key.as_slice(), "P-256 key differs");
            assert_eq!(certificate.key_algorithm, "id-ecPublicKey P-256");
        }
        Err(error) => {
            assert_ne!(certificate.key_algorithm, "id-ecPublicKey P-256");
            assert!(!error.to_string().is_empty(), "empty key error");
        }
    }

    check_certificate_extensions(certificate);
}

/// Checks that each decoded extension field agrees with the list of extension
/// OIDs, and checks the decoded SHAKEN extensions.
fn check_certificate_extensions(certificate: &Certificate) {
    let has_extension = |oid: &str| {
        certificate
            .extensions
            .iter()
            .any(|(extension, _)| extension == oid)
    };

    assert_eq!(
        certificate.tn_auth_list.is_some(),
        has_extension(OID_TN_AUTH_LIST),
        "tn_auth_list disagrees with the extension list"
    );
    match &certificate.tn_auth_list {
        Some(Ok(list)) => check_tn_auth_list(list),
        Some(Err(error)) => assert!(!error.to_string().is_empty(), "empty TNAuthList error"),
        None => {}
    }

    assert_eq!(
        certificate.jwt_claim_constraints.is_some(),
        has_extension(OID_JWT_CLAIM_CONSTRAINTS)
            || has_extension(OID_ENHANCED_JWT_CLAIM_CONSTRAINTS),
        "jwt_claim_constraints disagrees with the extension list"
    );
    match &certificate.jwt_claim_constraints {
        Some(Ok(constraints)) => check_claim_constraints(constraints),
        Some(Err(error)) => assert!(!error.to_string().is_empty(), "empty constraints error"),
        None => {}
    }

    if !certificate.crl_distribution_points.is_empty() {
        assert!(
            has_extension("2.5.29.31"),
            "CRL distribution points without the extension"
        );
    }
    let distribution_names: usize = certificate
        .crl_distribution_points
        .iter()
        .map(|point| point.uris.len() + point.crl_issuers.len())
        .sum();
    std::hint::black_box(distribution_names);

    if !certificate.policies.is_empty() {
        assert!(has_extension("2.5.29.32"), "policies without the extension");
    }

    if !certificate.key_usage.is_empty() {
        assert!(has_extension("2.5.29.15"), "keyUsage without the extension");
    }
    for (index, name) in certificate.key_usage.iter().enumerate() {
        assert!(
            KEY_USAGE_NAMES.contains(name),
            "unknown keyUsage name {name}"
        );
        assert!(
            !certificate
                .key_usage
                .iter()
                .skip(index + 1)
                .any(|other| other == name),
            "keyUsage lists {name} twice"
        );
    }
}

/// Validates the chain against the test root and against its own certificates,
/// with and without the test CRL.
fn check_chain_validation(chain: &[Certificate], pki: &FuzzPki) {
    let Some(leaf) = chain.first() else {
        return;
    };

    let to_root = cert::validate_path(chain, &pki.anchors, FUZZ_NOW);
    check_validated_path(&to_root, leaf, &pki.anchors);

    let to_itself = cert::validate_path(chain, chain, FUZZ_NOW);
    check_validated_path(&to_itself, leaf, chain);
    // A certificate is never its own issuer in a path, so a chain whose
    // certificates are all the leaf has no path.
    if chain.iter().all(|certificate| certificate.der == leaf.der) {
        assert!(to_itself.is_err(), "a chain of one certificate validated");
    }

    let with_crls = cert::validate_path_with_crls(chain, &pki.anchors, &pki.crls, FUZZ_NOW);
    check_revocation_result(&to_root, &with_crls);
    let with_lenient_crls =
        cert::validate_path_with_crls(chain, &pki.anchors, &pki.lenient_crls, FUZZ_NOW);
    check_revocation_result(&to_root, &with_lenient_crls);
    if with_crls.is_ok() {
        assert!(
            with_lenient_crls.is_ok(),
            "the lenient CRL policy rejected what the default one accepted: {with_lenient_crls:?}"
        );
    }
}

/// Asserts that a validated path runs from the leaf to one of the anchors.
fn check_validated_path(
    result: &Result<ValidatedPath, ValidationError>,
    leaf: &Certificate,
    anchors: &[Certificate],
) {
    let path = match result {
        Ok(path) => path,
        Err(error) => {
            assert!(!error.to_string().is_empty(), "empty validation error");
            return;
        }
    };

    assert!(
        (2..=MAX_PATH_LEN).contains(&path.certificates.len()),
        "a path has {} certificates",
        path.certificates.len()
    );
    assert_eq!(path.revocation, Revocation::NotChecked);
    let first = path.certificates.first();
    assert!(
        first.is_some_and(|named| named.subject == leaf.subject && named.serial == leaf.serial),
        "the path does not start at the leaf: {first:?}"
    );
    let last = path.certificates.last();
    assert!(
        last.is_some_and(|named| {
            anchors
                .iter()
                .any(|anchor| anchor.subject == named.subject && anchor.serial == named.serial)
        }),
        "the path does not end at an anchor: {last:?}"
    );
}

/// Asserts that a check with CRLs fails exactly as the check without them, and
/// that on a valid path it adds only a revocation result.
fn check_revocation_result(
    without_crls: &Result<ValidatedPath, ValidationError>,
    with_crls: &Result<ValidatedPath, ValidationError>,
) {
    let path = match without_crls {
        Ok(path) => path,
        Err(error) => {
            assert_eq!(
                with_crls.as_ref().err(),
                Some(error),
                "CRLs changed the error"
            );
            return;
        }
    };

    match with_crls {
        Ok(checked) => {
            assert_eq!(
                checked.certificates, path.certificates,
                "CRLs changed the path"
            );
            assert!(
                matches!(checked.revocation, Revocation::Checked { .. }),
                "a path checked with CRLs is not marked as checked"
            );
        }
        Err(error) => assert!(
            matches!(
                error,
                ValidationError::Revoked { .. }
                    | ValidationError::CrlMissing { .. }
                    | ValidationError::CrlStale { .. }
                    | ValidationError::CrlUntrusted { .. }
            ),
            "a valid path failed the CRL check with a path error: {error}"
        ),
    }
}

/// Loads the input as a CRL file, then validates the test chains, and the
/// input's own chain when it has one, against the loaded CRLs.
fn check_crl_file(data: &[u8], input_chain: Option<&[Certificate]>, pki: &FuzzPki) {
    let crls = match load_crl_file(data, CrlPolicy::default()) {
        Ok(crls) => crls,
        Err(error) => {
            assert!(!error.to_string().is_empty(), "empty CRL error");
            return;
        }
    };
    assert!(!crls.is_empty(), "a CRL store loaded without CRLs");

    let test_chains = [&pki.subscriber_chain, &pki.revoked_chain];
    for chain in test_chains
        .into_iter()
        .map(Vec::as_slice)
        .chain(input_chain)
    {
        let without_crls = cert::validate_path(chain, &pki.anchors, FUZZ_NOW);
        let with_crls = cert::validate_path_with_crls(chain, &pki.anchors, &crls, FUZZ_NOW);
        check_revocation_result(&without_crls, &with_crls);
    }
}

/// Decodes the input as a TNAuthList extension value and checks the result,
/// including that encoding it again gives the input back.
fn check_tn_auth_list_value(data: &[u8]) {
    let list = match cert::tnauthlist::decode(data) {
        Ok(list) => list,
        Err(error) => {
            assert!(!error.to_string().is_empty(), "empty TNAuthList error");
            return;
        }
    };
    check_tn_auth_list(&list);

    // The decoder skips extra elements after a range's count, which the
    // extension marker allows, so only a list without ranges is sure to encode
    // to the input's bytes.
    let encoded = encode_tn_auth_list(&list);
    assert!(
        encoded.len() <= data.len(),
        "the encoding of a decoded TNAuthList is longer than the input"
    );
    let has_range = list
        .entries()
        .iter()
        .any(|entry| matches!(entry, TnEntry::Range { .. }));
    if !has_range {
        assert_eq!(
            encoded, data,
            "a TNAuthList without ranges encodes differently"
        );
    }
}

/// Checks a decoded TNAuthList: its size, each entry's content, the numbers
/// each entry covers, and that its encoding decodes to the same list.
fn check_tn_auth_list(list: &TnAuthList) {
    let entries = list.entries();
    assert!(!entries.is_empty(), "a decoded TNAuthList has no entry");
    assert!(
        entries.len() <= MAX_TN_ENTRIES,
        "a TNAuthList is over the limit"
    );
    assert_eq!(list.spc(), list.spcs().next(), "spc is not the first SPC");

    for (index, entry) in entries.iter().enumerate() {
        check_tn_entry(entry);
        if index < FUZZ_MAX_LIST_MATCHES {
            match entry {
                TnEntry::One(number) => assert_eq!(list.covers(number), Coverage::Number),
                TnEntry::Range { start, .. } => assert_eq!(list.covers(start), Coverage::Number),
                TnEntry::Spc(_) => {}
            }
        }
    }

    for number in FUZZ_NUMBERS {
        let expected = if entries.iter().any(|entry| entry.covers(number)) {
            Coverage::Number
        } else if list.spc().is_some() {
            Coverage::SpcOnly
        } else {
            Coverage::No
        };
        assert_eq!(list.covers(number), expected, "coverage of {number:?}");
        if !is_telephone_number(number) {
            assert_ne!(expected, Coverage::Number, "{number:?} is not canonical");
        }
    }

    let reencoded = encode_tn_auth_list(list);
    assert_eq!(
        cert::tnauthlist::decode(&reencoded).as_ref(),
        Ok(list),
        "a TNAuthList changed through its encoding"
    );
}

/// Checks one TNAuthList entry and the numbers at and around its ends.
fn check_tn_entry(entry: &TnEntry) {
    match entry {
        TnEntry::Spc(spc) => {
            assert!(spc.is_ascii(), "SPC {spc:?} is not IA5");
            for number in FUZZ_NUMBERS {
                assert!(!entry.covers(number), "an SPC covers {number:?}");
            }
        }
        TnEntry::One(number) => {
            assert!(is_telephone_number(number), "invalid number {number:?}");
            assert!(entry.covers(number), "a number does not cover itself");
        }
        TnEntry::Range { start, count } => {
            assert!(is_telephone_number(start), "invalid range start {start:?}");
            assert!(*count >= 2, "a range has count {count}");
            assert!(entry.covers(start), "a range does not cover its start");
            check_range_ends(entry, start, *count);
        }
    }
}

/// Checks that a range of digits covers its last number and not the numbers just
/// outside it, where these have the start's length.
fn check_range_ends(entry: &TnEntry, start: &str, count: u64) {
    let Some(first) = digits_value(start) else {
        return;
    };
    let width = start.len();
    let same_length = |value: u128| {
        let text = format!("{value:0width$}");
        (text.len() == width).then_some(text)
    };

    let last = first + u128::from(count) - 1;
    if let Some(text) = same_length(last) {
        assert!(entry.covers(&text), "range {start}+{count} misses {text}");
    }
    if let Some(text) = same_length(last + 1) {
        assert!(!entry.covers(&text), "range {start}+{count} covers {text}");
    }
    if let Some(text) = first.checked_sub(1).and_then(same_length) {
        assert!(!entry.covers(&text), "range {start}+{count} covers {text}");
    }
}

/// Reports whether `number` is a TelephoneNumber: 1 to 15 characters from
/// `0123456789#*` (RFC 8226 section 9).
fn is_telephone_number(number: &str) -> bool {
    (1..=MAX_TELEPHONE_NUMBER_LENGTH).contains(&number.len())
        && number
            .bytes()
            .all(|byte| byte.is_ascii_digit() || byte == b'#' || byte == b'*')
}

/// Returns the value of a string of 1 to 15 decimal digits, or `None` for any
/// other string.
fn digits_value(digits: &str) -> Option<u128> {
    if digits.is_empty() || digits.len() > MAX_TELEPHONE_NUMBER_LENGTH {
        return None;
    }
    digits.bytes().try_fold(0_u128, |value, byte| {
        byte.is_ascii_digit()
            .then(|| value * 10 + u128::from(byte - b'0'))
    })
}

/// Decodes the input as both forms of JWT claim constraints and checks that the
/// RFC 9118 form accepts everything the RFC 8226 form does, and that a decoded
/// value encodes to the input's bytes.
fn check_claim_constraints_value(data: &[u8]) {
    let plain = cert::tnauthlist::decode_jwt_claim_constraints(data);
    let enhanced = cert::tnauthlist::decode_enhanced_jwt_claim_constraints(data);

    match (&plain, &enhanced) {
        (Ok(plain), Ok(enhanced)) => {
            assert_eq!(plain, enhanced, "the two forms decode differently");
            assert!(
                plain.must_exclude.is_empty(),
                "RFC 8226 form has mustExclude"
            );
        }
        (Ok(_), Err(error)) => panic!("the RFC 9118 form rejected an RFC 8226 value: {error}"),
        (Err(error), Ok(enhanced)) => assert!(
            !enhanced.must_exclude.is_empty(),
            "the RFC 8226 form rejected a value without mustExclude: {error}"
        ),
        (Err(plain_error), Err(enhanced_error)) => {
            assert!(
                !plain_error.to_string().is_empty(),
                "empty constraints error"
            );
            assert!(
                !enhanced_error.to_string().is_empty(),
                "empty constraints error"
            );
        }
    }

    if let Ok(constraints) = &enhanced {
        check_claim_constraints(constraints);
        assert_eq!(
            encode_claim_constraints(constraints),
            data,
            "decoded JWT claim constraints encode differently"
        );
    }
}

/// Checks that decoded JWT claim constraints have at least one list, and that
/// each list present has between one item and the limit.
fn check_claim_constraints(constraints: &JwtClaimConstraints) {
    assert!(
        !constraints.must_include.is_empty()
            || !constraints.permitted_values.is_empty()
            || !constraints.must_exclude.is_empty(),
        "decoded JWT claim constraints have no list"
    );
    for names in [&constraints.must_include, &constraints.must_exclude] {
        assert!(
            names.len() <= MAX_CLAIM_LIST_ITEMS,
            "a claim list is over the limit"
        );
        assert!(
            names.iter().all(|name| name.is_ascii()),
            "a claim name is not IA5"
        );
    }
    assert!(
        constraints.permitted_values.len() <= MAX_CLAIM_LIST_ITEMS,
        "permittedValues is over the limit"
    );
    for (claim, values) in &constraints.permitted_values {
        assert!(claim.is_ascii(), "claim name {claim:?} is not IA5");
        assert!(
            (1..=MAX_CLAIM_LIST_ITEMS).contains(&values.len()),
            "claim {claim:?} has {} permitted values",
            values.len()
        );
    }
}

/// Encodes a TNAuthList in DER, with EXPLICIT context tags as the decoder reads
/// them.
fn encode_tn_auth_list(list: &TnAuthList) -> Vec<u8> {
    let mut entries = Vec::new();
    for entry in list.entries() {
        let encoded = match entry {
            TnEntry::Spc(spc) => der_element(0xa0, &der_element(0x16, spc.as_bytes())),
            TnEntry::Range { start, count } => {
                let mut range = der_element(0x16, start.as_bytes());
                range.extend(der_element(0x02, &der_unsigned_integer(*count)));
                der_element(0xa1, &der_element(0x30, &range))
            }
            TnEntry::One(number) => der_element(0xa2, &der_element(0x16, number.as_bytes())),
        };
        entries.extend(encoded);
    }
    der_element(0x30, &entries)
}

/// Encodes JWT claim constraints in DER, in the RFC 9118 form, which is the
/// RFC 8226 form when `must_exclude` is empty. An empty list is left out.
fn encode_claim_constraints(constraints: &JwtClaimConstraints) -> Vec<u8> {
    let claim_names = |names: &[String]| {
        let items: Vec<u8> = names
            .iter()
            .flat_map(|name| der_element(0x16, name.as_bytes()))
            .collect();
        der_element(0x30, &items)
    };

    let mut fields = Vec::new();
    if !constraints.must_include.is_empty() {
        fields.extend(der_element(0xa0, &claim_names(&constraints.must_include)));
    }
    if !constraints.permitted_values.is_empty() {
        let mut entries = Vec::new();
        for (claim, values) in &constraints.permitted_values {
            let value_items: Vec<u8> = values
                .iter()
                .flat_map(|value| der_element(0x0c, value.as_bytes()))
                .collect();
            let mut entry = der_element(0x16, claim.as_bytes());
            entry.extend(der_element(0x30, &value_items));
            entries.extend(der_element(0x30, &entry));
        }
        fields.extend(der_element(0xa1, &der_element(0x30, &entries)));
    }
    if !constraints.must_exclude.is_empty() {
        fields.extend(der_element(0xa2, &claim_names(&constraints.must_exclude)));
    }
    der_element(0x30, &fields)
}

/// Encodes one DER element with a single-octet tag and the minimal length form.
fn der_element(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut element = vec![tag];
    match u8::try_from(content.len()) {
        Ok(length) if length < 0x80 => element.push(length),
        _ => {
            let length = content.len().to_be_bytes();
            let octets: Vec<u8> = length
                .iter()
                .copied()
                .skip_while(|&byte| byte == 0)
                .collect();
            element.push(0x80 | u8::try_from(octets.len()).unwrap_or(0));
            element.extend(octets);
        }
    }
    element.extend_from_slice(content);
    element
}

/// Encodes the content of a non-negative DER INTEGER: the big-endian value without
/// leading zero octets, with one zero octet added when the high bit is set.
fn der_unsigned_integer(value: u64) -> Vec<u8> {
    let mut octets: Vec<u8> = value
        .to_be_bytes()
        .into_iter()
        .skip_while(|&byte| byte == 0)
        .collect();
    if octets.first().is_none_or(|&byte| byte & 0x80 != 0) {
        octets.insert(0, 0);
    }
    octets
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

//! Signing and verifying a SHAKEN PASSporT through the crate, beside a bare
//! aws-lc-rs ECDSA P-256 signature over the same bytes, in one run.
//!
//! The crate's overhead is the ratio of the two: JSON encoding, base64url, the
//! Identity header and every I/O-free check on top of the ECDSA operation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    ParsedPublicKey,
};
use criterion::{Criterion, criterion_group, criterion_main};
use passport::{
    Attestation, Claims, Decoded, Dest, IdentityHeader, Options, Orig, RequestIdentities,
    SigningKey, base64url,
};

const KEY: &[u8] = include_bytes!("../tests/data/signer.key.pem");
const X5U: &str = "https://cr.example.com/sti/123J.pem";
const IAT: i64 = 1_796_396_400;

fn claims() -> Claims {
    Claims::shaken(
        Attestation::A,
        Orig::Tn("12025550100".into()),
        Dest {
            tn: vec!["12025550101".into()],
            uri: vec![],
        },
        IAT,
        "8d7c1b5e-2f3a-4c6d-9e0f-1a2b3c4d5e6f".into(),
    )
}

/// The same private key as a bare aws-lc-rs key pair.
fn bare_key_pair() -> EcdsaKeyPair {
    let blocks = pem::parse_many(KEY).unwrap();
    let key = blocks
        .iter()
        .find(|block| block.tag().ends_with("PRIVATE KEY"))
        .unwrap();
    EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, key.contents()).unwrap()
}

fn sign(c: &mut Criterion) {
    let key = SigningKey::from_pem_or_der(KEY).unwrap();
    let claims = claims();
    let bare = bare_key_pair();
    let random = SystemRandom::new();
    let jws = passport::sign(&key, X5U, Some("shaken"), &claims).unwrap();
    let signing_input = jws.rsplit_once('.').unwrap().0.to_owned();

    let mut group = c.benchmark_group("sign");
    group.bench_function("passport identity header", |b| {
        b.iter(|| {
            let identity =
                passport::sign_identity(&key, X5U, Some("shaken"), black_box(&claims)).unwrap();
            black_box(identity.to_string())
        })
    });
    group.bench_function("bare aws-lc-rs ECDSA P-256", |b| {
        b.iter(|| {
            black_box(
                bare.sign(&random, black_box(signing_input.as_bytes()))
                    .unwrap(),
            )
        })
    });
    group.finish();
}

fn verify(c: &mut Criterion) {
    let key = SigningKey::from_pem_or_der(KEY).unwrap();
    let verifying = key.verifying_key().unwrap();
    let identity = passport::sign_identity(&key, X5U, Some("shaken"), &claims())
        .unwrap()
        .to_string();
    let (signing_input, signature) = identity
        .split(';')
        .next()
        .unwrap()
        .rsplit_once('.')
        .map(|(input, signature)| (input.to_owned(), base64url::decode(signature).unwrap()))
        .unwrap();
    let bare = ParsedPublicKey::new(
        &ECDSA_P256_SHA256_FIXED,
        bare_key_pair().public_key().as_ref(),
    )
    .unwrap();
    let options = Options::at(IAT + 5);
    let request = RequestIdentities {
        orig: Some("<sip:+12025550100@carrier.example.org;user=phone>"),
        dest: Some("<sip:+12025550101@sbc.example.com;user=phone>"),
    };

    let mut group = c.benchmark_group("verify");
    group.bench_function("passport identity header", |b| {
        b.iter(|| {
            let parsed = IdentityHeader::parse(black_box(&identity)).unwrap();
            let verified = Decoded::from_identity(&parsed)
                .unwrap()
                .check(&parsed, request, &options)
                .unwrap()
                .verify_signature(&verifying)
                .unwrap();
            black_box(verified)
        })
    });
    group.bench_function("bare aws-lc-rs ECDSA P-256", |b| {
        b.iter(|| {
            bare.verify_sig(black_box(signing_input.as_bytes()), black_box(&signature))
                .unwrap()
        })
    });
    group.finish();

    // The steps of the crate's verification, to see where its overhead goes.
    let parsed = IdentityHeader::parse(&identity).unwrap();
    let mut steps = c.benchmark_group("verify steps");
    steps.bench_function("parse Identity header", |b| {
        b.iter(|| black_box(IdentityHeader::parse(black_box(&identity)).unwrap()))
    });
    steps.bench_function("decode JWS", |b| {
        b.iter(|| black_box(Decoded::from_identity(black_box(&parsed)).unwrap()))
    });
    let decoded = Decoded::from_identity(&parsed).unwrap();
    steps.bench_function("run checks", |b| {
        b.iter(|| black_box(decoded.clone().check(&parsed, request, &options).unwrap()))
    });
    steps.finish();
}

criterion_group!(benches, sign, verify);
criterion_main!(benches);

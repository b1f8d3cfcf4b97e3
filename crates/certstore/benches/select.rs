//! Picking a credential among 100,000, beside one ES256 signature, in one run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use certstore::{Credential, CredentialSet, Selector};
use criterion::{Criterion, criterion_group, criterion_main};
use passport::{Attestation, SigningKey};

const COUNT: u64 = 100_000;

fn credential(index: u64, key: SigningKey) -> Credential {
    let selectors = match index % 10 {
        // One credential in ten holds a range of 1,000 numbers, one a prefix.
        0 => vec![Selector::Range {
            start: format!("{}", 13_000_000_000 + index * 1_000),
            count: 1_000,
        }],
        1 => vec![Selector::Prefix(format!("14{index:06}"))],
        _ => vec![Selector::Number(format!("{}", 12_000_000_000 + index))],
    };
    Credential {
        name: format!("credential-{index}"),
        key,
        chain: Vec::new(),
        x5u: format!("https://cr.example.com/{index}.pem"),
        attest_max: Attestation::A,
        attest_default: Attestation::B,
        selectors,
        not_after: i64::MAX,
        warnings: Vec::new(),
    }
}

fn new_key() -> SigningKey {
    let random = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &random,
    )
    .unwrap();
    SigningKey::from_der(pkcs8.as_ref()).unwrap()
}

fn select(c: &mut Criterion) {
    let set = CredentialSet::build(
        (0..COUNT)
            .map(|index| credential(index, new_key()))
            .collect(),
    )
    .unwrap();
    let key = new_key();

    let mut group = c.benchmark_group("credential selection among 100,000");
    group.bench_function("exact number", |b| {
        b.iter(|| black_box(set.select(black_box("12000054322"), None).unwrap()))
    });
    group.bench_function("range", |b| {
        b.iter(|| black_box(set.select(black_box("13054320500"), None).unwrap()))
    });
    group.bench_function("prefix", |b| {
        b.iter(|| black_box(set.select(black_box("14000011999"), None).unwrap()))
    });
    group.bench_function("no match", |b| {
        b.iter(|| black_box(set.select(black_box("19995550100"), Some("none"))))
    });
    group.bench_function("one ES256 signature", |b| {
        b.iter(|| black_box(key.sign(black_box(b"signing input")).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, select);
criterion_main!(benches);

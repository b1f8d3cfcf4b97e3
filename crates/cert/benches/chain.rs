//! Parsing, TNAuthList decoding and path validation of a real three-certificate
//! SHAKEN chain (subscriber, intermediate, root). Each runs once per certificate
//! fetched, not per call; the figures show what a cache miss costs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

const CHAIN: &[u8] = include_bytes!("../../../testdata/certs/real-martini-x5u-chain.pem");
const ROOT: &[u8] = include_bytes!("../../../testdata/certs/real-martini-r1-root.pem");
/// 2023-09-29T15:06:40Z, inside the chain's validity.
const AT: i64 = 1_696_000_000;

fn chain(c: &mut Criterion) {
    let chain = cert::parse_chain(CHAIN).unwrap();
    let anchors = cert::parse_chain(ROOT).unwrap();
    let tn_auth_list_der: &[u8] = &[0x30, 0x08, 0xA0, 0x06, 0x16, 0x04, b'7', b'0', b'9', b'J'];

    let mut group = c.benchmark_group("certificate");
    group.bench_function("parse PEM chain", |b| {
        b.iter(|| black_box(cert::parse_chain(black_box(CHAIN)).unwrap()))
    });
    group.bench_function("decode TNAuthList", |b| {
        b.iter(|| black_box(cert::tnauthlist::decode(black_box(tn_auth_list_der)).unwrap()))
    });
    group.bench_function("validate path", |b| {
        b.iter(|| black_box(cert::validate_path(black_box(&chain), &anchors, AT).unwrap()))
    });
    group.bench_function("parse and validate", |b| {
        b.iter(|| {
            let chain = cert::parse_chain(black_box(CHAIN)).unwrap();
            black_box(cert::validate_path(&chain, &anchors, AT).unwrap())
        })
    });
    group.finish();
}

criterion_group!(benches, chain);
criterion_main!(benches);

//! Verifies one SHAKEN Identity header in a loop, for profilers such as
//! `valgrind --tool=callgrind`.
//!
//! Run: cargo run -p passport --release --example verify_loop -- 20000

#![allow(clippy::unwrap_used, clippy::expect_used)]

use passport::{
    Attestation, Claims, Decoded, Dest, IdentityHeader, Options, Orig, RequestIdentities,
    SigningKey,
};

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let key = SigningKey::from_pem_or_der(include_bytes!("../tests/data/signer.key.pem")).unwrap();
    let verifying = key.verifying_key().unwrap();
    let claims = Claims::shaken(
        Attestation::A,
        Orig::Tn("12025550100".into()),
        Dest {
            tn: vec!["12025550101".into()],
            uri: vec![],
        },
        1_796_396_400,
        "8d7c1b5e-2f3a-4c6d-9e0f-1a2b3c4d5e6f".into(),
    );
    let identity = passport::sign_identity(
        &key,
        "https://cr.example.com/sti/123J.pem",
        Some("shaken"),
        &claims,
    )
    .unwrap()
    .to_string();
    let options = Options::at(1_796_396_405);
    let request = RequestIdentities {
        orig: Some("<sip:+12025550100@carrier.example.org;user=phone>"),
        dest: Some("<sip:+12025550101@sbc.example.com;user=phone>"),
    };
    let mut verified = 0;
    for _ in 0..count {
        let parsed = IdentityHeader::parse(std::hint::black_box(&identity)).unwrap();
        let result = Decoded::from_identity(&parsed)
            .unwrap()
            .check(&parsed, request, &options)
            .unwrap()
            .verify_signature(&verifying);
        verified += usize::from(result.is_ok());
    }
    println!("{verified} of {count} verified");
}

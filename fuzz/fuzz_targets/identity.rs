//! Fuzzes the passport crate's Identity header parser, compact JWS decoder,
//! checks, signature verification, inspection and telephone number code.

#![no_main]

/// The test key that signed the seed corpus.
const SIGNER_KEY_PEM: &[u8] = include_bytes!("../../crates/passport/tests/data/signer.key.pem");

include!("identity_body.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    run_identity_input(data);
});

//! Fuzzes the cert crate's certificate document parser, TNAuthList and JWT
//! claim constraints decoders, path validation and CRL loading.

#![no_main]

/// The trust anchor of the test PKI.
const ROOT_PEM: &[u8] = include_bytes!("../../testdata/pki/root.pem");

/// The valid subscriber chain of the test PKI.
const SUBSCRIBER_CHAIN_PEM: &[u8] = include_bytes!("../../testdata/pki/subscriber-chain.pem");

/// The subscriber chain that `CRL_PEM` revokes.
const REVOKED_CHAIN_PEM: &[u8] = include_bytes!("../../testdata/pki/revoked-chain.pem");

/// The indirect CRL that revokes `REVOKED_CHAIN_PEM`.
const CRL_PEM: &[u8] = include_bytes!("../../testdata/pki/crl-certificate-issuer.pem");

/// The certificate of the CRL's signer.
const CRL_SIGNER_PEM: &[u8] = include_bytes!("../../testdata/pki/crl-signer.pem");

include!("certificate_body.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    run_certificate_input(data);
});

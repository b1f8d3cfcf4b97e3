//! Fuzzes the sip crate's message parser, header checks, stream framer and
//! Via and CSeq parsers.

#![no_main]

include!("sip_body.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    run_sip_input(data);
});

//! Compares stird's lint with the peer linter's findings over the certificate
//! corpus and prints one Markdown table row per stird rule.
//!
//! Run: cargo run -p cert --release --example lint_conformance

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeSet;
use std::io::Read as _;

use base64::Engine as _;
use cert::lint::{RULES, lint, role_of};

include!("../tests/lint_peer_map.rs");

fn main() {
    let path = format!(
        "{}/../../testdata/corpus/real-certs.jsonl.gz",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();

    // Per rule: certificates checked, both flag, only stird, only the peer.
    let mut counts = vec![[0usize; 4]; RULES.len()];
    for line in text.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let der = base64::engine::general_purpose::STANDARD
            .decode(record["der_b64"].as_str().unwrap())
            .unwrap();
        let certificate = cert::parse_chain(&der).unwrap().remove(0);
        let peer: BTreeSet<&str> = record["peer_lints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let role = role_of(&certificate);
        let report = lint(&certificate, role, 0);
        for (index, rule) in RULES.iter().enumerate() {
            if !rule.applies_to(role) {
                continue;
            }
            let ours = report.findings.iter().any(|f| f.rule.code == rule.code);
            let theirs = peer_codes(rule.code).iter().any(|code| peer.contains(code));
            let slot = &mut counts[index];
            slot[0] += 1;
            match (ours, theirs) {
                (true, true) => slot[1] += 1,
                (true, false) => slot[2] += 1,
                (false, true) => slot[3] += 1,
                (false, false) => {}
            }
        }
    }

    println!(
        "| stird rule | peer codes | checked | both flag | only stird | only peer | agreement |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for (rule, [checked, both, ours, theirs]) in RULES.iter().zip(counts) {
        let codes = peer_codes(rule.code);
        let agreement = if checked == 0 {
            100.0
        } else {
            100.0 * (checked - ours - theirs) as f64 / checked as f64
        };
        let names = if codes.is_empty() {
            "(none)".to_owned()
        } else {
            codes.join(", ")
        };
        println!(
            "| `{}` | {names} | {checked} | {both} | {ours} | {theirs} | {agreement:.1}% |",
            rule.code
        );
    }
}

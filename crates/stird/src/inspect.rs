//! `stird inspect`: explain an Identity header field by field.

use std::io::Read as _;

use passport::inspect::{Inspection, inspect};
use serde_json::{Map, Value};

use crate::verify::strip_header_name;
use crate::{InputError, Outcome, timearg};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 when every value parsed and decoded, 1 when a header or segment could not be parsed or decoded, 2 on no input."
)]
pub struct Args {
    /// The Identity header value. Without it, standard input is read: either one
    /// value, or SIP header lines whose Identity and y headers are each inspected.
    value: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Maximum number of bytes read from standard input. A SIP message is far smaller.
const MAX_STDIN: u64 = 1024 * 1024;

pub fn run(args: &Args) -> Result<Outcome, InputError> {
    let values = match &args.value {
        Some(value) => vec![strip_header_name(value).to_owned()],
        None => read_stdin()?,
    };
    if values.is_empty() {
        return Err("no Identity header value given on the command line or standard input".into());
    }

    let inspections: Vec<Inspection> = values.iter().map(|value| inspect(value)).collect();
    if args.json {
        let documents: Vec<Value> = inspections.iter().map(to_json).collect();
        let output = if documents.len() == 1 {
            documents.into_iter().next().unwrap_or_default()
        } else {
            Value::Array(documents)
        };
        crate::write_raw(&serde_json::to_string_pretty(&output).unwrap_or_default());
    } else {
        for (index, inspection) in inspections.iter().enumerate() {
            if inspections.len() > 1 {
                say!("Identity header {} of {}", index + 1, inspections.len());
            }
            print_text(inspection);
        }
    }

    let decoded = inspections.iter().all(fully_decoded);
    Ok(if decoded {
        Outcome::Valid
    } else {
        Outcome::Invalid
    })
}

fn read_stdin() -> Result<Vec<String>, InputError> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(MAX_STDIN + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| format!("cannot read standard input: {error}"))?;
    if bytes.len() as u64 > MAX_STDIN {
        return Err(format!("standard input is larger than {MAX_STDIN} bytes").into());
    }
    // A SIP body may be binary (ISUP) and a display name Latin-1, so bytes that
    // are not UTF-8 are replaced instead of failing the whole message.
    let input = String::from_utf8_lossy(&bytes);
    let headers = passport::find_identity_values(&input);
    if !headers.is_empty() {
        return Ok(headers);
    }
    if looks_like_sip_message(&input) {
        return Err("the SIP message on standard input has no Identity or y header".into());
    }
    let value = strip_header_name(&input);
    Ok(if value.is_empty() {
        Vec::new()
    } else {
        vec![value.to_owned()]
    })
}

/// Reports whether text starts like a SIP request or response.
fn looks_like_sip_message(text: &str) -> bool {
    let first = text.lines().next().unwrap_or_default().trim_end();
    first.starts_with("SIP/2.0 ") || first.ends_with(" SIP/2.0")
}

fn fully_decoded(inspection: &Inspection) -> bool {
    if inspection.parameters.is_none() {
        return false;
    }
    match inspection.form {
        "full" => {
            inspection.header.is_some()
                && inspection.claims.is_some()
                && inspection.signature_length.is_some()
        }
        "compact" => inspection.signature_length.is_some(),
        _ => false,
    }
}

fn to_json(inspection: &Inspection) -> Value {
    let mut value = serde_json::to_value(inspection).unwrap_or_default();
    if let (Value::Object(map), Some(iat)) = (&mut value, iat_seconds(inspection)) {
        map.insert(
            "iat_utc".to_owned(),
            Value::String(timearg::format_utc(iat)),
        );
    }
    value
}

fn iat_seconds(inspection: &Inspection) -> Option<i64> {
    inspection.summary.iat.as_ref().and_then(Value::as_i64)
}

fn print_text(inspection: &Inspection) {
    say!("UNVERIFIED: nothing below has been verified.");
    say!("form: {}", inspection.form);
    if let Some(parameters) = &inspection.parameters {
        say!("Identity parameters");
        say!("  info: {}", parameters.info);
        say!(
            "  alg: {}",
            parameters
                .alg
                .as_deref()
                .unwrap_or("(absent, ES256 by default)")
        );
        match &parameters.ppt {
            Some(ppt) if parameters.ppt_quoted => say!("  ppt: {ppt} (quoted)"),
            Some(ppt) => say!("  ppt: {ppt}"),
            None => say!("  ppt: (absent)"),
        }
        for (name, value) in &parameters.extensions {
            say!("  {name}: {}", value.as_deref().unwrap_or("(no value)"));
        }
    }
    print_members("Protected header", inspection.header.as_ref());
    print_members("Claims", inspection.claims.as_ref());
    if let Some(length) = inspection.signature_length {
        say!("Signature: {length} bytes (ES256 r||s)");
    }

    let summary = &inspection.summary;
    say!("Summary");
    print_field(
        "ppt",
        summary
            .ppt
            .as_ref()
            .map(|s| Value::String(s.clone()))
            .as_ref(),
    );
    print_field("attest", summary.attest.as_ref());
    print_field("origid", summary.origid.as_ref());
    print_field(
        "x5u",
        summary
            .x5u
            .as_ref()
            .map(|s| Value::String(s.clone()))
            .as_ref(),
    );
    print_field("orig", summary.orig.as_ref());
    print_field("dest", summary.dest.as_ref());
    match iat_seconds(inspection) {
        Some(iat) => say!("  iat: {iat} ({})", timearg::format_utc(iat)),
        None => print_field("iat", summary.iat.as_ref()),
    }

    if inspection.findings.is_empty() {
        say!("Findings: none");
    } else {
        say!("Findings");
        for finding in &inspection.findings {
            say!("  - {finding}");
        }
    }
    say!("Not checked: {}", inspection.not_checked.join(", "));
}

fn print_members(title: &str, members: Option<&Map<String, Value>>) {
    let Some(members) = members else {
        return;
    };
    say!("{title}");
    for (name, value) in members {
        say!("  {name}: {value}");
    }
}

fn print_field(name: &str, value: Option<&Value>) {
    match value {
        Some(Value::String(text)) => say!("  {name}: {text}"),
        Some(other) => say!("  {name}: {other}"),
        None => say!("  {name}: (absent)"),
    }
}

//! The SIP Identity header field of RFC 8224 section 4.
//!
//! ```text
//! Identity = "Identity" HCOLON signed-identity-digest SEMI ident-info
//!            *( SEMI ident-info-params )
//! ident-info = "info" EQUAL LAQUOT absoluteURI RAQUOT
//! ```
//!
//! The digest is a compact JWS (`header.payload.signature`) or its compact form
//! (`..signature`, RFC 8224 section 4.1.1). Parameter names are case-insensitive,
//! linear whitespace is allowed around `;` and `=` (RFC 3261 section 7.3.1), `alg`
//! and `ppt` may be tokens or quoted strings, and unknown parameters are kept.

use std::fmt;

use crate::error::{Base64Error, Error};
use crate::{MAX_IDENTITY_HEADERS, MAX_IDENTITY_LEN, MAX_IDENTITY_PARAMS};

/// The PASSporT carried in an Identity header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// `header.payload.signature`, all three segments present.
    Full(String),
    /// `..signature`: the header and payload are rebuilt from the SIP request.
    Compact { signature: String },
}

impl Token {
    /// Returns the token as it appears in the header.
    pub fn as_text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Token::Full(text) => text.as_str().into(),
            Token::Compact { signature } => format!("..{signature}").into(),
        }
    }
}

/// A parameter value with a note of whether it was a quoted string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamValue {
    /// The value without quotes or escapes.
    pub value: String,
    /// The value was written as a quoted string.
    pub quoted: bool,
}

/// A parsed Identity header field value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityHeader {
    /// The PASSporT.
    pub token: Token,
    /// The `info` URI without its angle brackets: where the signer's certificate is.
    pub info: String,
    /// The `alg` parameter, when present.
    pub alg: Option<ParamValue>,
    /// The `ppt` parameter, when present.
    pub ppt: Option<ParamValue>,
    /// Other parameters in the order received, names in lower case.
    pub extensions: Vec<(String, Option<String>)>,
}

impl IdentityHeader {
    /// Builds the header our signer emits: `<jws>;info=<URL>;alg=ES256;ppt=<ppt>`.
    pub fn new(jws: String, info: String, ppt: Option<&str>) -> Self {
        IdentityHeader {
            token: Token::Full(jws),
            info,
            alg: Some(ParamValue {
                value: "ES256".to_owned(),
                quoted: false,
            }),
            ppt: ppt.map(|p| ParamValue {
                value: p.to_owned(),
                quoted: false,
            }),
            extensions: Vec::new(),
        }
    }

    /// Returns the unquoted `ppt` parameter value.
    pub fn ppt(&self) -> Option<&str> {
        self.ppt.as_ref().map(|p| p.value.as_str())
    }

    /// Parses an Identity header field value (what follows `Identity:` or `y:`).
    ///
    /// Folded lines are unfolded first. The value must not exceed
    /// [`MAX_IDENTITY_LEN`] bytes before unfolding.
    pub fn parse(value: &str) -> Result<Self, Error> {
        if value.len() > MAX_IDENTITY_LEN {
            return Err(Error::IdentityTooLong {
                length: value.len(),
                max: MAX_IDENTITY_LEN,
            });
        }
        let unfolded = unfold(value)?;
        Parser {
            text: unfolded.as_bytes(),
            position: 0,
        }
        .identity()
    }
}

impl fmt::Display for IdentityHeader {
    /// Writes the header value with `info`, `alg` and `ppt` first, each unquoted
    /// token form, then the unknown parameters as received.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{};info=<{}>", self.token.as_text(), self.info)?;
        if let Some(alg) = &self.alg {
            write!(f, ";alg=")?;
            write_param_value(f, alg)?;
        }
        if let Some(ppt) = &self.ppt {
            write!(f, ";ppt=")?;
            write_param_value(f, ppt)?;
        }
        for (name, value) in &self.extensions {
            match value {
                Some(value) => write!(f, ";{name}={value}")?,
                None => write!(f, ";{name}")?,
            }
        }
        Ok(())
    }
}

fn write_param_value(f: &mut fmt::Formatter<'_>, param: &ParamValue) -> fmt::Result {
    if param.value.bytes().all(is_token_byte) && !param.value.is_empty() {
        f.write_str(&param.value)
    } else {
        write!(
            f,
            "\"{}\"",
            param.value.replace('\\', "\\\\").replace('"', "\\\"")
        )
    }
}

/// Finds the Identity header fields in a block of SIP header lines, under the
/// names `Identity` and `y` in any letter case, and returns their values unfolded,
/// at most [`MAX_IDENTITY_HEADERS`] of them. Each field carries one PASSporT; the
/// values keep the order of the message.
pub fn find_identity_values(headers: &str) -> Vec<String> {
    let mut values = Vec::new();
    let mut current: Option<String> = None;
    for line in headers.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with([' ', '\t']) {
            if let Some(value) = current.as_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        values.extend(current.take());
        if line.is_empty() || values.len() >= MAX_IDENTITY_HEADERS {
            // The blank line ends the header section.
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && (name.trim().eq_ignore_ascii_case("identity")
                || name.trim().eq_ignore_ascii_case("y"))
        {
            current = Some(value.trim().to_owned());
        }
    }
    values.extend(current);
    values.truncate(MAX_IDENTITY_HEADERS);
    values
}

/// Joins folded lines (CRLF or LF followed by whitespace) into one space, as
/// RFC 3261 section 7.3.1 allows, and rejects any other control character.
fn unfold(value: &str) -> Result<String, Error> {
    let bytes = value.as_bytes();
    let mut out = String::with_capacity(value.len());
    let mut copied = 0;
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        let line_break = match byte {
            b'\r' if bytes.get(index + 1) == Some(&b'\n') => 2,
            b'\n' => 1,
            _ => 0,
        };
        if line_break > 0 && matches!(bytes.get(index + line_break), Some(b' ' | b'\t')) {
            // Line breaks are ASCII, so these offsets are character boundaries.
            out.push_str(value.get(copied..index).unwrap_or(""));
            out.push(' ');
            index += line_break;
            copied = index;
            continue;
        }
        if line_break > 0 || (byte != b'\t' && (byte < 0x20 || byte == 0x7f)) {
            return Err(Error::ControlCharacter {
                byte,
                offset: index,
            });
        }
        index += 1;
    }
    out.push_str(value.get(copied..).unwrap_or(""));
    Ok(out)
}

fn is_token_byte(byte: u8) -> bool {
    // RFC 3261 section 25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" /
    // "_" / "+" / "`" / "'" / "~")
    byte.is_ascii_alphanumeric()
        || matches!(
            byte,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

fn is_whitespace(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

struct Parser<'a> {
    text: &'a [u8],
    position: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.position).copied()
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(is_whitespace) {
            self.position += 1;
        }
    }

    fn syntax(&self, detail: &'static str) -> Error {
        Error::HeaderSyntax {
            detail,
            offset: self.position,
        }
    }

    fn slice(&self, start: usize) -> &str {
        self.text
            .get(start..self.position)
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .unwrap_or("")
    }

    fn identity(mut self) -> Result<IdentityHeader, Error> {
        self.skip_whitespace();
        let token = self.token()?;

        let mut info = None;
        let mut alg = None;
        let mut ppt = None;
        let mut extensions = Vec::new();
        let mut count = 0;
        loop {
            self.skip_whitespace();
            match self.peek() {
                None => break,
                Some(b';') => self.position += 1,
                Some(_) => return Err(self.syntax("expected ';' between parameters")),
            }
            count += 1;
            if count > MAX_IDENTITY_PARAMS {
                return Err(Error::TooManyParameters {
                    count,
                    max: MAX_IDENTITY_PARAMS,
                });
            }

            self.skip_whitespace();
            let name = self.parameter_name()?;
            self.skip_whitespace();
            let has_value = self.peek() == Some(b'=');
            if has_value {
                self.position += 1;
                self.skip_whitespace();
            }

            match name.as_str() {
                "info" => {
                    if !has_value {
                        return Err(Error::InvalidInfo {
                            value: String::new(),
                        });
                    }
                    let uri = self.info_uri()?;
                    set_once(&mut info, uri, &name)?;
                }
                "alg" | "ppt" => {
                    if !has_value {
                        return Err(Error::InvalidParameter {
                            name,
                            value: String::new(),
                        });
                    }
                    let value = self.parameter_value()?;
                    let slot = if name == "alg" { &mut alg } else { &mut ppt };
                    set_once(slot, value, &name)?;
                }
                _ => {
                    let value = if has_value {
                        Some(self.raw_generic_value()?)
                    } else {
                        None
                    };
                    extensions.push((name, value));
                }
            }
        }

        let info = info.ok_or(Error::MissingInfo)?;
        Ok(IdentityHeader {
            token,
            info,
            alg,
            ppt,
            extensions,
        })
    }

    fn token(&mut self) -> Result<Token, Error> {
        let start = self.position;
        while let Some(byte) = self.peek() {
            if byte == b';' || is_whitespace(byte) {
                break;
            }
            match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {}
                b'+' | b'/' => {
                    return Err(Error::TokenBase64(Base64Error::StandardAlphabet {
                        character: char::from(byte),
                        offset: self.position - start,
                    }));
                }
                b'=' => {
                    return Err(Error::TokenBase64(Base64Error::Padding {
                        offset: self.position - start,
                    }));
                }
                _ => {
                    let character = self.slice_char();
                    return Err(Error::TokenCharacter {
                        character,
                        offset: self.position - start,
                    });
                }
            }
            self.position += 1;
        }
        let text = self.slice(start);
        if text.is_empty() {
            return Err(Error::EmptyToken);
        }
        Ok(match text.strip_prefix("..") {
            Some(signature) if !signature.contains('.') => Token::Compact {
                signature: signature.to_owned(),
            },
            _ => Token::Full(text.to_owned()),
        })
    }

    fn slice_char(&self) -> char {
        self.text
            .get(self.position..)
            .and_then(|rest| {
                let end = rest.len().min(4);
                (1..=end).find_map(|n| {
                    std::str::from_utf8(rest.get(..n)?)
                        .ok()
                        .and_then(|s| s.chars().next())
                })
            })
            .unwrap_or(char::REPLACEMENT_CHARACTER)
    }

    fn parameter_name(&mut self) -> Result<String, Error> {
        let start = self.position;
        while self.peek().is_some_and(is_token_byte) {
            self.position += 1;
        }
        if self.position == start {
            return Err(self.syntax("empty parameter name after ';'"));
        }
        Ok(self.slice(start).to_ascii_lowercase())
    }

    /// Reads `<absoluteURI>`: a scheme, a colon, and no whitespace or brackets.
    fn info_uri(&mut self) -> Result<String, Error> {
        let start = self.position;
        if self.peek() != Some(b'<') {
            while self.peek().is_some_and(|b| b != b';' && !is_whitespace(b)) {
                self.position += 1;
            }
            return Err(Error::InvalidInfo {
                value: self.slice(start).to_owned(),
            });
        }
        self.position += 1;
        let uri_start = self.position;
        while self.peek().is_some_and(|b| b != b'>') {
            self.position += 1;
        }
        if self.peek() != Some(b'>') {
            return Err(Error::InvalidInfo {
                value: self.slice(start).to_owned(),
            });
        }
        let uri = self.slice(uri_start).to_owned();
        self.position += 1;

        let scheme_ok = uri.split_once(':').is_some_and(|(scheme, rest)| {
            scheme
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic())
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
                && !rest.is_empty()
        });
        if !scheme_ok
            || uri
                .bytes()
                .any(|b| is_whitespace(b) || b == b'<' || b == b'"')
        {
            return Err(Error::InvalidInfo { value: uri });
        }
        Ok(uri)
    }

    /// Reads a token or a quoted string.
    fn parameter_value(&mut self) -> Result<ParamValue, Error> {
        if self.peek() == Some(b'"') {
            let value = self.quoted_string()?;
            return Ok(ParamValue {
                value,
                quoted: true,
            });
        }
        let start = self.position;
        while self.peek().is_some_and(is_token_byte) {
            self.position += 1;
        }
        if self.position == start {
            return Err(self.syntax("parameter value is neither a token nor a quoted string"));
        }
        Ok(ParamValue {
            value: self.slice(start).to_owned(),
            quoted: false,
        })
    }

    /// Reads a generic-param value (token, host or quoted string) as written.
    fn raw_generic_value(&mut self) -> Result<String, Error> {
        let start = self.position;
        if self.peek() == Some(b'"') {
            self.quoted_string()?;
            return Ok(self.slice(start).to_owned());
        }
        while self
            .peek()
            .is_some_and(|b| is_token_byte(b) || matches!(b, b'[' | b']' | b':'))
        {
            self.position += 1;
        }
        if self.position == start {
            return Err(self.syntax("parameter value is neither a token nor a quoted string"));
        }
        Ok(self.slice(start).to_owned())
    }

    fn quoted_string(&mut self) -> Result<String, Error> {
        self.position += 1;
        let mut value = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.syntax("quoted string has no closing '\"'")),
                Some(b'"') => {
                    self.position += 1;
                    break;
                }
                Some(b'\\') => {
                    self.position += 1;
                    match self.peek() {
                        Some(escaped) => value.push(escaped),
                        None => return Err(self.syntax("quoted string ends in '\\'")),
                    }
                    self.position += 1;
                }
                Some(byte) => {
                    value.push(byte);
                    self.position += 1;
                }
            }
        }
        String::from_utf8(value).map_err(|_| self.syntax("quoted string is not UTF-8"))
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T, name: &str) -> Result<(), Error> {
    if slot.is_some() {
        return Err(Error::DuplicateParameter {
            name: name.to_owned(),
        });
    }
    *slot = Some(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "aGVhZGVy.cGF5bG9hZA.c2ln";
    const INFO: &str = "https://cert.example.com/sp/shaken.pem";

    fn parse(value: &str) -> Result<IdentityHeader, Error> {
        IdentityHeader::parse(value)
    }

    #[test]
    fn full_form_parses() {
        let header = parse(&format!("{TOKEN};info=<{INFO}>;alg=ES256;ppt=shaken")).unwrap();
        assert_eq!(header.token, Token::Full(TOKEN.to_owned()));
        assert_eq!(header.info, INFO);
        assert_eq!(header.alg.unwrap().value, "ES256");
        assert_eq!(header.ppt.as_ref().unwrap().value, "shaken");
        assert!(!header.ppt.unwrap().quoted);
    }

    #[test]
    fn parameter_spellings_agree() {
        let variants = [
            format!("{TOKEN};info=<{INFO}>;alg=ES256;ppt=shaken"),
            format!("{TOKEN};info=<{INFO}>;alg=ES256;ppt=\"shaken\""),
            format!("{TOKEN};info=<{INFO}>;ppt=\"shaken\""),
            format!("{TOKEN} ; INFO = <{INFO}> ; ALG=ES256 ; PPT=shaken"),
            format!("{TOKEN};PPT=shaken;Alg=\"ES256\";Info=<{INFO}>"),
        ];
        for variant in &variants {
            let header = parse(variant).unwrap();
            assert_eq!(header.info, INFO, "{variant}");
            assert_eq!(header.ppt(), Some("shaken"), "{variant}");
        }
    }

    #[test]
    fn missing_ppt_parses() {
        let header = parse(&format!("{TOKEN};info=<{INFO}>;alg=ES256")).unwrap();
        assert_eq!(header.ppt, None);
    }

    #[test]
    fn nothing_after_token_is_missing_info() {
        assert_eq!(parse(TOKEN), Err(Error::MissingInfo));
    }

    #[test]
    fn trailing_semicolon_rejected() {
        assert!(matches!(
            parse(&format!("{TOKEN};")),
            Err(Error::HeaderSyntax { .. })
        ));
    }

    #[test]
    fn info_without_value_rejected() {
        assert!(matches!(
            parse(&format!("{TOKEN};info")),
            Err(Error::InvalidInfo { .. })
        ));
    }

    #[test]
    fn empty_token_rejected() {
        assert_eq!(parse(&format!(";info=<{INFO}>")), Err(Error::EmptyToken));
        assert_eq!(parse(""), Err(Error::EmptyToken));
        assert_eq!(parse("   "), Err(Error::EmptyToken));
    }

    #[test]
    fn info_must_be_bracketed_uri() {
        assert_eq!(
            parse(&format!("{TOKEN};info={INFO}")),
            Err(Error::InvalidInfo {
                value: INFO.to_owned()
            })
        );
        assert!(matches!(
            parse(&format!("{TOKEN};info=<not a uri>")),
            Err(Error::InvalidInfo { .. })
        ));
        assert!(matches!(
            parse(&format!("{TOKEN};info=<{INFO}")),
            Err(Error::InvalidInfo { .. })
        ));
    }

    #[test]
    fn duplicate_ppt_rejected() {
        assert_eq!(
            parse(&format!(
                "{TOKEN};info=<{INFO}>;alg=ES256;ppt=shaken;ppt=div"
            )),
            Err(Error::DuplicateParameter {
                name: "ppt".to_owned()
            })
        );
    }

    #[test]
    fn unknown_parameters_kept() {
        let header = parse(&format!(
            "{TOKEN};info=<{INFO}>;x-carrier=abc;flag;ppt=shaken"
        ))
        .unwrap();
        assert_eq!(
            header.extensions,
            vec![
                ("x-carrier".to_owned(), Some("abc".to_owned())),
                ("flag".to_owned(), None)
            ]
        );
    }

    #[test]
    fn folded_lines_unfolded() {
        let value = format!("{TOKEN}\r\n ;info=<{INFO}>\r\n\t;alg=ES256;ppt=shaken");
        let header = parse(&value).unwrap();
        assert_eq!(header.info, INFO);
        assert_eq!(header.ppt(), Some("shaken"));
    }

    #[test]
    fn nul_byte_rejected() {
        let value = format!("aGVh\0ZGVy.cGF5bG9hZA.c2ln;info=<{INFO}>");
        assert_eq!(
            parse(&value),
            Err(Error::ControlCharacter { byte: 0, offset: 4 })
        );
    }

    #[test]
    fn bare_line_break_rejected() {
        let value = format!("{TOKEN};info=<{INFO}>\r\nVia: x");
        assert!(matches!(parse(&value), Err(Error::ControlCharacter { .. })));
    }

    #[test]
    fn oversize_value_rejected() {
        let value = "a".repeat(70_000);
        assert_eq!(
            parse(&value),
            Err(Error::IdentityTooLong {
                length: 70_000,
                max: MAX_IDENTITY_LEN
            })
        );
    }

    #[test]
    fn standard_base64_in_token_named() {
        assert_eq!(
            parse(&format!("aGVh+ZGVy.cGF5bG9hZA.c2ln;info=<{INFO}>")),
            Err(Error::TokenBase64(crate::Base64Error::StandardAlphabet {
                character: '+',
                offset: 4
            }))
        );
        assert_eq!(
            parse(&format!("aGVhZGVy.cGF5bG9hZA.c2ln==;info=<{INFO}>")),
            Err(Error::TokenBase64(crate::Base64Error::Padding {
                offset: 24
            }))
        );
    }

    #[test]
    fn compact_form_parsed() {
        let header = parse(&format!("..c2ln;info=<{INFO}>;alg=ES256")).unwrap();
        assert_eq!(
            header.token,
            Token::Compact {
                signature: "c2ln".to_owned()
            }
        );
    }

    #[test]
    fn format_then_parse_round_trips() {
        let header = IdentityHeader::new(TOKEN.to_owned(), INFO.to_owned(), Some("shaken"));
        let text = header.to_string();
        assert_eq!(text, format!("{TOKEN};info=<{INFO}>;alg=ES256;ppt=shaken"));
        assert_eq!(parse(&text).unwrap(), header);
    }

    #[test]
    fn quoted_parameter_round_trips() {
        let text = format!("{TOKEN};info=<{INFO}>;alg=ES256;ppt=\"shaken\";x=\"a b\"");
        let header = parse(&text).unwrap();
        assert_eq!(parse(&header.to_string()).unwrap().ppt(), Some("shaken"));
        assert_eq!(
            parse(&header.to_string()).unwrap().extensions,
            header.extensions
        );
    }

    #[test]
    fn too_many_parameters_rejected() {
        let params: String = (0..40).map(|i| format!(";p{i}=1")).collect();
        assert!(matches!(
            parse(&format!("{TOKEN};info=<{INFO}>{params}")),
            Err(Error::TooManyParameters { .. })
        ));
    }

    #[test]
    fn finds_identity_and_y_headers() {
        let headers = "Via: SIP/2.0/UDP h\r\nidentity: a.b.c;info=<https://x/1>\r\nY: d.e.f;\r\n info=<https://x/2>\r\nIdentity-Info: <https://x/old>\r\nTo: <sip:1@h>\r\n\r\nbody: x\r\n";
        assert_eq!(
            find_identity_values(headers),
            vec![
                "a.b.c;info=<https://x/1>".to_owned(),
                "d.e.f; info=<https://x/2>".to_owned()
            ]
        );
    }
}

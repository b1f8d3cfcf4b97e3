//! STIR certificate extensions: the TN Authorization List (RFC 8226 section 9)
//! and the JWT Claim Constraints (RFC 8226 section 8, extended by RFC 9118).
//!
//! Each decoder takes the extension value, which is the content of the extnValue
//! OCTET STRING, and checks the ASN.1 structure only. Profile rules, such as the
//! ATIS-1000080 format of a SHAKEN SPC, are checked by the caller.
//!
//! Every context tag in these structures is EXPLICIT, and the decoders accept
//! nothing else. The encoded bytes show it: in the pyasn1-alt-modules vector
//! `testdata/der/jwtclaimconstraints-pyasn1.der`, mustInclude is
//! `A0 07 30 05 16 03 "foo"`, so the constructed [0] tag wraps a whole SEQUENCE
//! element. An IMPLICIT tag would replace the SEQUENCE tag instead
//! (`A0 05 16 03 "foo"`). The RFC 9118 example certificate (`A0 0E 30 0C ...`,
//! `A2 0C 30 0A ...`) and every TNAuthList under testdata (`A0 06 16 04 "709J"`)
//! are encoded the same way.

use std::fmt;

use der::{Element, Reader, TAG_INTEGER, TAG_SEQUENCE};

/// Object identifier of the TN Authorization List extension (id-pe 26).
pub const OID_TN_AUTH_LIST: &str = "1.3.6.1.5.5.7.1.26";

/// Object identifier of the JWT Claim Constraints extension (id-pe 27).
pub const OID_JWT_CLAIM_CONSTRAINTS: &str = "1.3.6.1.5.5.7.1.27";

/// Object identifier of the Enhanced JWT Claim Constraints extension (id-pe 33).
pub const OID_ENHANCED_JWT_CLAIM_CONSTRAINTS: &str = "1.3.6.1.5.5.7.1.33";

/// Maximum number of entries decoded from one TNAuthorizationList.
///
/// RFC 8226 sets no upper bound. SHAKEN certificates carry a single SPC entry, so
/// this cap only bounds the memory that a hostile extension can take.
pub const MAX_TN_ENTRIES: usize = 1_000;

/// Maximum number of items in each SEQUENCE OF inside JWT claim constraints:
/// the claim name lists, the permitted values list and each claim's values.
pub const MAX_CLAIM_LIST_ITEMS: usize = 1_000;

/// Maximum length of a TelephoneNumber, from `IA5String (SIZE (1..15))` in
/// RFC 8226 section 9.
pub const MAX_TELEPHONE_NUMBER_LENGTH: usize = 15;

const TAG_SPC: u8 = 0xa0;
const TAG_RANGE: u8 = 0xa1;
const TAG_ONE: u8 = 0xa2;
const TAG_MUST_INCLUDE: u8 = 0xa0;
const TAG_PERMITTED_VALUES: u8 = 0xa1;
const TAG_MUST_EXCLUDE: u8 = 0xa2;

/// Bounded reader for the DER subset that these extensions use.
///
/// Tags are single octets. The high tag number form never occurs in these
/// structures and is rejected. Lengths are definite, in short form or in long
/// form with one to four octets. Long forms that are not minimal (a leading zero
/// octet, or a value below 128) are rejected, as X.690 section 10.1 requires for
/// DER.
mod der {
    pub(super) const TAG_INTEGER: u8 = 0x02;
    pub(super) const TAG_UTF8_STRING: u8 = 0x0c;
    pub(super) const TAG_IA5_STRING: u8 = 0x16;
    pub(super) const TAG_SEQUENCE: u8 = 0x30;

    /// Maximum number of length octets in the long form, allowing lengths below 4 GiB.
    const MAX_LENGTH_OCTETS: usize = 4;

    /// DER framing failure, with the byte offset of the element in the whole input.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) enum DerError {
        Truncated { offset: usize },
        IndefiniteLength { offset: usize },
        LengthTooLong { offset: usize },
        NonMinimalLength { offset: usize },
        HighTagNumber { offset: usize },
        TrailingBytes { offset: usize },
    }

    /// One tag-length-value element.
    #[derive(Debug, Clone, Copy)]
    pub(super) struct Element<'a> {
        pub(super) tag: u8,
        pub(super) value: &'a [u8],
        /// Offset of the first value byte in the whole input.
        pub(super) value_offset: usize,
    }

    impl<'a> Element<'a> {
        /// Returns a reader over the elements inside this constructed element.
        pub(super) fn contents(&self) -> Reader<'a> {
            Reader {
                input: self.value,
                position: 0,
                base: self.value_offset,
            }
        }

        /// Returns the single element inside an EXPLICIT tag.
        pub(super) fn explicit_inner(&self) -> Result<Element<'a>, DerError> {
            let mut reader = self.contents();
            let inner = reader.read()?;
            reader.finish()?;
            Ok(inner)
        }
    }

    /// Cursor over consecutive elements of one byte slice.
    pub(super) struct Reader<'a> {
        input: &'a [u8],
        position: usize,
        /// Offset of `input` in the whole input, for error messages.
        base: usize,
    }

    impl<'a> Reader<'a> {
        pub(super) fn new(input: &'a [u8]) -> Self {
            Reader {
                input,
                position: 0,
                base: 0,
            }
        }

        pub(super) fn is_empty(&self) -> bool {
            self.position >= self.input.len()
        }

        fn offset(&self) -> usize {
            self.base.saturating_add(self.position)
        }

        /// Reads the next element. The value is a borrowed slice, so a declared
        /// length never causes an allocation.
        pub(super) fn read(&mut self) -> Result<Element<'a>, DerError> {
            let offset = self.offset();
            let rest = self.input.get(self.position..).unwrap_or_default();

            let (&tag, rest) = rest.split_first().ok_or(DerError::Truncated { offset })?;
            if tag & 0x1f == 0x1f {
                return Err(DerError::HighTagNumber { offset });
            }

            let (&first, mut rest) = rest.split_first().ok_or(DerError::Truncated { offset })?;
            let mut header_length = 2;
            let length = if first < 0x80 {
                usize::from(first)
            } else if first == 0x80 {
                return Err(DerError::IndefiniteLength { offset });
            } else {
                let octet_count = usize::from(first & 0x7f);
                if octet_count > MAX_LENGTH_OCTETS {
                    return Err(DerError::LengthTooLong { offset });
                }
                let (octets, after) = rest
                    .split_at_checked(octet_count)
                    .ok_or(DerError::Truncated { offset })?;
                rest = after;
                header_length += octet_count;

                if octets.first() == Some(&0) {
                    return Err(DerError::NonMinimalLength { offset });
                }
                let mut length: u64 = 0;
                for &octet in octets {
                    length = (length << 8) | u64::from(octet);
                }
                if length < 0x80 {
                    return Err(DerError::NonMinimalLength { offset });
                }
                usize::try_from(length).map_err(|_| DerError::Truncated { offset })?
            };

            let value = rest.get(..length).ok_or(DerError::Truncated { offset })?;
            // The value slice exists, so header and value lie inside `input`.
            self.position += header_length + length;
            Ok(Element {
                tag,
                value,
                value_offset: offset.saturating_add(header_length),
            })
        }

        /// Checks that every byte was read.
        pub(super) fn finish(&self) -> Result<(), DerError> {
            if self.is_empty() {
                Ok(())
            } else {
                Err(DerError::TrailingBytes {
                    offset: self.offset(),
                })
            }
        }
    }
}

/// Tag octet with its ASN.1 name, for error messages.
struct TagName(u8);

impl fmt::Display for TagName {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            0x02 => "INTEGER",
            0x04 => "OCTET STRING",
            0x05 => "NULL",
            0x06 => "OBJECT IDENTIFIER",
            0x0c => "UTF8String",
            0x13 => "PrintableString",
            0x16 => "IA5String",
            0x30 => "SEQUENCE",
            0x31 => "SET",
            0xa0 => "[0]",
            0xa1 => "[1]",
            0xa2 => "[2]",
            _ => return write!(formatter, "0x{:02x}", self.0),
        };
        write!(formatter, "0x{:02x} ({name})", self.0)
    }
}

/// Entry of a TNAuthorizationList (RFC 8226 section 9, `TNEntry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TnEntry {
    /// Service provider code (`spc [0] ServiceProviderCode`), any IA5String.
    Spc(String),
    /// Block of `count` numbers starting at `start` (`range [1] TelephoneNumberRange`).
    Range {
        /// First number: 1 to 15 characters from `0123456789#*`.
        start: String,
        /// Number of telephone numbers in the range, at least 2 when decoded.
        count: u64,
    },
    /// Single telephone number (`one [2] TelephoneNumber`).
    One(String),
}

impl TnEntry {
    /// Checks whether this entry covers the canonical telephone number `tn`.
    ///
    /// An SPC entry covers no number. A `One` entry covers the number equal to it.
    /// A `Range` entry covers the numbers from `start` to `start + count - 1`, as
    /// RFC 8226 section 9 defines a range by its start and count. RFC 8226 does not
    /// say how a range crosses a change in number length, so this method covers
    /// only numbers of the same length as `start`: `9999999990` with count 100
    /// stops at `9999999999`. A `start` that contains `*` or `#` has no numeric
    /// value, so its range covers only `start` itself.
    pub fn covers(&self, tn: &str) -> bool {
        match self {
            TnEntry::Spc(_) => false,
            TnEntry::One(number) => number == tn,
            TnEntry::Range { start, count } => range_contains(start, *count, tn),
        }
    }
}

fn range_contains(start: &str, count: u64, tn: &str) -> bool {
    if count == 0 || tn.len() != start.len() {
        return false;
    }
    if tn == start {
        return true;
    }
    let (Some(first), Some(number)) = (digits_value(start), digits_value(tn)) else {
        return false;
    };
    number >= first && number - first < u128::from(count)
}

/// Returns the value of a string of decimal digits, or `None` for any other
/// character or a value above `u128::MAX`.
fn digits_value(digits: &str) -> Option<u128> {
    if digits.is_empty() {
        return None;
    }
    let mut value: u128 = 0;
    for byte in digits.bytes() {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value
            .checked_mul(10)?
            .checked_add(u128::from(byte - b'0'))?;
    }
    Some(value)
}

/// Result of matching a telephone number against a TNAuthList.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// A `One` entry equals the number, or a `Range` entry contains it.
    Number,
    /// Absence of any TN entry covering the number in a list that has an SPC.
    ///
    /// SHAKEN certificates carry only an SPC, and the SHAKEN governance model
    /// lets such a certificate sign for any number. Whether that is enough is the
    /// caller's decision.
    SpcOnly,
    /// Absence of any entry covering the number, in a list without an SPC.
    No,
}

/// Decoded TNAuthorizationList (RFC 8226 section 9): one or more entries, at
/// most [`MAX_TN_ENTRIES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TnAuthList(Vec<TnEntry>);

impl TnAuthList {
    /// Returns the entries in certificate order.
    pub fn entries(&self) -> &[TnEntry] {
        &self.0
    }

    /// Returns the first service provider code in the list.
    pub fn spc(&self) -> Option<&str> {
        self.spcs().next()
    }

    /// Returns every service provider code in certificate order.
    pub fn spcs(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|entry| match entry {
            TnEntry::Spc(spc) => Some(spc.as_str()),
            _ => None,
        })
    }

    /// Matches the canonical telephone number `tn` (digits, `*` and `#`) against
    /// the TN entries, by the rules of [`TnEntry::covers`].
    ///
    /// Returns [`Coverage::SpcOnly`] when no TN entry covers the number but the
    /// list has an SPC. The number is not canonicalized here, so `+1202...` or a
    /// number with separators is covered by no entry.
    pub fn covers(&self, tn: &str) -> Coverage {
        if self.0.iter().any(|entry| entry.covers(tn)) {
            Coverage::Number
        } else if self.spc().is_some() {
            Coverage::SpcOnly
        } else {
            Coverage::No
        }
    }
}

/// Reason a TNAuthList extension value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TnAuthListError {
    #[error("DER element at byte {offset} is truncated")]
    Truncated { offset: usize },
    #[error("DER element at byte {offset} has an indefinite length, which DER forbids")]
    IndefiniteLength { offset: usize },
    #[error("DER element at byte {offset} has more than 4 length octets")]
    LengthTooLong { offset: usize },
    #[error("DER element at byte {offset} has a length that is not minimally encoded")]
    NonMinimalLength { offset: usize },
    #[error("DER element at byte {offset} has a multi-byte tag, which TNAuthList never uses")]
    HighTagNumber { offset: usize },
    #[error("unexpected bytes at byte {offset} after the end of a DER element")]
    TrailingBytes { offset: usize },
    #[error("TNAuthList is not a TNAuthorizationList SEQUENCE: found tag {}", TagName(*.tag))]
    NotSequence { tag: u8 },
    #[error("TNAuthorizationList is empty, but RFC 8226 requires at least one entry")]
    Empty,
    #[error("TNAuthorizationList has more than {max} entries")]
    TooManyEntries { max: usize },
    #[error(
        "TNEntry has unknown CHOICE tag {}, but only EXPLICIT [0] spc, [1] range and [2] one are defined",
        TagName(*.tag)
    )]
    UnknownEntryTag { tag: u8 },
    #[error("service provider code is not an IA5String: found tag {}", TagName(*.tag))]
    SpcNotIa5String { tag: u8 },
    #[error("service provider code contains a byte above 0x7f, which IA5String forbids")]
    SpcNotAscii,
    #[error("telephone number is not an IA5String: found tag {}", TagName(*.tag))]
    TelephoneNumberNotIa5String { tag: u8 },
    #[error("telephone number has {length} characters, but RFC 8226 allows 1 to 15")]
    TelephoneNumberLength { length: usize },
    #[error("telephone number contains byte 0x{byte:02x}, but only 0-9, * and # are allowed")]
    TelephoneNumberCharacter { byte: u8 },
    #[error("telephone number range is not a SEQUENCE: found tag {}", TagName(*.tag))]
    RangeNotSequence { tag: u8 },
    #[error("telephone number range has a start but no count")]
    RangeWithoutCount,
    #[error("telephone number range count is not an INTEGER: found tag {}", TagName(*.tag))]
    CountNotInteger { tag: u8 },
    #[error("telephone number range count is not a minimally encoded DER INTEGER")]
    CountMalformed,
    /// Count below 2, saturated at `i64::MIN` for more negative values.
    #[error("telephone number range count {count} is below 2")]
    CountTooSmall { count: i64 },
    #[error("telephone number range count does not fit in 64 bits")]
    CountTooLarge,
}

impl From<der::DerError> for TnAuthListError {
    fn from(error: der::DerError) -> Self {
        match error {
            der::DerError::Truncated { offset } => TnAuthListError::Truncated { offset },
            der::DerError::IndefiniteLength { offset } => {
                TnAuthListError::IndefiniteLength { offset }
            }
            der::DerError::LengthTooLong { offset } => TnAuthListError::LengthTooLong { offset },
            der::DerError::NonMinimalLength { offset } => {
                TnAuthListError::NonMinimalLength { offset }
            }
            der::DerError::HighTagNumber { offset } => TnAuthListError::HighTagNumber { offset },
            der::DerError::TrailingBytes { offset } => TnAuthListError::TrailingBytes { offset },
        }
    }
}

/// Decodes a TNAuthList extension value, the content of the extnValue OCTET STRING
/// of extension [`OID_TN_AUTH_LIST`].
///
/// The structure is `SEQUENCE SIZE (1..MAX) OF TNEntry` (RFC 8226 section 9),
/// capped at [`MAX_TN_ENTRIES`] entries.
pub fn decode(der: &[u8]) -> Result<TnAuthList, TnAuthListError> {
    let mut reader = Reader::new(der);
    let list = reader.read()?;
    if list.tag != TAG_SEQUENCE {
        return Err(TnAuthListError::NotSequence { tag: list.tag });
    }
    reader.finish()?;

    let mut items = list.contents();
    let mut entries = Vec::new();
    while !items.is_empty() {
        if entries.len() == MAX_TN_ENTRIES {
            return Err(TnAuthListError::TooManyEntries {
                max: MAX_TN_ENTRIES,
            });
        }
        let item = items.read()?;
        entries.push(decode_entry(&item)?);
    }

    if entries.is_empty() {
        return Err(TnAuthListError::Empty);
    }
    Ok(TnAuthList(entries))
}

fn decode_entry(item: &Element<'_>) -> Result<TnEntry, TnAuthListError> {
    match item.tag {
        TAG_SPC => decode_spc(&item.explicit_inner()?).map(TnEntry::Spc),
        TAG_RANGE => decode_range(&item.explicit_inner()?),
        TAG_ONE => decode_telephone_number(&item.explicit_inner()?).map(TnEntry::One),
        tag => Err(TnAuthListError::UnknownEntryTag { tag }),
    }
}

/// Decodes `ServiceProviderCode ::= IA5String`. RFC 8226 sets no size limit, so
/// an empty SPC is accepted here and left to the profile checks.
fn decode_spc(element: &Element<'_>) -> Result<String, TnAuthListError> {
    if element.tag != der::TAG_IA5_STRING {
        return Err(TnAuthListError::SpcNotIa5String { tag: element.tag });
    }
    ascii_string(element.value).ok_or(TnAuthListError::SpcNotAscii)
}

/// Decodes `TelephoneNumber ::= IA5String (SIZE (1..15)) (FROM ("0123456789#*"))`.
fn decode_telephone_number(element: &Element<'_>) -> Result<String, TnAuthListError> {
    if element.tag != der::TAG_IA5_STRING {
        return Err(TnAuthListError::TelephoneNumberNotIa5String { tag: element.tag });
    }
    let length = element.value.len();
    if length == 0 || length > MAX_TELEPHONE_NUMBER_LENGTH {
        return Err(TnAuthListError::TelephoneNumberLength { length });
    }
    if let Some(&byte) = element
        .value
        .iter()
        .find(|byte| !matches!(byte, b'0'..=b'9' | b'#' | b'*'))
    {
        return Err(TnAuthListError::TelephoneNumberCharacter { byte });
    }
    // Every byte was checked above to be ASCII, so each maps to one char.
    Ok(element.value.iter().map(|&byte| char::from(byte)).collect())
}

/// Decodes `TelephoneNumberRange ::= SEQUENCE { start, count INTEGER (2..MAX), ... }`.
/// The extension marker allows later versions to add elements after `count`, so
/// well-formed trailing elements are skipped.
fn decode_range(element: &Element<'_>) -> Result<TnEntry, TnAuthListError> {
    if element.tag != TAG_SEQUENCE {
        return Err(TnAuthListError::RangeNotSequence { tag: element.tag });
    }
    let mut fields = element.contents();
    let start = decode_telephone_number(&fields.read()?)?;

    if fields.is_empty() {
        return Err(TnAuthListError::RangeWithoutCount);
    }
    let count_element = fields.read()?;
    if count_element.tag != TAG_INTEGER {
        return Err(TnAuthListError::CountNotInteger {
            tag: count_element.tag,
        });
    }
    let count = decode_count(count_element.value)?;

    while !fields.is_empty() {
        fields.read()?;
    }
    Ok(TnEntry::Range { start, count })
}

/// Decodes the two's complement content of the range count INTEGER and checks
/// that it is at least 2 and fits in a `u64`.
fn decode_count(content: &[u8]) -> Result<u64, TnAuthListError> {
    let (&first, rest) = content
        .split_first()
        .ok_or(TnAuthListError::CountMalformed)?;
    if let Some(&second) = rest.first() {
        // X.690 section 8.3.2 requires that the first nine bits are neither all zeros
        // nor all ones.
        let redundant_zero = first == 0x00 && second & 0x80 == 0;
        let redundant_ones = first == 0xff && second & 0x80 != 0;
        if redundant_zero || redundant_ones {
            return Err(TnAuthListError::CountMalformed);
        }
    }

    if first & 0x80 != 0 {
        if content.len() > 8 {
            return Err(TnAuthListError::CountTooSmall { count: i64::MIN });
        }
        let mut bytes = [0xff_u8; 8];
        for (slot, byte) in bytes.iter_mut().rev().zip(content.iter().rev()) {
            *slot = *byte;
        }
        return Err(TnAuthListError::CountTooSmall {
            count: i64::from_be_bytes(bytes),
        });
    }

    let magnitude = if first == 0 { rest } else { content };
    if magnitude.len() > 8 {
        return Err(TnAuthListError::CountTooLarge);
    }
    let mut bytes = [0_u8; 8];
    for (slot, byte) in bytes.iter_mut().rev().zip(magnitude.iter().rev()) {
        *slot = *byte;
    }
    let count = u64::from_be_bytes(bytes);
    if count < 2 {
        return Err(TnAuthListError::CountTooSmall {
            count: i64::try_from(count).unwrap_or(i64::MAX),
        });
    }
    Ok(count)
}

/// Returns the bytes as a string when every byte is ASCII, the IA5 repertoire.
fn ascii_string(bytes: &[u8]) -> Option<String> {
    if !bytes.is_ascii() {
        return None;
    }
    std::str::from_utf8(bytes).ok().map(str::to_owned)
}

/// Decoded JWT claim constraints, from either id-pe 27 (RFC 8226 section 8) or
/// id-pe 33 (RFC 9118).
///
/// Each list present in the certificate has at least one item, so an empty list
/// means the field was absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwtClaimConstraints {
    /// Claim names that the PASSporT must contain (`mustInclude`).
    pub must_include: Vec<String>,
    /// Claim names with the values that the claim may take when present
    /// (`permittedValues`), in certificate order.
    pub permitted_values: Vec<(String, Vec<String>)>,
    /// Claim names that the PASSporT must not contain (`mustExclude`, RFC 9118 only).
    pub must_exclude: Vec<String>,
}

/// Reason a JWT claim constraints extension value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtClaimConstraintsError {
    #[error("DER element at byte {offset} is truncated")]
    Truncated { offset: usize },
    #[error("DER element at byte {offset} has an indefinite length, which DER forbids")]
    IndefiniteLength { offset: usize },
    #[error("DER element at byte {offset} has more than 4 length octets")]
    LengthTooLong { offset: usize },
    #[error("DER element at byte {offset} has a length that is not minimally encoded")]
    NonMinimalLength { offset: usize },
    #[error(
        "DER element at byte {offset} has a multi-byte tag, which JWT claim constraints never use"
    )]
    HighTagNumber { offset: usize },
    #[error("unexpected bytes at byte {offset} after the end of a DER element")]
    TrailingBytes { offset: usize },
    #[error("JWT claim constraints are not a SEQUENCE: found tag {}", TagName(*.tag))]
    NotSequence { tag: u8 },
    #[error(
        "JWT claim constraints have an unexpected, repeated or out-of-order field with tag {}",
        TagName(*.tag)
    )]
    UnexpectedField { tag: u8 },
    #[error("JWT claim constraints contain no field, but at least one is required")]
    NoConstraints,
    #[error("{list} is not a SEQUENCE: found tag {}", TagName(*.tag))]
    ListNotSequence { list: &'static str, tag: u8 },
    #[error("{list} is empty, but it needs at least one item")]
    EmptyList { list: &'static str },
    #[error("{list} has more than {max} items")]
    TooManyItems { list: &'static str, max: usize },
    #[error("JWT claim name is not an IA5String: found tag {}", TagName(*.tag))]
    ClaimNameNotIa5String { tag: u8 },
    #[error("JWT claim name contains a byte above 0x7f, which IA5String forbids")]
    ClaimNameNotAscii,
    #[error("permitted values entry is not a SEQUENCE: found tag {}", TagName(*.tag))]
    PermittedValuesEntryNotSequence { tag: u8 },
    #[error("permitted values entry for claim '{claim}' has no list of values")]
    MissingPermittedValues { claim: String },
    #[error("permitted value is not a UTF8String: found tag {}", TagName(*.tag))]
    PermittedValueNotUtf8String { tag: u8 },
    #[error("permitted value is not valid UTF-8")]
    PermittedValueInvalidUtf8,
}

impl From<der::DerError> for JwtClaimConstraintsError {
    fn from(error: der::DerError) -> Self {
        match error {
            der::DerError::Truncated { offset } => JwtClaimConstraintsError::Truncated { offset },
            der::DerError::IndefiniteLength { offset } => {
                JwtClaimConstraintsError::IndefiniteLength { offset }
            }
            der::DerError::LengthTooLong { offset } => {
                JwtClaimConstraintsError::LengthTooLong { offset }
            }
            der::DerError::NonMinimalLength { offset } => {
                JwtClaimConstraintsError::NonMinimalLength { offset }
            }
            der::DerError::HighTagNumber { offset } => {
                JwtClaimConstraintsError::HighTagNumber { offset }
            }
            der::DerError::TrailingBytes { offset } => {
                JwtClaimConstraintsError::TrailingBytes { offset }
            }
        }
    }
}

/// Decodes a JWT Claim Constraints extension value (id-pe 27,
/// [`OID_JWT_CLAIM_CONSTRAINTS`]).
///
/// RFC 8226 section 8 defines `SEQUENCE { mustInclude [0] JWTClaimNames OPTIONAL,
/// permittedValues [1] JWTClaimPermittedValuesList OPTIONAL }` with at least one
/// field present. A `mustExclude` field is rejected here because this structure
/// has no extension marker.
pub fn decode_jwt_claim_constraints(
    der: &[u8],
) -> Result<JwtClaimConstraints, JwtClaimConstraintsError> {
    decode_claim_constraints(der, false)
}

/// Decodes an Enhanced JWT Claim Constraints extension value (id-pe 33,
/// [`OID_ENHANCED_JWT_CLAIM_CONSTRAINTS`]).
///
/// RFC 9118 adds `mustExclude [2] JWTClaimNames OPTIONAL` to the RFC 8226
/// structure, with at least one of the three fields present.
pub fn decode_enhanced_jwt_claim_constraints(
    der: &[u8],
) -> Result<JwtClaimConstraints, JwtClaimConstraintsError> {
    decode_claim_constraints(der, true)
}

fn decode_claim_constraints(
    der: &[u8],
    enhanced: bool,
) -> Result<JwtClaimConstraints, JwtClaimConstraintsError> {
    let mut reader = Reader::new(der);
    let sequence = reader.read()?;
    if sequence.tag != TAG_SEQUENCE {
        return Err(JwtClaimConstraintsError::NotSequence { tag: sequence.tag });
    }
    reader.finish()?;

    let mut constraints = JwtClaimConstraints::default();
    let mut fields = sequence.contents();
    // DER encodes SEQUENCE fields in definition order, each at most once, so every
    // field must have a higher tag than the one before it.
    let mut previous_tag = None;
    while !fields.is_empty() {
        let field = fields.read()?;
        let allowed = match field.tag {
            TAG_MUST_INCLUDE | TAG_PERMITTED_VALUES => true,
            TAG_MUST_EXCLUDE => enhanced,
            _ => false,
        };
        if !allowed || previous_tag.is_some_and(|previous| field.tag <= previous) {
            return Err(JwtClaimConstraintsError::UnexpectedField { tag: field.tag });
        }
        previous_tag = Some(field.tag);

        let inner = field.explicit_inner()?;
        match field.tag {
            TAG_MUST_INCLUDE => {
                constraints.must_include = decode_claim_names(&inner, "mustInclude")?;
            }
            TAG_PERMITTED_VALUES => {
                constraints.permitted_values = decode_permitted_values_list(&inner)?;
            }
            _ => constraints.must_exclude = decode_claim_names(&inner, "mustExclude")?,
        }
    }

    if previous_tag.is_none() {
        return Err(JwtClaimConstraintsError::NoConstraints);
    }
    Ok(constraints)
}

/// Reads the items of a `SEQUENCE SIZE (1..MAX) OF` element, capped at
/// [`MAX_CLAIM_LIST_ITEMS`], decoding each with `decode_item`.
fn decode_sequence_of<T>(
    element: &Element<'_>,
    list: &'static str,
    mut decode_item: impl FnMut(&Element<'_>) -> Result<T, JwtClaimConstraintsError>,
) -> Result<Vec<T>, JwtClaimConstraintsError> {
    if element.tag != TAG_SEQUENCE {
        return Err(JwtClaimConstraintsError::ListNotSequence {
            list,
            tag: element.tag,
        });
    }
    let mut reader = element.contents();
    let mut items = Vec::new();
    while !reader.is_empty() {
        if items.len() == MAX_CLAIM_LIST_ITEMS {
            return Err(JwtClaimConstraintsError::TooManyItems {
                list,
                max: MAX_CLAIM_LIST_ITEMS,
            });
        }
        items.push(decode_item(&reader.read()?)?);
    }
    if items.is_empty() {
        return Err(JwtClaimConstraintsError::EmptyList { list });
    }
    Ok(items)
}

/// Decodes `JWTClaimNames ::= SEQUENCE SIZE (1..MAX) OF JWTClaimName`.
fn decode_claim_names(
    element: &Element<'_>,
    list: &'static str,
) -> Result<Vec<String>, JwtClaimConstraintsError> {
    decode_sequence_of(element, list, decode_claim_name)
}

/// Decodes `JWTClaimName ::= IA5String`.
fn decode_claim_name(element: &Element<'_>) -> Result<String, JwtClaimConstraintsError> {
    if element.tag != der::TAG_IA5_STRING {
        return Err(JwtClaimConstraintsError::ClaimNameNotIa5String { tag: element.tag });
    }
    ascii_string(element.value).ok_or(JwtClaimConstraintsError::ClaimNameNotAscii)
}

/// Decodes `JWTClaimPermittedValuesList ::= SEQUENCE SIZE (1..MAX) OF
/// JWTClaimPermittedValues`, which RFC 9118 calls `JWTClaimValuesList`.
fn decode_permitted_values_list(
    element: &Element<'_>,
) -> Result<Vec<(String, Vec<String>)>, JwtClaimConstraintsError> {
    decode_sequence_of(element, "permittedValues", decode_permitted_values)
}

/// Decodes `SEQUENCE { claim JWTClaimName, permitted SEQUENCE SIZE (1..MAX) OF
/// UTF8String }`. RFC 9118 names the second field `values`, but the encoding is
/// the same.
fn decode_permitted_values(
    element: &Element<'_>,
) -> Result<(String, Vec<String>), JwtClaimConstraintsError> {
    if element.tag != TAG_SEQUENCE {
        return Err(JwtClaimConstraintsError::PermittedValuesEntryNotSequence { tag: element.tag });
    }
    let mut fields = element.contents();
    let claim = decode_claim_name(&fields.read()?)?;
    if fields.is_empty() {
        return Err(JwtClaimConstraintsError::MissingPermittedValues { claim });
    }
    let values = decode_sequence_of(&fields.read()?, "permitted", decode_permitted_value)?;
    fields.finish()?;
    Ok((claim, values))
}

fn decode_permitted_value(element: &Element<'_>) -> Result<String, JwtClaimConstraintsError> {
    if element.tag != der::TAG_UTF8_STRING {
        return Err(JwtClaimConstraintsError::PermittedValueNotUtf8String { tag: element.tag });
    }
    std::str::from_utf8(element.value)
        .map(str::to_owned)
        .map_err(|_| JwtClaimConstraintsError::PermittedValueInvalidUtf8)
}

/// Returns the last number of a range of `count` numbers from `start`, as digits
/// of the start's length, or `None` when the range would change length.
pub fn range_end(start: &str, count: u64) -> Option<String> {
    let first: u128 = start.parse().ok()?;
    let last = first.checked_add(u128::from(count))?.checked_sub(1)?;
    let text = format!("{last:0width$}", width = start.len());
    (text.len() == start.len()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TN_AUTH_LIST_VECTOR: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/der/tnauthlist-pyasn1-spc-range-one.der"
    ));
    const JWT_CLAIM_CONSTRAINTS_VECTOR: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/der/jwtclaimconstraints-pyasn1.der"
    ));

    /// Encodes one DER element with a minimal length.
    fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let length = value.len();
        if length < 0x80 {
            out.push(length as u8);
        } else {
            let octets: Vec<u8> = length
                .to_be_bytes()
                .into_iter()
                .skip_while(|&octet| octet == 0)
                .collect();
            out.push(0x80 | octets.len() as u8);
            out.extend(octets);
        }
        out.extend_from_slice(value);
        out
    }

    fn sequence(items: &[Vec<u8>]) -> Vec<u8> {
        tlv(0x30, &items.concat())
    }

    fn ia5(text: &str) -> Vec<u8> {
        tlv(0x16, text.as_bytes())
    }

    fn utf8(text: &str) -> Vec<u8> {
        tlv(0x0c, text.as_bytes())
    }

    fn spc_entry(spc: &str) -> Vec<u8> {
        tlv(0xa0, &ia5(spc))
    }

    fn one_entry(tn: &str) -> Vec<u8> {
        tlv(0xa2, &ia5(tn))
    }

    fn range_entry(start: &str, count: &[u8]) -> Vec<u8> {
        tlv(0xa1, &sequence(&[ia5(start), tlv(0x02, count)]))
    }

    fn range(start: &str, count: u64) -> TnEntry {
        TnEntry::Range {
            start: start.to_owned(),
            count,
        }
    }

    fn spc(code: &str) -> TnEntry {
        TnEntry::Spc(code.to_owned())
    }

    fn one(tn: &str) -> TnEntry {
        TnEntry::One(tn.to_owned())
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| (*item).to_owned()).collect()
    }

    /// Returns the extension value (extnValue content) with `oid` from a PEM file
    /// under testdata, or `None` when the certificate lacks it.
    fn extension_value(path: &str, oid: &str) -> Option<Vec<u8>> {
        let full_path = format!("{}/../../testdata/{path}", env!("CARGO_MANIFEST_DIR"));
        let pem_bytes = std::fs::read(&full_path).unwrap();
        let (_, pem) = x509_parser::pem::parse_x509_pem(&pem_bytes).unwrap();
        let certificate = pem.parse_x509().unwrap();
        certificate
            .extensions()
            .iter()
            .find(|extension| extension.oid.to_id_string() == oid)
            .map(|extension| extension.value.to_vec())
    }

    fn certificate_tn_auth_list(path: &str) -> Result<TnAuthList, TnAuthListError> {
        decode(&extension_value(path, OID_TN_AUTH_LIST).unwrap())
    }

    // TNAuthList vectors and certificates.

    #[test]
    fn pyasn1_vector_decodes_three_entries() {
        let list = decode(TN_AUTH_LIST_VECTOR).unwrap();
        assert_eq!(
            list.entries(),
            [spc("bogus"), range("5715551212", 788), one("7035551212")]
        );
        assert_eq!(list.spc(), Some("bogus"));
    }

    #[test]
    fn pyasn1_vector_coverage_table() {
        let list = decode(TN_AUTH_LIST_VECTOR).unwrap();
        let cases = [
            ("5715551212", Coverage::Number),
            ("5715551999", Coverage::Number),
            ("5715552000", Coverage::SpcOnly),
            ("7035551212", Coverage::Number),
            ("7035551213", Coverage::SpcOnly),
        ];
        for (tn, expected) in cases {
            assert_eq!(list.covers(tn), expected, "number {tn}");
        }
    }

    #[test]
    fn rfc9118_certificate_tn_auth_list() {
        let list = certificate_tn_auth_list("certs/pyasn1-rfc9118-example-ee.pem").unwrap();
        assert_eq!(list.entries(), [spc("1234")]);
    }

    #[test]
    fn rfc8226_certificate_tn_auth_list() {
        let list = certificate_tn_auth_list("certs/pyasn1-rfc8226-example-ee.pem").unwrap();
        assert_eq!(list.entries(), [spc("fake")]);
    }

    #[test]
    fn synthetic_123j_certificate_spc() {
        let list = certificate_tn_auth_list("synthetic/syn-ee-123J.pem").unwrap();
        assert_eq!(list.entries(), [spc("123J")]);
        assert_eq!(list.covers("12025550100"), Coverage::SpcOnly);
    }

    #[test]
    fn synthetic_tnlist_certificate_range_and_one() {
        let list = certificate_tn_auth_list("synthetic/syn-ee-tnlist.pem").unwrap();
        assert_eq!(
            list.entries(),
            [range("12025550100", 100), one("12025550300")]
        );
        assert_eq!(list.spc(), None);
        assert_eq!(list.covers("12025550100"), Coverage::Number);
        assert_eq!(list.covers("12025550199"), Coverage::Number);
        assert_eq!(list.covers("12025550200"), Coverage::No);
        assert_eq!(list.covers("12025550300"), Coverage::Number);
        assert_eq!(list.covers("12025550301"), Coverage::No);
    }

    #[test]
    fn synthetic_certificate_without_extension() {
        let value = extension_value("synthetic/syn-ee-no-tnauthlist.pem", OID_TN_AUTH_LIST);
        assert_eq!(value, None);
    }

    #[test]
    fn martini_certificate_spc_709j() {
        let list = certificate_tn_auth_list("certs/real-martini-ee-709J.pem").unwrap();
        assert_eq!(list.entries(), [spc("709J")]);
    }

    #[test]
    fn noncompliant_certificate_spc_1234() {
        let list =
            certificate_tn_auth_list("certs/real-noncompliant-bigfattelecom-ee.pem").unwrap();
        assert_eq!(list.entries(), [spc("1234")]);
    }

    #[test]
    fn libstirshaken_bare_ia5string_rejected() {
        let error = certificate_tn_auth_list("certs/libstirshaken-sp.pem").unwrap_err();
        assert_eq!(error, TnAuthListError::NotSequence { tag: 0x16 });
        let message = error.to_string();
        assert!(
            message.contains("not a TNAuthorizationList SEQUENCE"),
            "{message}"
        );
        assert!(message.contains("0x16 (IA5String)"), "{message}");
    }

    // Hand-built TNAuthList inputs.

    #[test]
    fn spc_999x_decodes() {
        let der = [0x30, 0x08, 0xa0, 0x06, 0x16, 0x04, 0x39, 0x39, 0x39, 0x58];
        assert_eq!(decode(&der).unwrap().entries(), [spc("999X")]);
    }

    #[test]
    fn lowercase_spc_decodes() {
        let der = [0x30, 0x08, 0xa0, 0x06, 0x16, 0x04, 0x39, 0x39, 0x39, 0x78];
        assert_eq!(decode(&der).unwrap().spc(), Some("999x"));
    }

    #[test]
    fn truncated_after_spc_tag() {
        let error = decode(&[0x30, 0x08, 0xa0]).unwrap_err();
        assert_eq!(error, TnAuthListError::Truncated { offset: 0 });
    }

    #[test]
    fn every_prefix_is_rejected() {
        for length in 0..TN_AUTH_LIST_VECTOR.len() {
            let prefix = &TN_AUTH_LIST_VECTOR[..length];
            assert!(decode(prefix).is_err(), "prefix of {length} bytes");
        }
    }

    #[test]
    fn two_spc_entries_decode() {
        let der = sequence(&[spc_entry("123J"), spc_entry("709J")]);
        let list = decode(&der).unwrap();
        assert_eq!(list.entries(), [spc("123J"), spc("709J")]);
        assert_eq!(list.spc(), Some("123J"));
        assert_eq!(list.spcs().collect::<Vec<_>>(), ["123J", "709J"]);
    }

    #[test]
    fn empty_sequence_rejected() {
        assert_eq!(decode(&[0x30, 0x00]), Err(TnAuthListError::Empty));
    }

    #[test]
    fn empty_input_truncated() {
        assert_eq!(decode(&[]), Err(TnAuthListError::Truncated { offset: 0 }));
    }

    #[test]
    fn count_below_two_rejected() {
        let cases: [(&[u8], i64); 4] = [
            (&[0x01], 1),
            (&[0x00], 0),
            (&[0xff], -1),
            (&[0x80, 0x00], -32768),
        ];
        for (content, count) in cases {
            let der = sequence(&[range_entry("12025550100", content)]);
            assert_eq!(
                decode(&der),
                Err(TnAuthListError::CountTooSmall { count }),
                "count {count}"
            );
        }
    }

    #[test]
    fn very_negative_count_saturates() {
        let content = [0x80, 0, 0, 0, 0, 0, 0, 0, 0];
        let der = sequence(&[range_entry("12025550100", &content)]);
        assert_eq!(
            decode(&der),
            Err(TnAuthListError::CountTooSmall { count: i64::MIN })
        );
    }

    #[test]
    fn count_above_u64_rejected() {
        let content = [0x01, 0, 0, 0, 0, 0, 0, 0, 0];
        let der = sequence(&[range_entry("12025550100", &content)]);
        assert_eq!(decode(&der), Err(TnAuthListError::CountTooLarge));
    }

    #[test]
    fn count_u64_max_decodes() {
        let content = [0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        let der = sequence(&[range_entry("12025550100", &content)]);
        let list = decode(&der).unwrap();
        assert_eq!(list.entries(), [range("12025550100", u64::MAX)]);
        assert_eq!(list.covers("99999999999"), Coverage::Number);
        assert_eq!(list.covers("12025550099"), Coverage::No);
    }

    #[test]
    fn non_minimal_count_rejected() {
        for content in [&[][..], &[0x00, 0x64], &[0xff, 0x80]] {
            let der = sequence(&[range_entry("12025550100", content)]);
            assert_eq!(
                decode(&der),
                Err(TnAuthListError::CountMalformed),
                "content {content:02x?}"
            );
        }
    }

    #[test]
    fn count_with_sign_octet_decodes() {
        let der = sequence(&[range_entry("12025550100", &[0x00, 0xc8])]);
        assert_eq!(decode(&der).unwrap().entries(), [range("12025550100", 200)]);
    }

    #[test]
    fn range_boundary_coverage() {
        let der = sequence(&[range_entry("12025550100", &[100])]);
        let list = decode(&der).unwrap();
        assert_eq!(list.covers("12025550099"), Coverage::No);
        assert_eq!(list.covers("12025550100"), Coverage::Number);
        assert_eq!(list.covers("12025550199"), Coverage::Number);
        assert_eq!(list.covers("12025550200"), Coverage::No);
        assert_eq!(list.covers("2025550150"), Coverage::No);
        assert_eq!(list.covers("012025550150"), Coverage::No);
    }

    #[test]
    fn range_stops_at_length_change() {
        let entry = range("9999999990", 100);
        assert!(entry.covers("9999999999"));
        assert!(!entry.covers("10000000000"));
        assert!(!entry.covers("10000000089"));
    }

    #[test]
    fn range_with_leading_zeros() {
        let entry = range("0012", 10);
        assert!(entry.covers("0012"));
        assert!(entry.covers("0021"));
        assert!(!entry.covers("0022"));
        assert!(!entry.covers("012"));
    }

    #[test]
    fn range_with_star_covers_start_only() {
        let der = sequence(&[range_entry("12*4", &[5])]);
        let list = decode(&der).unwrap();
        assert_eq!(list.covers("12*4"), Coverage::Number);
        assert_eq!(list.covers("12*5"), Coverage::No);
        assert_eq!(list.covers("1205"), Coverage::No);
    }

    #[test]
    fn range_never_covers_hash_number() {
        let entry = range("1200", 100);
        assert!(!entry.covers("12#0"));
        assert!(!entry.covers("120*"));
    }

    #[test]
    fn one_entry_with_star_and_hash() {
        let der = sequence(&[one_entry("*67#")]);
        let list = decode(&der).unwrap();
        assert_eq!(list.entries(), [one("*67#")]);
        assert_eq!(list.covers("*67#"), Coverage::Number);
    }

    #[test]
    fn uncanonical_number_not_covered() {
        let list = decode(TN_AUTH_LIST_VECTOR).unwrap();
        assert_eq!(list.covers("+17035551212"), Coverage::SpcOnly);
        assert_eq!(list.covers(""), Coverage::SpcOnly);
    }

    #[test]
    fn spc_entry_covers_no_number() {
        assert!(!spc("5715551212").covers("5715551212"));
    }

    #[test]
    fn range_extension_elements_tolerated() {
        let body = sequence(&[ia5("12025550100"), tlv(0x02, &[100]), tlv(0x05, &[])]);
        let der = sequence(&[tlv(0xa1, &body)]);
        assert_eq!(decode(&der).unwrap().entries(), [range("12025550100", 100)]);
    }

    #[test]
    fn range_without_count_rejected() {
        let der = sequence(&[tlv(0xa1, &sequence(&[ia5("12025550100")]))]);
        assert_eq!(decode(&der), Err(TnAuthListError::RangeWithoutCount));
    }

    #[test]
    fn range_count_as_string_rejected() {
        let body = sequence(&[ia5("12025550100"), ia5("100")]);
        let der = sequence(&[tlv(0xa1, &body)]);
        assert_eq!(
            decode(&der),
            Err(TnAuthListError::CountNotInteger { tag: 0x16 })
        );
    }

    #[test]
    fn range_not_sequence_rejected() {
        let der = sequence(&[tlv(0xa1, &ia5("12025550100"))]);
        assert_eq!(
            decode(&der),
            Err(TnAuthListError::RangeNotSequence { tag: 0x16 })
        );
    }

    #[test]
    fn unknown_entry_tag_a3() {
        let der = sequence(&[tlv(0xa3, &ia5("12025550100"))]);
        let error = decode(&der).unwrap_err();
        assert_eq!(error, TnAuthListError::UnknownEntryTag { tag: 0xa3 });
        assert!(error.to_string().contains("0xa3"), "{error}");
    }

    #[test]
    fn implicit_spc_tag_rejected() {
        let der = sequence(&[tlv(0x80, b"709J")]);
        assert_eq!(
            decode(&der),
            Err(TnAuthListError::UnknownEntryTag { tag: 0x80 })
        );
    }

    #[test]
    fn spc_as_utf8string_rejected() {
        let der = sequence(&[tlv(0xa0, &utf8("709J"))]);
        assert_eq!(
            decode(&der),
            Err(TnAuthListError::SpcNotIa5String { tag: 0x0c })
        );
    }

    #[test]
    fn spc_with_high_byte_rejected() {
        let der = sequence(&[tlv(0xa0, &tlv(0x16, &[0x37, 0x30, 0xe9]))]);
        assert_eq!(decode(&der), Err(TnAuthListError::SpcNotAscii));
    }

    #[test]
    fn telephone_number_bad_character() {
        for (tn, byte) in [("1202555a100", b'a'), ("+12025550100", b'+'), ("1 2", b' ')] {
            let der = sequence(&[one_entry(tn)]);
            assert_eq!(
                decode(&der),
                Err(TnAuthListError::TelephoneNumberCharacter { byte }),
                "number {tn}"
            );
        }
    }

    #[test]
    fn telephone_number_length_limits() {
        let fifteen = "123456789012345";
        let der = sequence(&[one_entry(fifteen)]);
        assert_eq!(decode(&der).unwrap().entries(), [one(fifteen)]);

        let der = sequence(&[one_entry("1234567890123456")]);
        assert_eq!(
            decode(&der),
            Err(TnAuthListError::TelephoneNumberLength { length: 16 })
        );

        let der = sequence(&[one_entry("")]);
        assert_eq!(
            decode(&der),
            Err(TnAuthListError::TelephoneNumberLength { length: 0 })
        );
    }

    #[test]
    fn range_start_checked_like_number() {
        let der = sequence(&[range_entry("1202555010x", &[100])]);
        assert_eq!(
            decode(&der),
            Err(TnAuthListError::TelephoneNumberCharacter { byte: b'x' })
        );
    }

    #[test]
    fn telephone_number_as_utf8string_rejected() {
        let der = sequence(&[tlv(0xa2, &utf8("12025550100"))]);
        assert_eq!(
            decode(&der),
            Err(TnAuthListError::TelephoneNumberNotIa5String { tag: 0x0c })
        );
    }

    #[test]
    fn huge_length_truncated() {
        let der = [0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0xa0, 0x00];
        assert_eq!(decode(&der), Err(TnAuthListError::Truncated { offset: 0 }));

        let der = [0x30, 0x08, 0xa0, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x16, 0x00];
        assert_eq!(decode(&der), Err(TnAuthListError::Truncated { offset: 2 }));
    }

    #[test]
    fn five_length_octets_rejected() {
        let der = [0x30, 0x85, 0x01, 0x00, 0x00, 0x00, 0x00];
        assert_eq!(
            decode(&der),
            Err(TnAuthListError::LengthTooLong { offset: 0 })
        );
    }

    #[test]
    fn indefinite_length_rejected() {
        let der = [
            0x30, 0x80, 0xa0, 0x06, 0x16, 0x04, 0x37, 0x30, 0x39, 0x4a, 0, 0,
        ];
        assert_eq!(
            decode(&der),
            Err(TnAuthListError::IndefiniteLength { offset: 0 })
        );
    }

    #[test]
    fn non_minimal_length_rejected() {
        let mut der = vec![0x30, 0x81, 0x08];
        der.extend_from_slice(&spc_entry("709J"));
        assert_eq!(
            decode(&der),
            Err(TnAuthListError::NonMinimalLength { offset: 0 })
        );

        let mut der = vec![0x30, 0x82, 0x00, 0x08];
        der.extend_from_slice(&spc_entry("709J"));
        assert_eq!(
            decode(&der),
            Err(TnAuthListError::NonMinimalLength { offset: 0 })
        );
    }

    #[test]
    fn long_form_length_decodes() {
        let entries: Vec<Vec<u8>> = (0..30).map(|_| spc_entry("709J")).collect();
        let der = sequence(&entries);
        assert_eq!(der[1], 0x81);
        assert_eq!(decode(&der).unwrap().entries().len(), 30);
    }

    #[test]
    fn high_tag_number_rejected() {
        let der = [0x30, 0x04, 0xbf, 0x1f, 0x01, 0x00];
        assert_eq!(
            decode(&der),
            Err(TnAuthListError::HighTagNumber { offset: 2 })
        );
    }

    #[test]
    fn trailing_bytes_after_list() {
        let mut der = sequence(&[spc_entry("709J")]);
        der.push(0x00);
        assert_eq!(
            decode(&der),
            Err(TnAuthListError::TrailingBytes { offset: 10 })
        );
    }

    #[test]
    fn trailing_bytes_inside_explicit_tag() {
        let inner = [ia5("709J"), tlv(0x05, &[])].concat();
        let der = sequence(&[tlv(0xa0, &inner)]);
        assert_eq!(
            decode(&der),
            Err(TnAuthListError::TrailingBytes { offset: 10 })
        );
    }

    #[test]
    fn entry_cap_enforced() {
        let entries: Vec<Vec<u8>> = (0..MAX_TN_ENTRIES).map(|_| one_entry("5")).collect();
        let der = sequence(&entries);
        assert_eq!(decode(&der).unwrap().entries().len(), MAX_TN_ENTRIES);

        let entries: Vec<Vec<u8>> = (0..=MAX_TN_ENTRIES).map(|_| one_entry("5")).collect();
        let der = sequence(&entries);
        assert_eq!(
            decode(&der),
            Err(TnAuthListError::TooManyEntries {
                max: MAX_TN_ENTRIES
            })
        );
    }

    #[test]
    fn single_byte_mutations_never_panic() {
        for vector in [TN_AUTH_LIST_VECTOR, JWT_CLAIM_CONSTRAINTS_VECTOR] {
            for position in 0..vector.len() {
                for value in 0..=u8::MAX {
                    let mut mutated = vector.to_vec();
                    mutated[position] = value;
                    let _ = decode(&mutated);
                    let _ = decode_jwt_claim_constraints(&mutated);
                    let _ = decode_enhanced_jwt_claim_constraints(&mutated);
                }
            }
        }
    }

    #[test]
    fn random_inputs_never_panic() {
        // A fixed linear congruential generator keeps the inputs reproducible.
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next_byte = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as u8
        };
        for _ in 0..20_000 {
            let length = usize::from(next_byte() % 48);
            let mut input = vec![0x30, length as u8];
            for _ in 0..length {
                // Bias towards the tags these structures use, to reach deeper code.
                let byte = match next_byte() % 4 {
                    0 => [0x30, 0xa0, 0xa1, 0xa2, 0x16, 0x02, 0x0c][usize::from(next_byte() % 7)],
                    _ => next_byte() % 0x20,
                };
                input.push(byte);
            }
            let _ = decode(&input);
            let _ = decode_jwt_claim_constraints(&input);
            let _ = decode_enhanced_jwt_claim_constraints(&input);
        }
    }

    // JWT claim constraints.

    #[test]
    fn pyasn1_jwt_vector_decodes() {
        let expected = JwtClaimConstraints {
            must_include: strings(&["foo"]),
            permitted_values: vec![
                ("foo".to_owned(), strings(&["foo1", "foo2", "foo3"])),
                ("bar".to_owned(), strings(&["bar1", "bar2"])),
            ],
            must_exclude: Vec::new(),
        };
        assert_eq!(
            decode_jwt_claim_constraints(JWT_CLAIM_CONSTRAINTS_VECTOR),
            Ok(expected.clone())
        );
        assert_eq!(
            decode_enhanced_jwt_claim_constraints(JWT_CLAIM_CONSTRAINTS_VECTOR),
            Ok(expected)
        );
    }

    #[test]
    fn rfc9118_certificate_enhanced_constraints() {
        let value = extension_value(
            "certs/pyasn1-rfc9118-example-ee.pem",
            OID_ENHANCED_JWT_CLAIM_CONSTRAINTS,
        )
        .unwrap();
        let expected = JwtClaimConstraints {
            must_include: strings(&["confidence"]),
            permitted_values: vec![("confidence".to_owned(), strings(&["high", "medium"]))],
            must_exclude: strings(&["priority"]),
        };
        assert_eq!(decode_enhanced_jwt_claim_constraints(&value), Ok(expected));
    }

    #[test]
    fn plain_decoder_rejects_must_exclude() {
        let value = extension_value(
            "certs/pyasn1-rfc9118-example-ee.pem",
            OID_ENHANCED_JWT_CLAIM_CONSTRAINTS,
        )
        .unwrap();
        assert_eq!(
            decode_jwt_claim_constraints(&value),
            Err(JwtClaimConstraintsError::UnexpectedField { tag: 0xa2 })
        );
    }

    #[test]
    fn rfc9118_certificate_lacks_plain_constraints() {
        let value = extension_value(
            "certs/pyasn1-rfc9118-example-ee.pem",
            OID_JWT_CLAIM_CONSTRAINTS,
        );
        assert_eq!(value, None);
    }

    #[test]
    fn must_exclude_alone_decodes() {
        let der = sequence(&[tlv(0xa2, &sequence(&[ia5("rcd")]))]);
        let constraints = decode_enhanced_jwt_claim_constraints(&der).unwrap();
        assert_eq!(constraints.must_include, Vec::<String>::new());
        assert_eq!(constraints.permitted_values, Vec::new());
        assert_eq!(constraints.must_exclude, strings(&["rcd"]));
    }

    #[test]
    fn empty_constraints_rejected() {
        assert_eq!(
            decode_jwt_claim_constraints(&[0x30, 0x00]),
            Err(JwtClaimConstraintsError::NoConstraints)
        );
        assert_eq!(
            decode_enhanced_jwt_claim_constraints(&[0x30, 0x00]),
            Err(JwtClaimConstraintsError::NoConstraints)
        );
    }

    #[test]
    fn constraints_not_sequence_rejected() {
        assert_eq!(
            decode_jwt_claim_constraints(&ia5("foo")),
            Err(JwtClaimConstraintsError::NotSequence { tag: 0x16 })
        );
    }

    #[test]
    fn out_of_order_fields_rejected() {
        let must_include = tlv(0xa0, &sequence(&[ia5("foo")]));
        let permitted = tlv(
            0xa1,
            &sequence(&[sequence(&[ia5("foo"), sequence(&[utf8("a")])])]),
        );
        let der = sequence(&[permitted, must_include.clone()]);
        assert_eq!(
            decode_jwt_claim_constraints(&der),
            Err(JwtClaimConstraintsError::UnexpectedField { tag: 0xa0 })
        );

        let der = sequence(&[must_include.clone(), must_include]);
        assert_eq!(
            decode_jwt_claim_constraints(&der),
            Err(JwtClaimConstraintsError::UnexpectedField { tag: 0xa0 })
        );
    }

    #[test]
    fn unknown_constraints_field_rejected() {
        let der = sequence(&[tlv(0xa3, &sequence(&[ia5("foo")]))]);
        assert_eq!(
            decode_enhanced_jwt_claim_constraints(&der),
            Err(JwtClaimConstraintsError::UnexpectedField { tag: 0xa3 })
        );
    }

    #[test]
    fn implicit_tagging_rejected() {
        let der = sequence(&[tlv(0xa0, &ia5("foo"))]);
        assert_eq!(
            decode_jwt_claim_constraints(&der),
            Err(JwtClaimConstraintsError::ListNotSequence {
                list: "mustInclude",
                tag: 0x16
            })
        );
    }

    #[test]
    fn empty_claim_lists_rejected() {
        let der = sequence(&[tlv(0xa0, &sequence(&[]))]);
        assert_eq!(
            decode_jwt_claim_constraints(&der),
            Err(JwtClaimConstraintsError::EmptyList {
                list: "mustInclude"
            })
        );

        let der = sequence(&[tlv(0xa1, &sequence(&[]))]);
        assert_eq!(
            decode_jwt_claim_constraints(&der),
            Err(JwtClaimConstraintsError::EmptyList {
                list: "permittedValues"
            })
        );

        let entry = sequence(&[ia5("foo"), sequence(&[])]);
        let der = sequence(&[tlv(0xa1, &sequence(&[entry]))]);
        assert_eq!(
            decode_jwt_claim_constraints(&der),
            Err(JwtClaimConstraintsError::EmptyList { list: "permitted" })
        );

        let der = sequence(&[tlv(0xa2, &sequence(&[]))]);
        assert_eq!(
            decode_enhanced_jwt_claim_constraints(&der),
            Err(JwtClaimConstraintsError::EmptyList {
                list: "mustExclude"
            })
        );
    }

    #[test]
    fn claim_name_as_utf8string_rejected() {
        let der = sequence(&[tlv(0xa0, &sequence(&[utf8("foo")]))]);
        assert_eq!(
            decode_jwt_claim_constraints(&der),
            Err(JwtClaimConstraintsError::ClaimNameNotIa5String { tag: 0x0c })
        );
    }

    #[test]
    fn claim_name_with_high_byte_rejected() {
        let der = sequence(&[tlv(0xa0, &sequence(&[tlv(0x16, &[0x66, 0xf6])]))]);
        assert_eq!(
            decode_jwt_claim_constraints(&der),
            Err(JwtClaimConstraintsError::ClaimNameNotAscii)
        );
    }

    #[test]
    fn permitted_value_as_ia5string_rejected() {
        let entry = sequence(&[ia5("foo"), sequence(&[ia5("foo1")])]);
        let der = sequence(&[tlv(0xa1, &sequence(&[entry]))]);
        assert_eq!(
            decode_jwt_claim_constraints(&der),
            Err(JwtClaimConstraintsError::PermittedValueNotUtf8String { tag: 0x16 })
        );
    }

    #[test]
    fn permitted_value_invalid_utf8_rejected() {
        let entry = sequence(&[ia5("foo"), sequence(&[tlv(0x0c, &[0xc3, 0x28])])]);
        let der = sequence(&[tlv(0xa1, &sequence(&[entry]))]);
        assert_eq!(
            decode_jwt_claim_constraints(&der),
            Err(JwtClaimConstraintsError::PermittedValueInvalidUtf8)
        );
    }

    #[test]
    fn permitted_value_non_ascii_decodes() {
        let entry = sequence(&[ia5("rcd"), sequence(&[utf8("Zürich")])]);
        let der = sequence(&[tlv(0xa1, &sequence(&[entry]))]);
        let constraints = decode_jwt_claim_constraints(&der).unwrap();
        assert_eq!(
            constraints.permitted_values,
            [("rcd".to_owned(), strings(&["Zürich"]))]
        );
    }

    #[test]
    fn permitted_values_entry_without_values() {
        let entry = sequence(&[ia5("foo")]);
        let der = sequence(&[tlv(0xa1, &sequence(&[entry]))]);
        assert_eq!(
            decode_jwt_claim_constraints(&der),
            Err(JwtClaimConstraintsError::MissingPermittedValues {
                claim: "foo".to_owned()
            })
        );
    }

    #[test]
    fn permitted_values_entry_not_sequence() {
        let der = sequence(&[tlv(0xa1, &sequence(&[ia5("foo")]))]);
        assert_eq!(
            decode_jwt_claim_constraints(&der),
            Err(JwtClaimConstraintsError::PermittedValuesEntryNotSequence { tag: 0x16 })
        );
    }

    #[test]
    fn permitted_values_entry_extra_element() {
        let entry = sequence(&[ia5("foo"), sequence(&[utf8("a")]), utf8("b")]);
        let der = sequence(&[tlv(0xa1, &sequence(&[entry]))]);
        assert!(matches!(
            decode_jwt_claim_constraints(&der),
            Err(JwtClaimConstraintsError::TrailingBytes { .. })
        ));
    }

    #[test]
    fn jwt_trailing_bytes_rejected() {
        let mut der = JWT_CLAIM_CONSTRAINTS_VECTOR.to_vec();
        der.extend_from_slice(&[0x05, 0x00]);
        assert_eq!(
            decode_jwt_claim_constraints(&der),
            Err(JwtClaimConstraintsError::TrailingBytes { offset: 63 })
        );
    }

    #[test]
    fn jwt_every_prefix_rejected() {
        for length in 0..JWT_CLAIM_CONSTRAINTS_VECTOR.len() {
            let prefix = &JWT_CLAIM_CONSTRAINTS_VECTOR[..length];
            assert!(
                decode_jwt_claim_constraints(prefix).is_err(),
                "prefix of {length} bytes"
            );
        }
    }

    #[test]
    fn jwt_huge_length_truncated() {
        let der = [0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0xa0, 0x00];
        assert_eq!(
            decode_jwt_claim_constraints(&der),
            Err(JwtClaimConstraintsError::Truncated { offset: 0 })
        );
    }

    #[test]
    fn claim_list_cap_enforced() {
        let names: Vec<Vec<u8>> = (0..MAX_CLAIM_LIST_ITEMS).map(|_| ia5("a")).collect();
        let der = sequence(&[tlv(0xa0, &sequence(&names))]);
        let constraints = decode_jwt_claim_constraints(&der).unwrap();
        assert_eq!(constraints.must_include.len(), MAX_CLAIM_LIST_ITEMS);

        let names: Vec<Vec<u8>> = (0..=MAX_CLAIM_LIST_ITEMS).map(|_| ia5("a")).collect();
        let der = sequence(&[tlv(0xa0, &sequence(&names))]);
        assert_eq!(
            decode_jwt_claim_constraints(&der),
            Err(JwtClaimConstraintsError::TooManyItems {
                list: "mustInclude",
                max: MAX_CLAIM_LIST_ITEMS
            })
        );
    }
}

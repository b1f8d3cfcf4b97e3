//! SIP for stird: a zero-copy message parser without I/O, the UDP, TCP and
//! TLS transports ([`transport`]), and the redirect front end ([`redirect`]).
//!
//! [`parse`] reads one message from a datagram into a [`Message`] whose
//! fields borrow from the input: the start line, the header fields in order
//! and the body. [`frame`] finds where a message ends in a stream buffer.
//! [`check_request`] and [`check_response`] then check the header fields a
//! stateless server relies on: Via ([`parse_via`]), From, To, Call-ID, CSeq
//! ([`parse_cseq`]), Max-Forwards, Content-Length, Date and Contact.
//!
//! ```
//! let datagram = b"OPTIONS sip:user@example.com SIP/2.0\r\n\
//!     v: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK776asdhds\r\n\
//!     To: <sip:user@example.com>\r\n\
//!     From: <sip:caller@example.net>;tag=1928301774\r\n\
//!     Call-ID: a84b4c76e66710@192.0.2.1\r\n\
//!     CSeq: 63104 OPTIONS\r\n\
//!     Max-Forwards: 70\r\n\
//!     l: 0\r\n\
//!     \r\n";
//! let sip::Message::Request(request) = sip::parse(datagram)? else {
//!     panic!("a request was expected");
//! };
//! sip::check_request(&request)?;
//!
//! let via = request.headers.get("Via").expect("checked above");
//! assert_eq!(via.canonical_name(), "Via");
//! let top = &sip::parse_via(via.value)?[0];
//! assert_eq!(top.branch, Some("z9hG4bK776asdhds"));
//! # Ok::<(), sip::ParseError>(())
//! ```
//!
//! Every input is bounded by [`MAX_MESSAGE_BYTES`], [`MAX_LINE_BYTES`] and
//! [`MAX_HEADERS`], and the per-value limits [`MAX_VIA_ENTRIES`],
//! [`MAX_VIA_PARAMS`] and [`MAX_ADDRESS_PARAMS`]. No input makes the crate
//! panic. Each error carries the status code of the response a server sends
//! ([`ParseError::status`]).

mod address;
mod check;
mod error;
mod header;
mod message;
mod syntax;
mod via;

pub use address::MAX_ADDRESS_PARAMS;
pub use check::{MAX_CSEQ, MAX_FORWARDS, check_request, check_response, parse_cseq};
pub use error::{ErrorKind, MAX_EXCERPT_BYTES, ParseError};
pub use header::{Header, Headers, canonical_header_name};
pub use message::{Message, Request, Response, frame, is_keepalive, parse};
pub use via::{MAX_VIA_ENTRIES, MAX_VIA_PARAMS, Via, parse_via};

/// Maximum size of a message, in bytes. No UDP datagram is larger, because an
/// IPv4 packet is at most 65,535 bytes, and RFC 3261 section 18.1.1 requires a
/// request larger than 1300 bytes to go over a congestion-controlled transport
/// such as TCP. [`frame`] rejects a stream message larger than this.
pub const MAX_MESSAGE_BYTES: usize = 65_535;

/// Maximum number of header fields in one message. The longest message of RFC
/// 4475 has 43, and the limit leaves room for long Via and Record-Route lists.
pub const MAX_HEADERS: usize = 256;

/// Maximum length of the start line, or of one header field with its
/// continuation lines, in bytes. It matches `MAX_IDENTITY_LEN`, the 16 KiB
/// limit of an Identity header value in the passport crate, which leaves room
/// for Rich Call Data.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

pub mod proxy;
pub mod redirect;
pub mod transport;
mod verstat;

pub use verstat::with_verstat;

//! The authentication and verification services of stird.
//!
//! This crate does no socket or HTTP I/O. It turns the outcome of the
//! PASSporT checks into what a SIP or HTTP front end sends back: the verstat value of
//! 3GPP TS 24.229 and, for a failure, the SIP response of RFC 8224 section 6.2.2
//! with a Reason header of RFC 9410.
//!
//! [`verify_request`] is async only for its certificate step: the
//! [`CertificateSource`] of the self-managing model is [`certstore::X5uCache`],
//! whose cache hits return without waiting.
//!
//! [`AuthService`] signs: it picks the credential by calling number or trunk,
//! caps the attestation by the credential's policy, and signs once.

mod auth;
mod verdict;
mod verify;

pub use auth::{AuthService, SignError, SignRequest, Signed, random_uuid};

pub use verdict::{SipResponse, Verstat, response_for};
pub use verify::{
    CertificateError, CertificateFuture, CertificateSource, Failure, MappedSource, SUPPORTED_PPT,
    Verdict, VerifyPolicy, VerifyRequest, record_verdict, verify_request,
};

//! The checks that need no I/O, each a function named for its rule, and the
//! procedure that runs them in the verification order of [`Check`].
//!
//! [`Decoded::check`] runs everything up to the certificate step: `alg`, `typ`,
//! `ppt`, the claims, `info` against `x5u`, `iat` freshness and the numbers. The
//! caller then obtains the signer's certificate for the returned `x5u` and calls
//! [`Checked::verify_signature`]. A stale or mismatched PASSporT therefore fails
//! before anything is fetched.
//!
//! [`Check`]: crate::Check

use crate::claims::{Attestation, Claims, Header, Orig};
use crate::error::{Error, Segment};
use crate::identity::IdentityHeader;
use crate::jws::Decoded;
use crate::key::VerifyingKey;
use crate::tn::{self, NumberPolicy};
use crate::{PPT_DIV, PPT_SHAKEN};

/// The default freshness window, in seconds (RFC 8224 section 6.2 recommends 60).
pub const DEFAULT_FRESHNESS: u32 = 60;

/// Strictness toward deviations that deployed signers make without harm.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Profile {
    /// Accept a missing or quoted `ppt` parameter and a non-canonical `tn` claim,
    /// reporting each as a [`Warning`].
    #[default]
    Lenient,
    /// Reject those deviations.
    Strict,
}

/// A deviation that the lenient profile accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// The Identity header has no `ppt` although the PASSporT header has one.
    PptParameterMissing { header: String },
    /// The `ppt` parameter is a quoted string rather than a token.
    PptQuoted,
    /// A `tn` claim carries `+` or visual separators.
    NonCanonicalTn { claim: &'static str, value: String },
}

impl Warning {
    /// The names [`Warning::name`] returns, one per kind of deviation.
    pub const NAMES: [&'static str; 3] =
        ["ppt-parameter-missing", "ppt-quoted", "non-canonical-tn"];

    /// Returns a short lowercase name of the deviation, stable for logs and
    /// metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Warning::PptParameterMissing { .. } => "ppt-parameter-missing",
            Warning::PptQuoted => "ppt-quoted",
            Warning::NonCanonicalTn { .. } => "non-canonical-tn",
        }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::PptParameterMissing { header } => write!(
                f,
                "Identity header has no ppt parameter; verified with the PASSporT ppt '{header}'"
            ),
            Warning::PptQuoted => {
                f.write_str("Identity ppt parameter is quoted; RFC 8224 makes it a token")
            }
            Warning::NonCanonicalTn { claim, value } => write!(
                f,
                "{claim} '{value}' is not canonical (RFC 8225 section 5.2.1); compared in canonical form"
            ),
        }
    }
}

/// Inputs of the checks: time, freshness window, profile and numbering plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The current time, seconds since the Unix epoch.
    pub now: i64,
    /// The largest accepted distance between `iat` and `now`, in seconds, both ways.
    pub freshness: u32,
    /// Lenient or strict.
    pub profile: Profile,
    /// Numbering-plan rules for the number comparison.
    pub numbers: NumberPolicy,
}

impl Options {
    /// Returns the default options at time `now`.
    pub fn at(now: i64) -> Self {
        Options {
            now,
            freshness: DEFAULT_FRESHNESS,
            profile: Profile::Lenient,
            numbers: NumberPolicy::default(),
        }
    }
}

/// The identities of the SIP request, as header values or URIs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestIdentities<'a> {
    /// The calling identity: P-Asserted-Identity, else From. `None` skips the check.
    pub orig: Option<&'a str>,
    /// The called identity: To, else the Request-URI. `None` skips the check.
    pub dest: Option<&'a str>,
}

/// A PASSporT whose I/O-free checks passed and whose signature is still to verify.
#[derive(Debug, Clone)]
pub struct Checked {
    decoded: Decoded,
    claims: Claims,
    ppt: Option<String>,
    x5u: String,
    warnings: Vec<Warning>,
}

/// A PASSporT whose checks and signature passed.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The typed claims.
    pub claims: Claims,
    /// The PASSporT type, `None` for a base PASSporT.
    pub ppt: Option<String>,
    /// The URL of the signer's certificate.
    pub x5u: String,
    /// Deviations the lenient profile accepted.
    pub warnings: Vec<Warning>,
}

impl Verified {
    /// Returns the attestation level of a SHAKEN PASSporT.
    pub fn attestation(&self) -> Option<Attestation> {
        self.claims.attest
    }
}

impl Decoded {
    /// Runs the I/O-free checks in order and returns the first failure.
    pub fn check(
        self,
        identity: &IdentityHeader,
        request: RequestIdentities<'_>,
        options: &Options,
    ) -> Result<Checked, Error> {
        let mut warnings = Vec::new();

        check_alg(&self.header, identity)?;
        check_typ(&self.header)?;
        let ppt = check_ppt(&self.header, identity, options.profile, &mut warnings)?;

        let claims = Claims::from_map(&self.payload)?;
        check_ppt_claims(ppt.as_deref(), &claims)?;
        check_tn_canonical(&claims, options.profile, &mut warnings)?;

        let x5u = check_x5u_matches_info(&self.header, identity)?;

        check_iat_fresh(claims.iat, options.now, options.freshness)?;

        if let Some(orig) = request.orig {
            check_orig(&claims.orig, orig, &options.numbers)?;
        }
        if let Some(dest) = request.dest {
            check_dest(&claims, dest, &options.numbers)?;
        }

        Ok(Checked {
            decoded: self,
            claims,
            ppt,
            x5u,
            warnings,
        })
    }
}

impl Checked {
    /// Returns the URL of the signer's certificate, to fetch before
    /// [`Checked::verify_signature`].
    pub fn x5u(&self) -> &str {
        &self.x5u
    }

    /// Returns the claims, which are not yet verified.
    pub fn claims_unverified(&self) -> &Claims {
        &self.claims
    }

    /// Returns every claim as decoded JSON, not yet verified, for rules that
    /// name arbitrary claims, such as a certificate's JWT claim constraints.
    pub fn payload_unverified(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.decoded.payload
    }

    /// Verifies the ES256 signature over the signing input as received, with the
    /// public key of the first certificate that `x5u` serves (RFC 8225 section 6).
    pub fn verify_signature(self, key: &VerifyingKey) -> Result<Verified, Error> {
        key.verify(
            self.decoded.signing_input().as_bytes(),
            self.decoded.signature(),
        )?;
        Ok(Verified {
            claims: self.claims,
            ppt: self.ppt,
            x5u: self.x5u,
            warnings: self.warnings,
        })
    }
}

/// Checks that `alg` is ES256, the one algorithm SHAKEN allows (RFC 8588 section 3), and an
/// Identity `alg` parameter, which defaults to ES256, agrees with it (RFC 8224
/// section 4.1).
pub fn check_alg(header: &Header, identity: &IdentityHeader) -> Result<(), Error> {
    let alg = header.alg()?.ok_or(Error::MissingMember {
        segment: Segment::Header,
        name: "alg",
    })?;
    if alg != "ES256" {
        return Err(Error::UnsupportedAlg {
            found: alg.to_owned(),
        });
    }
    if let Some(parameter) = &identity.alg
        && parameter.value != alg
    {
        return Err(Error::AlgParameterMismatch {
            parameter: parameter.value.clone(),
            header: alg.to_owned(),
        });
    }
    Ok(())
}

/// Checks that `typ` is "passport" (RFC 8225 section 4.1).
pub fn check_typ(header: &Header) -> Result<(), Error> {
    match header.typ()? {
        Some("passport") => Ok(()),
        Some(other) => Err(Error::InvalidTyp {
            found: other.to_owned(),
        }),
        None => Err(Error::MissingMember {
            segment: Segment::Header,
            name: "typ",
        }),
    }
}

/// Checks that the Identity `ppt` parameter matches the protected header's `ppt`
/// (RFC 8224 section 4, RFC 8225 section 8.1), and returns that `ppt`.
///
/// Deployed signers omit the parameter or quote it. The lenient profile accepts
/// both with a warning, because the signed protected header is what counts. A parameter on a PASSporT without `ppt` is rejected in both profiles.
pub fn check_ppt(
    header: &Header,
    identity: &IdentityHeader,
    profile: Profile,
    warnings: &mut Vec<Warning>,
) -> Result<Option<String>, Error> {
    let header_ppt = header.ppt()?;
    match (header_ppt, &identity.ppt) {
        (None, None) => Ok(None),
        (None, Some(parameter)) => Err(Error::PptWithoutHeaderPpt {
            parameter: parameter.value.clone(),
        }),
        (Some(header_ppt), None) => {
            if profile == Profile::Strict {
                return Err(Error::PptParameterMissing {
                    header: header_ppt.to_owned(),
                });
            }
            warnings.push(Warning::PptParameterMissing {
                header: header_ppt.to_owned(),
            });
            Ok(Some(header_ppt.to_owned()))
        }
        (Some(header_ppt), Some(parameter)) => {
            if parameter.value != header_ppt {
                return Err(Error::PptMismatch {
                    parameter: parameter.value.clone(),
                    header: header_ppt.to_owned(),
                });
            }
            if parameter.quoted {
                if profile == Profile::Strict {
                    return Err(Error::PptQuoted);
                }
                warnings.push(Warning::PptQuoted);
            }
            Ok(Some(header_ppt.to_owned()))
        }
    }
}

/// Checks that the claims an extension requires are present: `attest` and `origid` for
/// SHAKEN (RFC 8588 section 3), `div` for a diversion PASSporT (RFC 8946 section 3).
pub fn check_ppt_claims(ppt: Option<&str>, claims: &Claims) -> Result<(), Error> {
    let missing = |name| {
        Err(Error::MissingMember {
            segment: Segment::Payload,
            name,
        })
    };
    match ppt {
        Some(PPT_SHAKEN) if claims.attest.is_none() => missing("attest"),
        Some(PPT_SHAKEN) if claims.origid.is_none() => missing("origid"),
        Some(PPT_DIV) if claims.div.is_none() => missing("div"),
        _ => Ok(()),
    }
}

/// Checks that `tn` claims are canonical (RFC 8225 section 5.2.1 refers to RFC 8224 section
/// 8.3). Many signers write `+` anyway; the lenient profile compares such numbers
/// in canonical form and warns.
pub fn check_tn_canonical(
    claims: &Claims,
    profile: Profile,
    warnings: &mut Vec<Warning>,
) -> Result<(), Error> {
    for (claim, value) in claims.telephone_numbers() {
        if tn::is_canonical(value) {
            continue;
        }
        if profile == Profile::Strict {
            return Err(Error::NonCanonicalTn {
                claim,
                value: value.to_owned(),
            });
        }
        warnings.push(Warning::NonCanonicalTn {
            claim,
            value: value.to_owned(),
        });
    }
    Ok(())
}

/// Checks that the `info` parameter equals the `x5u` header member, compared as strings
/// (RFC 8224 section 4.1, RFC 3986 section 6.2.1), and returns that URL.
pub fn check_x5u_matches_info(header: &Header, identity: &IdentityHeader) -> Result<String, Error> {
    let x5u = header.x5u()?.ok_or(Error::MissingX5u)?;
    if x5u != identity.info {
        return Err(Error::X5uMismatch {
            x5u: x5u.to_owned(),
            info: identity.info.clone(),
        });
    }
    Ok(x5u.to_owned())
}

/// Checks that `iat` lies within `window` seconds of `now`, in both directions (RFC 8224
/// section 6.2 step 4). A difference of exactly `window` passes, since the RFC
/// rejects only values older than the policy.
pub fn check_iat_fresh(iat: i64, now: i64, window: u32) -> Result<(), Error> {
    let age = i128::from(now) - i128::from(iat);
    let saturate = |value: i128| i64::try_from(value).unwrap_or(i64::MAX);
    if age > i128::from(window) {
        return Err(Error::StaleIat {
            iat,
            now,
            age: saturate(age),
            window,
        });
    }
    if -age > i128::from(window) {
        return Err(Error::FutureIat {
            iat,
            now,
            ahead: saturate(-age),
            window,
        });
    }
    Ok(())
}

/// Checks that `orig` matches the request's calling identity, both in canonical form
/// (RFC 8224 sections 6.2 and 8.3).
pub fn check_orig(orig: &Orig, request: &str, policy: &NumberPolicy) -> Result<(), Error> {
    let mismatch = |passport: &str, reason: String| Error::OrigMismatch {
        passport: passport.to_owned(),
        reason,
    };
    match orig {
        Orig::Tn(claim) => {
            let claimed = tn::apply_policy(claim, policy)
                .map_err(|error| mismatch(claim, format!("the PASSporT number: {error}")))?;
            let requested = tn::from_sip(request, policy)
                .map_err(|error| mismatch(claim, format!("the request: {error}")))?;
            if claimed == requested {
                Ok(())
            } else {
                Err(mismatch(claim, format!("the request has {requested}")))
            }
        }
        Orig::Uri(claim) => {
            if uri_of(request) == claim {
                Ok(())
            } else {
                Err(mismatch(
                    claim,
                    format!("the request has {}", uri_of(request)),
                ))
            }
        }
    }
}

/// Checks that one of the `dest` identities matches the request's called identity (RFC 8224
/// section 6.2; for a diverted call the Request-URI, RFC 8946 section 4.2).
pub fn check_dest(claims: &Claims, request: &str, policy: &NumberPolicy) -> Result<(), Error> {
    let passport: Vec<String> = claims
        .dest
        .tn
        .iter()
        .chain(&claims.dest.uri)
        .cloned()
        .collect();
    let mismatch = |reason: String| Error::DestMismatch {
        passport: passport.clone(),
        reason,
    };

    match tn::from_sip(request, policy) {
        Ok(requested) => {
            let mut reasons = Vec::new();
            for claim in &claims.dest.tn {
                match tn::apply_policy(claim, policy) {
                    Ok(claimed) if claimed == requested => return Ok(()),
                    Ok(_) => {}
                    Err(error) => reasons.push(format!("PASSporT number {claim}: {error}")),
                }
            }
            reasons.push(format!("the request has {requested}"));
            Err(mismatch(reasons.join("; ")))
        }
        Err(error) => {
            let requested = uri_of(request);
            if claims.dest.uri.iter().any(|uri| uri == requested) {
                Ok(())
            } else {
                Err(mismatch(format!("the request: {error}")))
            }
        }
    }
}

fn uri_of(value: &str) -> &str {
    tn::addr_spec(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warning_names_are_listed() {
        let warnings = [
            Warning::PptParameterMissing {
                header: "shaken".to_owned(),
            },
            Warning::PptQuoted,
            Warning::NonCanonicalTn {
                claim: "orig",
                value: "+1-202-555-0100".to_owned(),
            },
        ];
        let names: Vec<&str> = warnings.iter().map(Warning::name).collect();
        assert_eq!(names, Warning::NAMES);
    }

    #[test]
    fn freshness_boundaries() {
        let now = 1_796_396_400;
        for offset in [-60, -59, 0, 59, 60] {
            assert_eq!(check_iat_fresh(now + offset, now, 60), Ok(()), "{offset}");
        }
        assert_eq!(
            check_iat_fresh(now - 61, now, 60),
            Err(Error::StaleIat {
                iat: now - 61,
                now,
                age: 61,
                window: 60
            })
        );
        assert_eq!(
            check_iat_fresh(now + 61, now, 60),
            Err(Error::FutureIat {
                iat: now + 61,
                now,
                ahead: 61,
                window: 60
            })
        );
        assert!(check_iat_fresh(now + 3600, now, 60).is_err());
        assert!(check_iat_fresh(0, now, 60).is_err());
    }

    #[test]
    fn freshness_extremes_do_not_overflow() {
        assert!(matches!(
            check_iat_fresh(i64::MIN, i64::MAX, 60),
            Err(Error::StaleIat { age: i64::MAX, .. })
        ));
        assert!(matches!(
            check_iat_fresh(i64::MAX, i64::MIN, 60),
            Err(Error::FutureIat {
                ahead: i64::MAX,
                ..
            })
        ));
    }

    #[test]
    fn orig_compared_canonically() {
        let policy = NumberPolicy::default();
        let orig = Orig::Tn("12025550100".into());
        for request in [
            "<sip:+12025550100@carrier.example.org;user=phone>",
            "<tel:+1-202-555-0100>",
            "sip:12025550100@carrier.example.org",
        ] {
            assert_eq!(check_orig(&orig, request, &policy), Ok(()), "{request}");
        }
        assert!(matches!(
            check_orig(
                &orig,
                "<sip:+12025550111@pbx.example.com;user=phone>",
                &policy
            ),
            Err(Error::OrigMismatch { .. })
        ));
        assert!(matches!(
            check_orig(&orig, "<sip:alice@carrier.example.org>", &policy),
            Err(Error::OrigMismatch { .. })
        ));
    }
}

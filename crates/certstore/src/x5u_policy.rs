//! The policy for dereferencing x5u URLs, which come from strangers: which URLs
//! a verifier may fetch at all, and which addresses it may connect to.
//!
//! By default a URL must be https on port 443 or 8443, without userinfo, query or
//! fragment, as ATIS-1000080 and ATIS-1000074 require and deployed verifiers
//! enforce. Its host must resolve to a public unicast address. Loopback, private,
//! link-local, multicast, unspecified and other special-purpose ranges are
//! rejected, so that a PASSporT cannot turn the verifier against the inside
//! network (SSRF).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Maximum length of an x5u URL, in bytes. Real repository URLs are under 200.
pub const MAX_URL_LEN: usize = 2048;

/// Rules for the x5u URLs and addresses a verifier may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X5uPolicy {
    /// Ports that may appear in a URL; 443 is the https default.
    pub allowed_ports: Vec<u16>,
    /// Hosts that may be fetched even though nothing else lists them; when not
    /// empty, only these hosts are fetched.
    pub allowed_hosts: Vec<String>,
    /// Hosts never fetched.
    pub denied_hosts: Vec<String>,
    /// Addresses accepted although special-purpose, as (network, prefix length):
    /// tests on loopback need this.
    pub allowed_networks: Vec<(IpAddr, u8)>,
}

impl Default for X5uPolicy {
    fn default() -> Self {
        X5uPolicy {
            allowed_ports: vec![443, 8443],
            allowed_hosts: Vec::new(),
            denied_hosts: Vec::new(),
            allowed_networks: Vec::new(),
        }
    }
}

/// An x5u URL that passed the policy, with its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X5uUrl {
    /// The URL as written in the PASSporT.
    pub url: String,
    /// The host name, in lower case, or the address literal.
    pub host: String,
    /// The port, 443 when the URL names none.
    pub port: u16,
    /// The URL in normal form (scheme and host in lower case, no default port,
    /// IPv4 literals in dotted decimal, no trailing dot): spellings of one URL
    /// share one cache entry and one fetch.
    pub key: String,
}

/// Reason an x5u URL or address is rejected. Verifiers respond 436 Bad Identity
/// Info (RFC 8224 section 6.2.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum X5uPolicyError {
    #[error("x5u '{url}' is {length} bytes; the limit is {max}")]
    TooLong {
        url: String,
        length: usize,
        max: usize,
    },
    #[error("x5u '{url}' is not a URL: {reason}")]
    Malformed { url: String, reason: String },
    #[error("x5u '{url}' uses the scheme '{scheme}'; only https is fetched")]
    Scheme { url: String, scheme: String },
    #[error("x5u '{url}' uses port {port}; the allowed ports are {allowed:?}")]
    Port {
        url: String,
        port: u16,
        allowed: Vec<u16>,
    },
    #[error("x5u '{url}' has {part}, which certificate repository URLs must not have")]
    ForbiddenPart { url: String, part: &'static str },
    #[error("x5u '{url}' names the host '{host}', which the policy does not allow")]
    HostRefused { url: String, host: String },
    #[error("address {address} is {class}; x5u fetches go to public addresses only")]
    AddressRefused {
        address: IpAddr,
        class: AddressClass,
    },
}

/// The kind of an IP address, for the SSRF guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// A public unicast address.
    Public,
    /// 127.0.0.0/8 or ::1.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16 (RFC 1918) or fc00::/7 (RFC 4193).
    Private,
    /// 169.254/16 or fe80::/10, where cloud metadata services live.
    LinkLocal,
    /// 100.64/10, carrier-grade NAT (RFC 6598).
    SharedAddressSpace,
    /// 224/4 or ff00::/8.
    Multicast,
    /// 0.0.0.0/8 or ::.
    Unspecified,
    /// Documentation, benchmarking, broadcast and other reserved ranges.
    Reserved,
}

impl std::fmt::Display for AddressClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AddressClass::Public => "public",
            AddressClass::Loopback => "loopback",
            AddressClass::Private => "private",
            AddressClass::LinkLocal => "link-local",
            AddressClass::SharedAddressSpace => "shared address space (carrier-grade NAT)",
            AddressClass::Multicast => "multicast",
            AddressClass::Unspecified => "unspecified",
            AddressClass::Reserved => "reserved",
        })
    }
}

/// Checks an x5u URL against the policy and returns its parts.
pub fn check_url(url: &str, policy: &X5uPolicy) -> Result<X5uUrl, X5uPolicyError> {
    if url.len() > MAX_URL_LEN {
        return Err(X5uPolicyError::TooLong {
            url: url.chars().take(80).collect(),
            length: url.len(),
            max: MAX_URL_LEN,
        });
    }
    let parsed = url::Url::parse(url).map_err(|error| X5uPolicyError::Malformed {
        url: url.to_owned(),
        reason: error.to_string(),
    })?;
    let reject_part = |part| X5uPolicyError::ForbiddenPart {
        url: url.to_owned(),
        part,
    };

    if parsed.scheme() != "https" {
        return Err(X5uPolicyError::Scheme {
            url: url.to_owned(),
            scheme: parsed.scheme().to_owned(),
        });
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(reject_part("userinfo"));
    }
    if parsed.query().is_some() {
        return Err(reject_part("a query"));
    }
    if parsed.fragment().is_some() {
        return Err(reject_part("a fragment"));
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    if !policy.allowed_ports.contains(&port) {
        return Err(X5uPolicyError::Port {
            url: url.to_owned(),
            port,
            allowed: policy.allowed_ports.clone(),
        });
    }

    let host = match parsed.host() {
        // "name." and "name" are the same DNS name: the trailing dot goes, so
        // that host lists match both.
        Some(url::Host::Domain(domain)) => domain.trim_end_matches('.').to_ascii_lowercase(),
        Some(url::Host::Ipv4(address)) => {
            check_address(IpAddr::V4(address), policy)?;
            address.to_string()
        }
        Some(url::Host::Ipv6(address)) => {
            check_address(IpAddr::V6(address), policy)?;
            address.to_string()
        }
        None => return Err(reject_part("no host")),
    };
    let host_rejected = || X5uPolicyError::HostRefused {
        url: url.to_owned(),
        host: host.clone(),
    };
    if policy
        .denied_hosts
        .iter()
        .any(|denied| host_matches(&host, denied))
    {
        return Err(host_rejected());
    }
    if !policy.allowed_hosts.is_empty()
        && !policy
            .allowed_hosts
            .iter()
            .any(|allowed| host_matches(&host, allowed))
    {
        return Err(host_rejected());
    }
    let mut normal = parsed.clone();
    if parsed.host_str().is_some_and(|h| h.ends_with('.')) {
        // The host was checked above; a failure here leaves the dot in place.
        let _ = normal.set_host(Some(&host));
    }
    Ok(X5uUrl {
        url: url.to_owned(),
        host,
        port,
        key: normal.to_string(),
    })
}

/// Matches a host against a list entry: the same name, or a subdomain of an
/// entry written with a leading dot (`.example.com`).
fn host_matches(host: &str, entry: &str) -> bool {
    let (subdomains, name) = match entry.strip_prefix('.') {
        Some(name) => (true, name),
        None => (false, entry),
    };
    // Entries are compared in the form URLs carry: ASCII (punycode), lower
    // case, without a trailing dot.
    let name = name.trim_end_matches('.');
    let name = match url::Host::parse(name) {
        Ok(url::Host::Domain(ascii)) => ascii,
        Ok(other) => other.to_string(),
        Err(_) => name.to_ascii_lowercase(),
    };
    if subdomains {
        host == name
            || host
                .strip_suffix(name.as_str())
                .is_some_and(|rest| rest.ends_with('.'))
    } else {
        host == name
    }
}

/// Checks an address a host resolved to, before connecting to it. The connection
/// must then go to this address, so DNS cannot change the answer in between.
pub fn check_address(address: IpAddr, policy: &X5uPolicy) -> Result<(), X5uPolicyError> {
    let class = classify(address);
    if class == AddressClass::Public
        || policy
            .allowed_networks
            .iter()
            .any(|&(network, length)| contains(network, length, address))
    {
        return Ok(());
    }
    Err(X5uPolicyError::AddressRefused { address, class })
}

/// Parses a network for [`X5uPolicy::allowed_networks`]: `ADDRESS/LENGTH`, or
/// an address alone for a single host.
pub fn parse_network(text: &str) -> Result<(IpAddr, u8), String> {
    let (address, length) = match text.split_once('/') {
        Some((address, length)) => (address, Some(length)),
        None => (text, None),
    };
    let address: IpAddr = address
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not an address or CIDR network"))?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    let length = match length {
        Some(length) => length
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|&l| l <= max)
            .ok_or_else(|| format!("'{text}': the prefix length must be 0 to {max}"))?,
        None => max,
    };
    Ok((address, length))
}

/// Classifies an address by the IANA special-purpose registries (RFC 6890).
pub fn classify(address: IpAddr) -> AddressClass {
    match address {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(address: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = address.octets();
    match (a, b, c) {
        (0, _, _) => AddressClass::Unspecified,
        (127, _, _) => AddressClass::Loopback,
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => AddressClass::Private,
        (169, 254, _) => AddressClass::LinkLocal,
        (100, 64..=127, _) => AddressClass::SharedAddressSpace,
        (224..=239, _, _) => AddressClass::Multicast,
        // IETF protocol assignments, documentation (TEST-NET-1, -2, -3),
        // benchmarking, 6to4 relay, and 240/4 with the broadcast address.
        (192, 0, 0)
        | (192, 0, 2)
        | (198, 51, 100)
        | (203, 0, 113)
        | (198, 18..=19, _)
        | (192, 88, 99)
        | (240..=255, _, _) => AddressClass::Reserved,
        _ => AddressClass::Public,
    }
}

fn classify_v6(address: Ipv6Addr) -> AddressClass {
    if let Some(v4) = address.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let segments = address.segments();
    let first = segments.first().copied().unwrap_or(0);
    if address.is_unspecified() {
        AddressClass::Unspecified
    } else if address.is_loopback() {
        AddressClass::Loopback
    } else if first & 0xfe00 == 0xfc00 {
        AddressClass::Private
    } else if first & 0xffc0 == 0xfe80 {
        AddressClass::LinkLocal
    } else if first & 0xff00 == 0xff00 {
        AddressClass::Multicast
    } else if (first == 0x2001 && segments.get(1) == Some(&0x0db8))
        || (first == 0x3fff && segments.get(1).is_some_and(|&s| s & 0xf000 == 0))
        || first & 0xe000 != 0x2000
    {
        // Documentation (2001:db8::/32 and 3fff::/20, RFC 9637), and everything
        // outside 2000::/3, the only range allocated for global unicast.
        AddressClass::Reserved
    } else if first == 0x2002 || (first == 0x2001 && segments.get(1).is_some_and(|&s| s < 0x0200)) {
        // 6to4 and Teredo embed IPv4 addresses of any kind, and 2001::/23 contains
        // the IETF protocol assignments: benchmarking (2001:2::/48), ORCHID
        // (2001:10::/28, 2001:20::/28) and others (RFC 6890).
        AddressClass::Reserved
    } else {
        AddressClass::Public
    }
}

fn contains(network: IpAddr, length: u8, address: IpAddr) -> bool {
    match (network, address) {
        (IpAddr::V4(network), IpAddr::V4(address)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(length.min(32)))
                .unwrap_or(0);
            u32::from(network) & mask == u32::from(address) & mask
        }
        (IpAddr::V6(network), IpAddr::V6(address)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(length.min(128)))
                .unwrap_or(0);
            u128::from(network) & mask == u128::from(address) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str) -> Result<X5uUrl, X5uPolicyError> {
        check_url(url, &X5uPolicy::default())
    }

    #[test]
    fn https_default_and_8443_accepted() {
        assert_eq!(
            check("https://cr.example.org/sti/cert.pem").unwrap().port,
            443
        );
        assert_eq!(
            check("https://CR.Example.org:8443/sti/cert.pem")
                .unwrap()
                .host,
            "cr.example.org"
        );
        assert_eq!(check("https://cr.example.org:443/a").unwrap().port, 443);
    }

    #[test]
    fn forbidden_forms_refused() {
        assert!(matches!(
            check("http://cr.example.org/a.pem"),
            Err(X5uPolicyError::Scheme { .. })
        ));
        assert!(matches!(
            check("file:///dev/random"),
            Err(X5uPolicyError::Scheme { .. })
        ));
        assert!(matches!(
            check("https://cr.example.org:8080/a.pem"),
            Err(X5uPolicyError::Port { port: 8080, .. })
        ));
        assert!(matches!(
            check("https://user:pw@cr.example.org/a.pem"),
            Err(X5uPolicyError::ForbiddenPart {
                part: "userinfo",
                ..
            })
        ));
        assert!(matches!(
            check("https://cr.example.org/a.pem?v=2"),
            Err(X5uPolicyError::ForbiddenPart {
                part: "a query",
                ..
            })
        ));
        assert!(matches!(
            check("https://cr.example.org/a.pem#x"),
            Err(X5uPolicyError::ForbiddenPart {
                part: "a fragment",
                ..
            })
        ));
        assert!(matches!(
            check("not a url"),
            Err(X5uPolicyError::Malformed { .. })
        ));
        assert!(matches!(
            check(&format!("https://a.example/{}", "x".repeat(3000))),
            Err(X5uPolicyError::TooLong { .. })
        ));
    }

    #[test]
    fn internal_literals_refused() {
        for (url, class) in [
            ("https://127.0.0.1/cert.pem", AddressClass::Loopback),
            ("https://10.0.0.1/cert.pem", AddressClass::Private),
            (
                "https://169.254.169.254/latest/meta-data",
                AddressClass::LinkLocal,
            ),
            ("https://[::1]/cert.pem", AddressClass::Loopback),
            (
                "https://[::ffff:192.168.1.1]/cert.pem",
                AddressClass::Private,
            ),
            ("https://[fe80::1]/cert.pem", AddressClass::LinkLocal),
            ("https://0.0.0.0/cert.pem", AddressClass::Unspecified),
            ("https://2130706433/cert.pem", AddressClass::Loopback),
        ] {
            match check(url) {
                Err(X5uPolicyError::AddressRefused { class: found, .. }) => {
                    assert_eq!(found, class, "{url}")
                }
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn address_classes() {
        let cases = [
            ("8.8.8.8", AddressClass::Public),
            ("172.15.0.1", AddressClass::Public),
            ("172.16.0.1", AddressClass::Private),
            ("172.31.255.255", AddressClass::Private),
            ("192.168.0.1", AddressClass::Private),
            ("100.64.0.1", AddressClass::SharedAddressSpace),
            ("224.0.0.1", AddressClass::Multicast),
            ("192.0.2.10", AddressClass::Reserved),
            ("198.18.0.1", AddressClass::Reserved),
            ("255.255.255.255", AddressClass::Reserved),
            ("2606:4700::1111", AddressClass::Public),
            ("fd00::1", AddressClass::Private),
            ("ff02::1", AddressClass::Multicast),
            ("2001:db8::1", AddressClass::Reserved),
            ("2002:c0a8:0101::1", AddressClass::Reserved),
            ("3fff::1", AddressClass::Reserved),
            ("3fff:0fff::1", AddressClass::Reserved),
            ("3fff:1000::1", AddressClass::Public),
            ("2001:2::1", AddressClass::Reserved),
            ("2001:10::1", AddressClass::Reserved),
            ("2001:20::1", AddressClass::Reserved),
            ("2001:200::1", AddressClass::Public),
            ("64:ff9b::7f00:1", AddressClass::Reserved),
            ("::", AddressClass::Unspecified),
        ];
        for (text, class) in cases {
            assert_eq!(classify(text.parse().unwrap()), class, "{text}");
        }
    }

    #[test]
    fn allowed_network_opens_loopback_only() {
        let policy = X5uPolicy {
            allowed_networks: vec![("127.0.0.0".parse().unwrap(), 8)],
            ..X5uPolicy::default()
        };
        assert!(check_url("https://127.0.0.1:8443/cert.pem", &policy).is_ok());
        assert!(check_url("https://10.0.0.1/cert.pem", &policy).is_err());
    }

    #[test]
    fn host_lists_apply() {
        let policy = X5uPolicy {
            allowed_hosts: vec![".example.org".into()],
            denied_hosts: vec!["bad.example.org".into()],
            ..X5uPolicy::default()
        };
        assert!(check_url("https://cr.example.org/a", &policy).is_ok());
        assert!(check_url("https://example.org/a", &policy).is_ok());
        assert!(matches!(
            check_url("https://bad.example.org/a", &policy),
            Err(X5uPolicyError::HostRefused { .. })
        ));
        assert!(matches!(
            check_url("https://cr.example.com/a", &policy),
            Err(X5uPolicyError::HostRefused { .. })
        ));
        assert!(matches!(
            check_url("https://evilexample.org/a", &policy),
            Err(X5uPolicyError::HostRefused { .. })
        ));
    }

    #[test]
    fn host_lists_ignore_trailing_dot_and_case() {
        let policy = X5uPolicy {
            denied_hosts: vec!["localhost".into(), "bäd.example.".into()],
            ..X5uPolicy::default()
        };
        for url in [
            "https://localhost./a",
            "https://LOCALHOST./a",
            "https://bäd.example/a",
            "https://xn--bd-via.example./a",
        ] {
            assert!(
                matches!(
                    check_url(url, &policy),
                    Err(X5uPolicyError::HostRefused { .. })
                ),
                "{url}"
            );
        }
    }
}

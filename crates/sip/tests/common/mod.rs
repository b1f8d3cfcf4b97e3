//! Helpers of the front-end tests: requests as a client writes them, readers
//! of responses, and signing and verifying services over a loopback
//! repository.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use certstore::fetch::tls_config;
use certstore::resolve::StaticResolver;
use certstore::{
    CacheConfig, CredentialConfig, CredentialSet, CredentialStore, SharedTrust, X5uCache,
};
use passport::Options;
use passport::tn::NumberPolicy;
use service::{AuthService, CertificateSource, VerifyPolicy};
use sip::redirect::{ListenerPolicy, RedirectServer, Role, Services};

use crate::support::{Pki, Repository, TempDir, now};

pub const SOURCE: &str = "127.0.0.1:5070";

pub fn source() -> SocketAddr {
    SOURCE.parse().unwrap()
}

pub fn request(method: &str, branch: &str, extra: &str) -> Vec<u8> {
    format!(
        "{method} sip:+12025550101@127.0.0.1:5060;user=phone SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5070;branch={branch};rport\r\n\
         From: <sip:+12025550100@192.0.2.10;user=phone>;tag=abc\r\n\
         To: <sip:+12025550101@127.0.0.1;user=phone>\r\n\
         Call-ID: call-{branch}@192.0.2.10\r\n\
         CSeq: 1 {method}\r\n\
         Max-Forwards: 70\r\n\
         {extra}Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

pub fn status(response: &str) -> &str {
    response.lines().next().unwrap()
}

pub fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    response.lines().find_map(|line| {
        line.split_once(':')
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    })
}

pub fn server(role: Role, services: Services) -> RedirectServer {
    RedirectServer::new(ListenerPolicy::new("test", role), services)
}

pub fn no_services() -> Services {
    Services {
        auth: None,
        certificates: None,
        verify: VerifyPolicy {
            options: Options::at(0),
            require_identity: false,
        },
    }
}

pub struct Signing {
    pub _dir: TempDir,
    pub pki: Pki,
    pub auth: AuthService,
    pub x5u: String,
}

pub fn signing(name: &str, x5u: &str) -> Signing {
    // One directory per test: the tests of this file run in parallel.
    let dir = TempDir::new(&format!("redirect-sign-{name}"));
    let pki = Pki::build("1234", vec![]);
    for name in ["subscriber.key.pem", "chain.pem"] {
        std::fs::write(dir.0.join(name), pki.pem(name)).unwrap();
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(
            dir.0.join("subscriber.key.pem"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    let config = CredentialConfig {
        name: "test".into(),
        key: dir.0.join("subscriber.key.pem"),
        chain: dir.0.join("chain.pem"),
        x5u: x5u.to_owned(),
        attest_max: "A".into(),
        attest_default: "A".into(),
        numbers: vec![],
        prefixes: vec![],
        ranges: vec![],
        trunks: vec![],
        default: true,
    };
    let set = CredentialSet::load(&[config], now()).unwrap();
    let auth = AuthService::new(Arc::new(CredentialStore::new(set)), NumberPolicy::default());
    Signing {
        _dir: dir,
        pki,
        auth,
        x5u: x5u.to_owned(),
    }
}

/// Returns verifying services whose certificates come from `repository`,
/// reached as `cr.test`, and whose trust anchor is the root of `signing`.
pub fn verifying(signing: &Signing, repository: &Repository) -> Services {
    let mut config = CacheConfig::default();
    config.policy.allowed_ports.push(repository.address.port());
    config
        .policy
        .allowed_networks
        .push(("127.0.0.1".parse().unwrap(), 32));
    let mut resolver = StaticResolver::new(false);
    resolver.insert("cr.test", vec!["127.0.0.1".parse().unwrap()]);
    let cache = X5uCache::builder(config)
        .tls(tls_config(Some(&repository.tls_ca_file)).unwrap())
        .resolver(Arc::new(resolver))
        .trust(Arc::new(SharedTrust::new(signing.pki.trust(&["root.pem"]))))
        .build()
        .unwrap();
    Services {
        auth: Some(signing.auth.clone()),
        certificates: Some(Arc::new(cache) as Arc<dyn CertificateSource>),
        verify: VerifyPolicy {
            options: Options::at(0),
            require_identity: false,
        },
    }
}

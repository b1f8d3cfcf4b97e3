//! Signing credentials built with the test PKI builder: every load check, every
//! way of selecting a credential, SQLite declarations and reload under load.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cert::pki::{Defect, PkiOptions};
use certstore::{
    CredentialConfig, CredentialError, CredentialSet, CredentialStore, Selector, SetError,
};
use passport::{Attestation, Claims, Dest, Orig};

/// 2026-12-04T15:00:00Z.
const NOW: i64 = 1_796_396_400;

/// A directory removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("stird-certstore-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes a test PKI for `spc` into `dir/name` and returns that directory.
fn pki(dir: &Path, name: &str, spc: &str, defects: Vec<Defect>) -> PathBuf {
    let path = dir.join(name);
    let options = PkiOptions {
        spc: spc.into(),
        tn_ranges: vec![],
        tns: vec![],
        now: NOW,
        defects,
    };
    cert::pki::write(&path, &cert::pki::build(&options).unwrap()).unwrap();
    path
}

fn config(name: &str, pki: &Path) -> CredentialConfig {
    CredentialConfig {
        name: name.into(),
        key: pki.join("subscriber.key.pem"),
        chain: pki.join("chain.pem"),
        x5u: format!("https://cr.example.com/{name}.pem"),
        attest_max: "A".into(),
        attest_default: "B".into(),
        numbers: vec![],
        prefixes: vec![],
        ranges: vec![],
        trunks: vec![],
        default: false,
    }
}

#[test]
fn selection_order_and_reasons() {
    let dir = TempDir::new("select");
    let a = pki(&dir.0, "a", "111A", vec![]);
    let b = pki(&dir.0, "b", "222B", vec![]);
    let configs = vec![
        CredentialConfig {
            numbers: vec!["+1 202 555 0100".into()],
            ranges: vec!["12025560000:100".into()],
            ..config("numbers", &a)
        },
        CredentialConfig {
            prefixes: vec!["1202".into(), "120255".into()],
            trunks: vec!["trunk-7".into()],
            ..config("prefixes", &b)
        },
        CredentialConfig {
            default: true,
            ..config("fallback", &a)
        },
    ];
    let set = CredentialSet::load(&configs, NOW).unwrap();

    let pick = |number: &str, trunk: Option<&str>| {
        let selection = set.select(number, trunk).unwrap();
        (selection.credential.name.clone(), selection.reason)
    };
    assert_eq!(
        pick("12025550100", None),
        ("numbers".into(), Selector::Number("12025550100".into()))
    );
    assert_eq!(
        pick("12025560099", None),
        (
            "numbers".into(),
            Selector::Range {
                start: "12025560000".into(),
                count: 100
            }
        )
    );
    assert_eq!(
        pick("12029990100", None),
        ("prefixes".into(), Selector::Prefix("1202".into()))
    );
    assert_eq!(
        pick("12025560100", None),
        ("prefixes".into(), Selector::Prefix("120255".into()))
    );
    assert_eq!(
        pick("12025550199", None),
        ("prefixes".into(), Selector::Prefix("120255".into()))
    );
    assert_eq!(
        pick("13035550100", Some("trunk-7")),
        ("prefixes".into(), Selector::Trunk("trunk-7".into()))
    );
    assert_eq!(
        pick("13035550100", Some("other")),
        ("fallback".into(), Selector::Default)
    );
}

#[test]
fn attestation_capped_by_policy() {
    let dir = TempDir::new("attest");
    let a = pki(&dir.0, "a", "111A", vec![]);
    let configs = vec![CredentialConfig {
        attest_max: "B".into(),
        attest_default: "C".into(),
        default: true,
        ..config("capped", &a)
    }];
    let set = CredentialSet::load(&configs, NOW).unwrap();
    let credential = &set.credentials()[0];
    assert_eq!(credential.attestation_for(None), Attestation::C);
    assert_eq!(
        credential.attestation_for(Some(Attestation::A)),
        Attestation::B
    );
    assert_eq!(
        credential.attestation_for(Some(Attestation::C)),
        Attestation::C
    );
}

#[test]
fn unconfigured_attestation_is_b() {
    let dir = TempDir::new("default-attest");
    let a = pki(&dir.0, "a", "111A", vec![]);
    let toml = format!(
        "[[credential]]\nname = \"plain\"\nkey = \"{}\"\nchain = \"{}\"\nx5u = \"https://cr.example.com/a.pem\"\ndefault = true\n",
        a.join("subscriber.key.pem").display(),
        a.join("chain.pem").display()
    );
    let file = dir.0.join("stird.toml");
    std::fs::write(&file, toml).unwrap();
    let configs = certstore::read_config_file(&file).unwrap();
    let set = CredentialSet::load(&configs, NOW).unwrap();
    assert_eq!(set.credentials()[0].attestation_for(None), Attestation::B);
    assert_eq!(
        set.credentials()[0].attestation_for(Some(Attestation::A)),
        Attestation::B
    );
}

#[test]
fn key_must_match_certificate() {
    let dir = TempDir::new("mismatch");
    let a = pki(&dir.0, "a", "111A", vec![]);
    let b = pki(&dir.0, "b", "222B", vec![]);
    let configs = vec![CredentialConfig {
        key: b.join("subscriber.key.pem"),
        default: true,
        ..config("mixed", &a)
    }];
    let error = CredentialSet::load(&configs, NOW).unwrap_err();
    assert!(
        matches!(
            error,
            SetError::Credential(CredentialError::KeyMismatch { .. })
        ),
        "{error}"
    );
    assert!(error.to_string().contains("credential 'mixed'"), "{error}");
}

#[test]
fn expired_certificate_refused() {
    let dir = TempDir::new("expired");
    let a = pki(&dir.0, "a", "111A", vec![Defect::Expired]);
    let error = CredentialSet::load(
        &[CredentialConfig {
            default: true,
            ..config("old", &a)
        }],
        NOW,
    )
    .unwrap_err();
    assert!(
        matches!(
            error,
            SetError::Credential(CredentialError::NotValidNow { .. })
        ),
        "{error}"
    );
}

#[test]
fn certificate_without_tnauthlist_refused() {
    let dir = TempDir::new("notn");
    let a = pki(&dir.0, "a", "111A", vec![Defect::NoTnAuthList]);
    let error = CredentialSet::load(
        &[CredentialConfig {
            default: true,
            ..config("bare", &a)
        }],
        NOW,
    )
    .unwrap_err();
    assert!(
        matches!(
            error,
            SetError::Credential(CredentialError::NoTnAuthList { .. })
        ),
        "{error}"
    );
}

#[test]
fn numbers_outside_tnauthlist_refused() {
    // The delegate certificate of testdata covers 12025550150 only, with no SPC.
    let dir = TempDir::new("coverage");
    let source = PathBuf::from(format!(
        "{}/../../testdata/pki/delegate",
        env!("CARGO_MANIFEST_DIR")
    ));
    let key = dir.0.join("inside.key.pem");
    std::fs::copy(source.join("inside.key.pem"), &key).unwrap();
    set_mode(&key, 0o600);
    let base = CredentialConfig {
        key,
        chain: source.join("inside-chain.pem"),
        ..config("delegate", &dir.0)
    };
    // The delegate fixtures are valid from when they were made; 2027-06-01 is inside.
    let at = 1_811_808_000;

    let covered = CredentialConfig {
        numbers: vec!["12025550150".into()],
        ..base.clone()
    };
    assert!(CredentialSet::load(&[covered], at).is_ok());

    let outside = CredentialConfig {
        numbers: vec!["12025550151".into()],
        ..base
    };
    let error = CredentialSet::load(&[outside], at).unwrap_err();
    assert!(
        matches!(
            error,
            SetError::Credential(CredentialError::NotCovered { .. })
        ),
        "{error}"
    );
}

#[test]
fn spc_only_certificate_warns_for_numbers() {
    let dir = TempDir::new("spc");
    let a = pki(&dir.0, "a", "111A", vec![]);
    let set = CredentialSet::load(
        &[CredentialConfig {
            numbers: vec!["12025550100".into()],
            ..config("spc", &a)
        }],
        NOW,
    )
    .unwrap();
    let warnings = &set.credentials()[0].warnings;
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("covered only by the SPC 111A")),
        "{warnings:?}"
    );
}

#[test]
fn readable_key_file_refused() {
    let dir = TempDir::new("mode");
    let a = pki(&dir.0, "a", "111A", vec![]);
    set_mode(&a.join("subscriber.key.pem"), 0o644);
    let error = CredentialSet::load(
        &[CredentialConfig {
            default: true,
            ..config("open", &a)
        }],
        NOW,
    )
    .unwrap_err();
    assert!(
        matches!(
            error,
            SetError::Credential(CredentialError::KeyPermissions { mode: 0o644, .. })
        ),
        "{error}"
    );
}

#[test]
fn conflicting_selectors_refused() {
    let dir = TempDir::new("conflict");
    let a = pki(&dir.0, "a", "111A", vec![]);
    let configs = vec![
        CredentialConfig {
            numbers: vec!["12025550100".into()],
            ..config("one", &a)
        },
        CredentialConfig {
            numbers: vec!["12025550100".into()],
            ..config("two", &a)
        },
    ];
    assert!(matches!(
        CredentialSet::load(&configs, NOW),
        Err(SetError::Conflict { .. })
    ));

    let overlapping = vec![
        CredentialConfig {
            ranges: vec!["12025550100:100".into()],
            ..config("one", &a)
        },
        CredentialConfig {
            ranges: vec!["12025550150:10".into()],
            ..config("two", &a)
        },
    ];
    assert!(matches!(
        CredentialSet::load(&overlapping, NOW),
        Err(SetError::Conflict { .. })
    ));
}

#[test]
fn sqlite_declarations_load() {
    let dir = TempDir::new("sqlite");
    let a = pki(&dir.0, "a", "111A", vec![]);
    let database = dir.0.join("credentials.db");
    certstore::init_database(&database).unwrap();
    // A second init keeps the rows and the schema.
    certstore::init_database(&database).unwrap();

    let connection = rusqlite::Connection::open(&database).unwrap();
    connection
        .execute(
            "INSERT INTO credential (name, key_path, chain_path, x5u, attest_max) VALUES (?1, ?2, ?3, ?4, 'A')",
            (
                "db",
                a.join("subscriber.key.pem").to_str().unwrap(),
                a.join("chain.pem").to_str().unwrap(),
                "https://cr.example.com/db.pem",
            ),
        )
        .unwrap();
    connection
        .execute("INSERT INTO credential_selector (credential, kind, value, count) VALUES ('db', 'range', '12025550000', 1000)", [])
        .unwrap();
    connection
        .execute("INSERT INTO credential_selector (credential, kind, value) VALUES ('db', 'trunk', 'sbc-1')", [])
        .unwrap();
    let bad = connection.execute(
        "INSERT INTO credential_selector (credential, kind, value) VALUES ('db', 'range', '1')",
        [],
    );
    assert!(
        bad.is_err(),
        "a range without a count is refused by the schema"
    );
    drop(connection);

    let configs = certstore::read_database(&database).unwrap();
    assert_eq!(configs.len(), 1);
    assert_eq!(configs[0].ranges, vec!["12025550000:1000".to_owned()]);
    let set = CredentialSet::load(&configs, NOW).unwrap();
    assert_eq!(
        set.select("12025550999", None).unwrap().credential.name,
        "db"
    );
    assert_eq!(
        set.select("19995550999", Some("sbc-1")).unwrap().reason,
        Selector::Trunk("sbc-1".into())
    );
    assert!(set.select("19995550999", None).is_none());
}

#[test]
fn failed_reload_keeps_old_set() {
    let dir = TempDir::new("reload-fail");
    let a = pki(&dir.0, "a", "111A", vec![]);
    let good = vec![CredentialConfig {
        default: true,
        ..config("good", &a)
    }];
    let store = CredentialStore::new(CredentialSet::load(&good, NOW).unwrap());
    let broken = vec![CredentialConfig {
        default: true,
        key: dir.0.join("missing.pem"),
        ..config("broken", &a)
    }];
    assert!(store.reload(&broken, NOW).is_err());
    assert_eq!(store.current().credentials()[0].name, "good");
}

/// Signs from several threads while the set is reloaded back and forth between
/// two credentials. Each signature must verify with the key of the certificate
/// of the credential that made it: no half-loaded set is ever seen.
#[test]
fn reload_under_concurrent_signing() {
    let dir = TempDir::new("reload");
    let a = pki(&dir.0, "a", "111A", vec![]);
    let b = pki(&dir.0, "b", "222B", vec![]);
    let first = vec![CredentialConfig {
        default: true,
        ..config("first", &a)
    }];
    let second = vec![CredentialConfig {
        default: true,
        ..config("second", &b)
    }];
    let store = Arc::new(CredentialStore::new(
        CredentialSet::load(&first, NOW).unwrap(),
    ));

    let signers: Vec<_> = (0..2)
        .map(|_| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for index in 0..300 {
                    let set = store.current();
                    let selection = set.select("12025550100", None).unwrap();
                    let credential = &selection.credential;
                    let claims = Claims::shaken(
                        credential.attestation_for(None),
                        Orig::Tn("12025550100".into()),
                        Dest {
                            tn: vec!["12025550101".into()],
                            uri: vec![],
                        },
                        NOW + index,
                        format!("00000000-0000-4000-8000-{index:012}"),
                    );
                    let jws =
                        passport::sign(&credential.key, &credential.x5u, Some("shaken"), &claims)
                            .unwrap();
                    let (input, signature) = jws.rsplit_once('.').unwrap();
                    let point = credential.chain[0].p256_public_key().unwrap();
                    let verifying = passport::VerifyingKey::from_sec1(point).unwrap();
                    verifying
                        .verify(
                            input.as_bytes(),
                            &passport::base64url::decode(signature).unwrap(),
                        )
                        .unwrap();
                }
            })
        })
        .collect();

    for round in 0..40 {
        let configs = if round % 2 == 0 { &second } else { &first };
        store.reload(configs, NOW).unwrap();
    }
    for signer in signers {
        signer.join().unwrap();
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn x5u_map_reads_files_and_directories() {
    let dir = TempDir::new("x5u-map");
    let a = pki(&dir.0, "a", "111A", vec![]);
    let partner = dir.0.join("partner");
    std::fs::create_dir_all(&partner).unwrap();
    std::fs::copy(a.join("chain.pem"), partner.join("111A.pem")).unwrap();
    let config = dir.0.join("stird.toml");
    std::fs::write(
        &config,
        "[x5u.files]\n\"https://cr.example.com/sti/a.pem\" = \"a/chain.pem\"\n\"https://cr.partner.example/sti/\" = \"partner/\"\n",
    )
    .unwrap();
    let map = certstore::X5uMap::from_config_file(&config).unwrap();
    assert_eq!(map.len(), 2);
    assert_eq!(
        map.chain("https://cr.example.com/sti/a.pem").unwrap().len(),
        2
    );
    assert!(
        map.chain("https://cr.partner.example/sti/111A.pem")
            .unwrap()[0]
            .subject
            .contains("SHAKEN 111A")
    );
    assert!(
        map.chain("https://cr.partner.example/sti/other.pem")
            .is_none()
    );
    assert!(map.chain("https://cr.example.com/sti/a.pem?x=1").is_none());

    let http = certstore::X5uMap::from_entries(&[(
        "http://cr.example.com/a.pem".into(),
        a.join("chain.pem"),
    )]);
    assert!(matches!(http, Err(certstore::X5uMapError::Entry { .. })));
    let key = certstore::X5uMap::from_entries(&[(
        "https://cr.example.com/k.pem".into(),
        a.join("subscriber.key.pem"),
    )]);
    assert!(
        matches!(key, Err(certstore::X5uMapError::Entry { .. })),
        "a private key is not a chain"
    );
}

#[test]
fn example_configuration_parses() {
    let path = PathBuf::from(format!(
        "{}/../../stird.example.toml",
        env!("CARGO_MANIFEST_DIR")
    ));
    let configs = certstore::read_config_file(&path).unwrap();
    assert_eq!(configs.len(), 1);
    assert_eq!(configs[0].name, "carrier-a");
    assert_eq!(configs[0].ranges, vec!["12025560000:1000".to_owned()]);
    assert!(configs[0].default);
    assert!(configs[0].key.ends_with("pki/subscriber.key.pem"));
}

/// The x5u URLs seen in real calls: every one is classified without panic, and
/// the counts per outcome stay as recorded, so a change in the policy shows.
#[test]
fn real_x5u_urls_classified() {
    use certstore::x5u_policy::{X5uPolicy, X5uPolicyError, check_url};
    let text = std::fs::read_to_string(format!(
        "{}/../../testdata/corpus/x5u-urls.txt",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for url in text.lines().filter(|line| !line.trim().is_empty()) {
        let outcome = match check_url(url.trim(), &X5uPolicy::default()) {
            Ok(_) => "accepted",
            Err(X5uPolicyError::TooLong { .. }) => "too long",
            Err(X5uPolicyError::Malformed { .. }) => "malformed",
            Err(X5uPolicyError::Scheme { .. }) => "scheme",
            Err(X5uPolicyError::Port { .. }) => "port",
            Err(X5uPolicyError::ForbiddenPart { .. }) => "forbidden part",
            Err(X5uPolicyError::HostRefused { .. }) => "host",
            Err(X5uPolicyError::AddressRefused { .. }) => "address",
        };
        *counts.entry(outcome).or_default() += 1;
    }
    assert_eq!(counts.values().sum::<usize>(), 8920);
    assert_eq!(counts.get("accepted"), Some(&8900), "{counts:?}");
    assert_eq!(counts.get("scheme"), Some(&14), "{counts:?}");
    assert_eq!(counts.get("port"), Some(&6), "{counts:?}");
    assert_eq!(counts.len(), 3, "{counts:?}");
}

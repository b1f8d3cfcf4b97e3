//! `stird x5u` and `stird verify` fetching x5u from a real HTTPS certificate
//! repository on loopback, under the same policy the service applies.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "../../certstore/tests/support/mod.rs"]
mod support;

use std::process::{Command, Output};

use support::{Pki, Repository, Route, TempDir, now};

struct Setup {
    dir: TempDir,
    repository: Repository,
    pki: Pki,
}

impl Setup {
    async fn start(name: &str) -> Setup {
        let dir = TempDir::new(&format!("cli-{name}"));
        let repository = Repository::start(&dir.0).await;
        let pki = Pki::build("1234", vec![]);
        for file in ["root.pem", "subscriber.key.pem"] {
            std::fs::write(dir.0.join(file), pki.pem(file)).unwrap();
        }
        repository.route(
            "/chain.pem",
            Route::ok(
                pki.pem("chain.pem"),
                &[("Content-Type", "application/pem-certificate-chain")],
            ),
        );
        repository.route("/gone.pem", Route::status(404, &[]));
        Setup {
            dir,
            repository,
            pki,
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.0.join(name).to_str().unwrap().to_owned()
    }

    fn url(&self, path: &str) -> String {
        self.repository.url("cr.test", path)
    }

    /// Returns the flags that let a fetch reach the loopback repository: its TLS CA,
    /// its name, its port and the loopback range.
    fn loopback_flags(&self) -> Vec<String> {
        vec![
            "--tls-ca-file".into(),
            self.repository.tls_ca_file.to_str().unwrap().into(),
            "--resolve".into(),
            "cr.test:127.0.0.1".into(),
            "--allow-port".into(),
            self.repository.address.port().to_string(),
            "--allow-address".into(),
            "127.0.0.0/8".into(),
        ]
    }
}

/// Runs stird off the runtime's threads, so the repository keeps serving.
async fn stird(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_stird"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x5u_command_shows_each_step() {
    let setup = Setup::start("steps").await;
    let mut args = vec![
        "x5u".to_owned(),
        setup.url("/chain.pem"),
        "--ca-file".into(),
        setup.path("root.pem"),
    ];
    args.extend(setup.loopback_flags());
    let output = stird(args).await;
    let text = text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let port = setup.repository.address.port();
    for expected in [
        format!("address: 127.0.0.1:{port}"),
        "http status: 200".to_owned(),
        "content type: application/pem-certificate-chain".to_owned(),
        "cache lifetime: 86400 s (24 h) (no caching headers, raised to the floor of 86400 s (24 h))"
            .to_owned(),
        "certificate 2:".to_owned(),
        "path: validated: CN=SHAKEN 1234, C=US".to_owned(),
        "revocation: not checked (no CRL given)".to_owned(),
        "signer TNAuthList: [{\"spc\":\"1234\"}]".to_owned(),
        "result: usable".to_owned(),
    ] {
        assert!(text.contains(&expected), "missing '{expected}' in:\n{text}");
    }
    assert_eq!(setup.repository.hits("/chain.pem"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x5u_command_names_the_refusing_rule() {
    let setup = Setup::start("refusals").await;
    // Without --allow-address the default policy refuses loopback.
    let refused = stird(vec![
        "x5u".into(),
        setup.url("/chain.pem"),
        "--resolve".into(),
        "cr.test:127.0.0.1".into(),
        "--allow-port".into(),
        setup.repository.address.port().to_string(),
    ])
    .await;
    let output = text(&refused);
    assert_eq!(refused.status.code(), Some(1), "{output}");
    assert!(output.contains("rule: address-class"), "{output}");
    assert!(
        output.contains("sip response: 436 Bad Identity Info"),
        "{output}"
    );

    let cases = [
        ("http://cr.test/chain.pem".to_owned(), "rule: https-only"),
        ("https://cr.test:8080/chain.pem".to_owned(), "rule: port"),
        (
            format!("{}?v=2", setup.url("/chain.pem")),
            "rule: url-parts",
        ),
        (setup.url("/gone.pem"), "rule: http-status"),
    ];
    for (url, rule) in cases {
        let mut args = vec!["x5u".to_owned(), url.clone()];
        args.extend(setup.loopback_flags());
        let output = stird(args).await;
        let text = text(&output);
        assert_eq!(output.status.code(), Some(1), "{url}: {text}");
        assert!(text.contains(rule), "{url}: {text}");
    }

    // A chain under an unknown root: obtained, but not trusted (437).
    let other = Pki::build("5678", vec![]);
    std::fs::write(setup.dir.0.join("other-root.pem"), other.pem("root.pem")).unwrap();
    let mut args = vec![
        "x5u".to_owned(),
        setup.url("/chain.pem"),
        "--ca-file".into(),
        setup.path("other-root.pem"),
    ];
    args.extend(setup.loopback_flags());
    let output = stird(args).await;
    let text = text(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("rule: certificate"), "{text}");
    assert!(
        text.contains("sip response: 437 Unsupported Credential"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_fetches_and_validates_x5u() {
    let setup = Setup::start("verify").await;
    let iat = now().to_string();
    let signed = stird(vec![
        "sign".into(),
        "--key".into(),
        setup.path("subscriber.key.pem"),
        "--x5u".into(),
        setup.url("/chain.pem"),
        "--attest".into(),
        "A".into(),
        "--orig".into(),
        "12025550100".into(),
        "--dest".into(),
        "12025550101".into(),
        "--iat".into(),
        iat.clone(),
    ])
    .await;
    assert_eq!(signed.status.code(), Some(0), "{}", text(&signed));
    let identity = String::from_utf8_lossy(&signed.stdout).trim().to_owned();

    let mut args = vec![
        "verify".to_owned(),
        "--identity".into(),
        identity.clone(),
        "--orig".into(),
        "12025550100".into(),
        "--dest".into(),
        "12025550101".into(),
        "--ca-file".into(),
        setup.path("root.pem"),
        "--at".into(),
        iat.clone(),
    ];
    args.extend(setup.loopback_flags());
    let output = stird(args).await;
    let out = text(&output);
    assert_eq!(output.status.code(), Some(0), "{out}");
    assert!(out.contains("verstat: TN-Validation-Passed"), "{out}");
    assert!(out.contains("attest: A"), "{out}");
    assert!(
        out.contains("(path checked against the given trust anchors)"),
        "{out}"
    );

    // The same call with the repository responding 404 gets 436.
    setup
        .repository
        .route("/chain.pem", Route::status(404, &[]));
    let mut args = vec![
        "verify".to_owned(),
        "--identity".into(),
        identity,
        "--ca-file".into(),
        setup.path("root.pem"),
        "--at".into(),
        iat,
    ];
    args.extend(setup.loopback_flags());
    let output = stird(args).await;
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains("sip response: 436 Bad Identity Info"), "{out}");
    assert!(out.contains("the server answered HTTP 404"), "{out}");
    let _ = &setup.pki;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_check_compares_published_chains() {
    use std::os::unix::fs::PermissionsExt as _;

    let setup = Setup::start("published").await;
    let other = Pki::build("5678", vec![]);
    setup
        .repository
        .route("/other.pem", Route::ok(other.pem("chain.pem"), &[]));
    let key = setup.dir.0.join("subscriber.key.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(setup.dir.0.join("chain.pem"), setup.pki.pem("chain.pem")).unwrap();
    let config = format!(
        "[[credential]]\nname = \"right\"\nkey = \"subscriber.key.pem\"\nchain = \"chain.pem\"\nx5u = \"{}\"\ndefault = true\n\n\
         [[credential]]\nname = \"wrong\"\nkey = \"subscriber.key.pem\"\nchain = \"chain.pem\"\nx5u = \"{}\"\ntrunks = [\"t1\"]\n",
        setup.url("/chain.pem"),
        setup.url("/other.pem"),
    );
    std::fs::write(setup.dir.0.join("stird.toml"), config).unwrap();

    let mut args = vec![
        "credentials".to_owned(),
        "check".into(),
        "--config".into(),
        setup.path("stird.toml"),
    ];
    args.extend(setup.loopback_flags());
    let output = stird(args).await;
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "right: {} serves the configured chain",
            setup.url("/chain.pem")
        )),
        "{out}"
    );
    assert!(
        out.contains("wrong: ") && out.contains("serves another certificate ('CN=SHAKEN 5678"),
        "{out}"
    );
}

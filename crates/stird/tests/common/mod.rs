//! Helpers shared by the end-to-end tests: start `stird serve` as an operator
//! does and read its readiness line, drive sipp, sign with `stird sign`.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `stird serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub sip_udp: SocketAddr,
    pub sip_tcp: SocketAddr,
    pub http: SocketAddr,
    pub repository: Option<String>,
    pub sip_tls: Option<SocketAddr>,
    pub dir: PathBuf,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Server {
    /// Stops the server and returns what it wrote to standard error.
    pub fn stop(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .take()
            .map(|reader| reader.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stird-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Returns a command running stird: the binary this test run built, or the
/// one `STIRD_TEST_BIN` names, such as a release build for a measurement.
pub fn stird() -> Command {
    match std::env::var_os("STIRD_TEST_BIN") {
        Some(binary) => Command::new(binary),
        None => Command::new(env!("CARGO_BIN_EXE_stird")),
    }
}

/// Starts `stird serve` with `args` and waits, at most 60 seconds, for its
/// readiness line.
pub fn start(dir: &Path, args: &[&str]) -> Server {
    start_env(dir, args, &[])
}

/// Starts `stird serve` like [`start`], with the environment variables of
/// `env` set as well.
pub fn start_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
    let mut child = stird()
        .arg("serve")
        .args(args)
        .env("STIRD_DATA_DIR", dir.join("data"))
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut text);
        text
    });
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let line = receiver
        .recv_timeout(Duration::from_secs(60))
        .expect("no readiness line within 60 s");
    assert!(line.starts_with("stird ready: "), "{line}");
    let find = |prefix: &str| -> Option<String> {
        line.trim_start_matches("stird ready: ")
            .split(", ")
            .find_map(|part| part.strip_prefix(prefix).map(str::to_owned))
    };
    Server {
        child,
        sip_udp: find("sip udp ").unwrap().parse().unwrap(),
        sip_tcp: find("sip tcp ").unwrap().parse().unwrap(),
        http: find("http ").unwrap().parse().unwrap(),
        repository: find("repository "),
        sip_tls: find("sip tls ").map(|a| a.parse().unwrap()),
        dir: dir.to_owned(),
        stderr: Some(stderr),
    }
}

/// The arguments of a demo on free loopback ports.
pub const DEMO_ARGS: [&str; 6] = [
    "--sip",
    "127.0.0.1:0",
    "--http",
    "127.0.0.1:0",
    "--repository",
    "127.0.0.1:0",
];

pub fn demo(name: &str) -> Server {
    let dir = temp_dir(name);
    start(&dir, &DEMO_ARGS)
}

pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/sipp")
        .join(name)
}

/// Runs sipp against `target` for `calls` calls of `scenario`, bounded by
/// `-timeout`, and returns its output.
pub fn sipp(scenario: &Path, target: SocketAddr, transport: &str, extra: &[&str]) -> Output {
    let target = target.to_string();
    let mut command = Command::new("sipp");
    command
        .arg("-sf")
        .arg(scenario)
        .args(["-i", "127.0.0.1", "-t", transport, "-nostdin"])
        .args([
            "-timeout",
            "60s",
            "-timeout_error",
            "-max_recv_loops",
            "1000",
        ])
        .args(extra)
        .arg(&target)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
        .output()
        .expect("sipp must be installed (Debian package sip-tester)")
}

pub fn sipp_text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Writes a scenario that sends one INVITE carrying `[identity]` (given with
/// `-key identity VALUE`) from `from` to `to` and expects `expected`.
pub fn verify_scenario(
    dir: &Path,
    name: &str,
    from: &str,
    to: &str,
    expected: u16,
    padding: usize,
) -> PathBuf {
    let identity_line = if name.contains("no-identity") {
        String::new()
    } else {
        "      Identity: [identity]\n".to_owned()
    };
    let padding_line = if padding > 0 {
        format!("      X-Padding: {}\n", "p".repeat(padding))
    } else {
        String::new()
    };
    let ack = if expected >= 200 {
        format!(
            r#"  <send ack_txn="call">
    <![CDATA[

      ACK sip:{to}@[remote_ip]:[remote_port];user=phone SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{from}@[local_ip];user=phone>;tag=[pid]T[call_number]
      To: <sip:{to}@[remote_ip];user=phone>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"#
        )
    } else {
        String::new()
    };
    let text = format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="{name}">
  <send retrans="500" start_txn="call">
    <![CDATA[

      INVITE sip:{to}@[remote_ip]:[remote_port];user=phone SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{from}@[local_ip];user=phone>;tag=[pid]T[call_number]
      To: <sip:{to}@[remote_ip];user=phone>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:{from}@[local_ip]:[local_port];transport=[transport]>
{identity_line}{padding_line}      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="100" optional="true" response_txn="call"/>
  <recv response="{expected}" response_txn="call"/>
{ack}</scenario>
"#
    );
    let path = dir.join(format!("{name}.xml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Signs a PASSporT with the demo's key for `orig` and `dest`.
pub fn sign(server: &Server, key: &Path, x5u: &str, orig: &str, dest: &str, iat: i64) -> String {
    let output = stird()
        .args([
            "sign",
            "--key",
            key.to_str().unwrap(),
            "--x5u",
            x5u,
            "--attest",
            "A",
        ])
        .args(["--orig", orig, "--dest", dest, "--iat", &iat.to_string()])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = server;
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn http_get(address: SocketAddr, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

/// Sends one INVITE without Identity over UDP and returns the response.
pub fn udp_invite(target: SocketAddr, branch: &str) -> String {
    udp_invite_with(target, branch, None)
}

/// Sends one INVITE over UDP from a new socket, with an Identity header when
/// `identity` is given, and returns the response. `tag` makes the branch
/// and the Call-ID `{tag}@127.0.0.1`.
pub fn udp_invite_with(target: SocketAddr, tag: &str, identity: Option<&str>) -> String {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let local = socket.local_addr().unwrap();
    let identity = identity
        .map(|value| format!("Identity: {value}\r\n"))
        .unwrap_or_default();
    let invite = format!(
        "INVITE sip:+12025550101@127.0.0.1;user=phone SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK{tag}\r\n\
         From: <sip:+12025550100@127.0.0.1;user=phone>;tag=r1\r\n\
         To: <sip:+12025550101@127.0.0.1;user=phone>\r\n\
         Call-ID: {tag}@127.0.0.1\r\n\
         CSeq: 1 INVITE\r\n\
         {identity}\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    );
    socket.send_to(invite.as_bytes(), target).unwrap();
    let mut buffer = [0u8; 8192];
    let (n, _) = socket.recv_from(&mut buffer).unwrap();
    String::from_utf8_lossy(&buffer[..n]).into_owned()
}

/// Returns a loopback port free for UDP and TCP at the time of the call.
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP");
}

/// Starts the terminating sipp before the call. The caller waits for it after.
pub fn uas(scenario: &Path, port: u16, transport: &str, calls: usize) -> Child {
    Command::new("sipp")
        .arg("-sf")
        .arg(scenario)
        .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-t", transport])
        .args(["-m", &calls.to_string(), "-nostdin"])
        .args(["-timeout", "60s", "-timeout_error"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sipp must be installed (Debian package sip-tester)")
}

pub fn start_config(dir: &Path, name: &str, config: &str) -> Server {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config).unwrap();
    start(dir, &["--config", path.to_str().unwrap()])
}

pub fn metric(server: &Server, line_start: &str) -> u64 {
    let text = http_get(server.http, "/metrics");
    text.lines()
        .find_map(|line| line.strip_prefix(line_start))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {line_start} in\n{text}"))
}

/// Writes a copy of a scenario of examples/sipp with `from` replaced by `to`.
pub fn scenario_variant(dir: &Path, name: &str, source: &str, edits: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(scenario(source)).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{source} has no {from}");
        text = text.replace(from, to);
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

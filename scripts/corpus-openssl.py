#!/usr/bin/env python3
"""Record what `openssl verify` reports for each end-entity certificate of the corpus.

For every end-entity (EE) certificate in testdata/corpus/real-certs.jsonl.gz,
this script collects the CA certificates of the corpus that can form its issuer
chain, runs `openssl verify` at two times, and writes one JSON line per EE to
testdata/corpus/openssl-verify.jsonl. A Rust test compares stird's path
validator against these results. testdata/corpus/README.md describes the output.

Issuer matching compares the DER bytes of the Name fields, which this script
parses itself. It then cross-checks the matches against OpenSSL's canonical name
hashes (`openssl x509 -subject_hash -issuer_hash`) and reports any difference.

Uses the Python 3 standard library and the `openssl` binary only.
"""

import argparse
import base64
import calendar
import collections
import concurrent.futures
import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time

OPENSSL_TIMEOUT_SECONDS = 10
WORKERS = 2
SECONDS_PER_DAY = 86400

OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
OID_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
OID_CERTIFICATE_POLICIES = "2.5.29.32"
OID_SUBJECT_KEY_IDENTIFIER = "2.5.29.14"
OID_AUTHORITY_KEY_IDENTIFIER = "2.5.29.35"
CURVE_NAMES = {
    "1.2.840.10045.3.1.7": "P-256",
    "1.3.132.0.34": "P-384",
    "1.3.132.0.35": "P-521",
}
# ECDSA signature algorithms. Their AlgorithmIdentifier normally has no
# parameters field, so the summary reports certificates that carry a NULL.
ECDSA_SIGNATURE_OIDS = {
    "1.2.840.10045.4.3.1": "ecdsa-with-SHA224",
    "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
    "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
    "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
}
SIGNATURE_NAMES = dict(
    ECDSA_SIGNATURE_OIDS,
    **{
        "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
    },
)

# One line per error that the verify callback of `openssl verify` prints. The
# callback prefixes errors found while checking a CRL path with "[CRL path] ".
ERROR_LINE = re.compile(r"^(?:\[CRL path\] )?error (\d+) at (-?\d+) depth lookup: (.*)$")


# ---------------------------------------------------------------------------
# DER parsing


class DerError(ValueError):
    """Malformed or unexpected DER input."""


def read_tlv(data, offset):
    """Parse one DER TLV at offset.

    Returns (tag, content_start, content_end), where content_end is also the
    offset of the next TLV. Only single-byte tags occur in X.509 certificates,
    so multi-byte tags raise DerError.
    """
    if offset + 2 > len(data):
        raise DerError(f"truncated TLV at offset {offset}")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DerError(f"multi-byte tag at offset {offset}")
    length = data[offset + 1]
    position = offset + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or position + count > len(data):
            raise DerError(f"unsupported length encoding at offset {offset}")
        length = int.from_bytes(data[position:position + count], "big")
        position += count
    end = position + length
    if end > len(data):
        raise DerError(f"TLV at offset {offset} runs past the end of its parent")
    return tag, position, end


def read_children(data, start, end):
    """Return the (tag, content_start, content_end, tlv_start) tuples inside a constructed value."""
    children = []
    offset = start
    while offset < end:
        tag, content_start, content_end = read_tlv(data, offset)
        if content_end > end:
            raise DerError(f"child at offset {offset} runs past its parent")
        children.append((tag, content_start, content_end, offset))
        offset = content_end
    return children


def decode_oid(content):
    """Decode the content octets of an OBJECT IDENTIFIER to dotted form."""
    arcs = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        raise DerError("empty OBJECT IDENTIFIER")
    first = arcs[0]
    if first < 40:
        head = [0, first]
    elif first < 80:
        head = [1, first - 40]
    else:
        head = [2, first - 80]
    return ".".join(str(arc) for arc in head + arcs[1:])


def decode_time(tag, content):
    """Decode a UTCTime (tag 0x17) or GeneralizedTime (tag 0x18) to Unix seconds."""
    text = content.decode("ascii")
    if not text.endswith("Z"):
        raise DerError(f"time {text!r} is not in UTC")
    if tag == 0x17:
        year = int(text[0:2])
        # RFC 5280 section 4.1.2.5.1: two-digit years of 50 and above are 19YY.
        year += 1900 if year >= 50 else 2000
        rest = text[2:-1]
    elif tag == 0x18:
        year = int(text[0:4])
        rest = text[4:-1]
    else:
        raise DerError(f"unexpected time tag 0x{tag:02x}")
    if len(rest) != 10:
        raise DerError(f"time {text!r} does not have seconds precision")
    month, day, hour, minute, second = (int(rest[i:i + 2]) for i in range(0, 10, 2))
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))


def parse_algorithm(data, start, end):
    """Return (oid, parameters DER bytes or None) for an AlgorithmIdentifier's content."""
    children = read_children(data, start, end)
    oid = decode_oid(data[children[0][1]:children[0][2]])
    parameters = None
    if len(children) > 1:
        parameters = data[children[1][3]:children[1][2]]
    return oid, parameters


def parse_certificate(der):
    """Extract the fields this script needs from a DER certificate.

    Raises DerError when the structure is not an X.509 v1-v3 certificate.
    """
    tag, start, end = read_tlv(der, 0)
    if tag != 0x30 or end != len(der):
        raise DerError("certificate is not one DER SEQUENCE")
    outer = read_children(der, start, end)
    if len(outer) != 3:
        raise DerError("certificate SEQUENCE does not have three elements")
    tbs = read_children(der, outer[0][1], outer[0][2])

    index = 0
    if tbs[0][0] == 0xA0:
        index = 1
    serial = tbs[index]
    tbs_signature = tbs[index + 1]
    issuer = tbs[index + 2]
    validity = tbs[index + 3]
    subject = tbs[index + 4]
    spki = tbs[index + 5]
    extensions_field = None
    for child in tbs[index + 6:]:
        if child[0] == 0xA3:
            extensions_field = child
    if serial[0] != 0x02 or issuer[0] != 0x30 or subject[0] != 0x30:
        raise DerError("unexpected TBSCertificate layout")

    not_before, not_after = (
        decode_time(tag, der[cs:ce]) for tag, cs, ce, _ in read_children(der, validity[1], validity[2])
    )

    spki_children = read_children(der, spki[1], spki[2])
    key_oid, key_parameters = parse_algorithm(der, spki_children[0][1], spki_children[0][2])
    if key_oid == OID_EC_PUBLIC_KEY and key_parameters and key_parameters[0] == 0x06:
        _, cs, ce = read_tlv(key_parameters, 0)
        curve_oid = decode_oid(key_parameters[cs:ce])
        key_type = CURVE_NAMES.get(curve_oid, "EC " + curve_oid)
    elif key_oid == OID_RSA_ENCRYPTION:
        _, bit_start, bit_end = read_tlv(der, spki_children[1][3])
        # The BIT STRING contains RSAPublicKey ::= SEQUENCE { modulus, publicExponent }.
        rsa_key = der[bit_start + 1:bit_end]
        _, seq_start, seq_end = read_tlv(rsa_key, 0)
        modulus = read_children(rsa_key, seq_start, seq_end)[0]
        modulus_bytes = rsa_key[modulus[1]:modulus[2]].lstrip(b"\x00")
        key_type = f"RSA-{len(modulus_bytes) * 8}"
    else:
        key_type = key_oid

    signature_oid, signature_parameters = parse_algorithm(der, outer[1][1], outer[1][2])
    tbs_signature_oid, tbs_signature_parameters = parse_algorithm(der, tbs_signature[1], tbs_signature[2])

    policies_critical = False
    subject_key_id = None
    authority_key_id = None
    authority_cert_serial = None
    if extensions_field is not None:
        _, seq_start, seq_end = read_tlv(der, extensions_field[1])
        for _, ext_start, ext_end, _ in read_children(der, seq_start, seq_end):
            parts = read_children(der, ext_start, ext_end)
            ext_oid = decode_oid(der[parts[0][1]:parts[0][2]])
            critical = len(parts) == 3 and der[parts[1][1]:parts[1][2]] != b"\x00"
            value = der[parts[-1][1]:parts[-1][2]]
            if ext_oid == OID_CERTIFICATE_POLICIES:
                policies_critical = critical
            elif ext_oid == OID_SUBJECT_KEY_IDENTIFIER:
                _, cs, ce = read_tlv(value, 0)
                subject_key_id = value[cs:ce]
            elif ext_oid == OID_AUTHORITY_KEY_IDENTIFIER:
                _, seq_start_aki, seq_end_aki = read_tlv(value, 0)
                for child_tag, cs, ce, _ in read_children(value, seq_start_aki, seq_end_aki):
                    if child_tag == 0x80:
                        authority_key_id = value[cs:ce]
                    elif child_tag == 0x82:
                        authority_cert_serial = value[cs:ce]

    ecdsa_null = [
        where
        for where, oid, parameters in (
            ("signatureAlgorithm", signature_oid, signature_parameters),
            ("tbsCertificate.signature", tbs_signature_oid, tbs_signature_parameters),
        )
        if oid in ECDSA_SIGNATURE_OIDS and parameters == b"\x05\x00"
    ]

    return {
        "issuer": der[issuer[3]:issuer[2]],
        "subject": der[subject[3]:subject[2]],
        "not_before": not_before,
        "not_after": not_after,
        "key_type": key_type,
        "signature_algorithm": SIGNATURE_NAMES.get(signature_oid, signature_oid),
        "ecdsa_null_parameters": ecdsa_null,
        "policies_critical": policies_critical,
        "subject_key_id": subject_key_id,
        "authority_key_id": authority_key_id,
        "authority_cert_serial": authority_cert_serial,
        "serial": der[serial[1]:serial[2]],
    }


def common_name(name_der):
    """Return the last commonName in a DER Name as text, for the summary only."""
    _, start, end = read_tlv(name_der, 0)
    found = None
    for _, set_start, set_end, _ in read_children(name_der, start, end):
        for _, atv_start, atv_end, _ in read_children(name_der, set_start, set_end):
            parts = read_children(name_der, atv_start, atv_end)
            if decode_oid(name_der[parts[0][1]:parts[0][2]]) == "2.5.4.3":
                found = name_der[parts[1][1]:parts[1][2]].decode("utf-8", "replace")
    return found or name_der.hex()


# ---------------------------------------------------------------------------
# Corpus and chains


def load_corpus(path):
    """Load the corpus, parse every certificate and return (records, parse_failures)."""
    records = []
    failures = []
    with gzip.open(path, "rt", encoding="utf-8") as corpus:
        for line in corpus:
            entry = json.loads(line)
            der = base64.b64decode(entry["der_b64"], validate=True)
            if hashlib.sha256(der).hexdigest() != entry["sha256"]:
                raise SystemExit(
                    f"error: sha256 {entry['sha256']} does not match its DER bytes in {path}; "
                    "the corpus file is corrupt, so copy it again"
                )
            try:
                fields = parse_certificate(der)
            except (DerError, IndexError, ValueError) as error:
                failures.append((entry["sha256"], str(error)))
                continue
            fields.update(sha256=entry["sha256"], der=der, is_ca=bool(entry["is_ca"]))
            records.append(fields)
    return records, failures


def is_self_issued(cert):
    return cert["subject"] == cert["issuer"]


def find_paths(ee, cas_by_subject):
    """Enumerate the issuer paths from ee that end at a self-issued CA certificate.

    A path is a list of CA certificates, nearest issuer first. Each certificate
    appears at most once per path, so cross-certificates cannot loop. Also
    returns every CA certificate reached by name, even on paths that end
    outside the corpus, because openssl receives all candidates.
    """
    paths = []
    reached = {}

    def walk(cert, path, seen):
        for issuer in cas_by_subject.get(cert["issuer"], []):
            if issuer["sha256"] in seen:
                continue
            reached[issuer["sha256"]] = issuer
            if is_self_issued(issuer):
                paths.append(path + [issuer])
            else:
                walk(issuer, path + [issuer], seen | {issuer["sha256"]})

    walk(ee, [], frozenset())
    return paths, reached


def choose_inside_time(ee, paths):
    """Pick the `inside` verification time for ee.

    Starts from the midpoint of the EE's validity window and clamps it into the
    intersection of the validity windows of one path. The path whose
    intersection lies closest to the midpoint wins, ties going to the first
    path found. Returns (time, window_empty), where window_empty is true when
    every path has an empty intersection and the time is the plain midpoint.
    """
    midpoint = (ee["not_before"] + ee["not_after"]) // 2
    best = None
    for path in paths:
        low = max([ee["not_before"]] + [cert["not_before"] for cert in path])
        high = min([ee["not_after"]] + [cert["not_after"] for cert in path])
        if low > high:
            continue
        clamped = min(max(midpoint, low), high)
        distance = abs(clamped - midpoint)
        if best is None or distance < best[0]:
            best = (distance, clamped)
    if best is None:
        return midpoint, True
    return best[1], False


def likely_path(ee, path_candidates):
    """Return the sha256 values of the path that key identifiers point to.

    At each step, an issuer must match the child's authorityKeyIdentifier: the
    keyIdentifier against its subjectKeyIdentifier and, where present, the
    authorityCertSerialNumber against its serial number. Falls back to the
    first path when none matches. Used only to attribute results to CA
    certificates in the summary, because `openssl verify` does not name the
    exact certificates it used.
    """
    for path in path_candidates:
        child = ee
        matched = True
        for issuer in path:
            key_id, issuer_key_id = child["authority_key_id"], issuer["subject_key_id"]
            if key_id is not None and issuer_key_id is not None and key_id != issuer_key_id:
                matched = False
            serial = child["authority_cert_serial"]
            if serial is not None and serial != issuer["serial"]:
                matched = False
            if not matched:
                break
            child = issuer
        if matched:
            return [cert["sha256"] for cert in path]
    return [cert["sha256"] for cert in path_candidates[0]]


def to_pem(der):
    body = base64.encodebytes(der).decode("ascii").replace("\n", "")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


# ---------------------------------------------------------------------------
# openssl


def run_verify(task):
    """Run `openssl verify` for one EE at one time and parse its output.

    task is (ee_pem, roots_file, intermediates_file or None, time, options).
    Returns a dict with ok, exit, error, depth and errors.
    """
    ee_pem, roots_file, intermediates_file, at_time, options = task
    command = ["openssl", "verify", "-no-CApath", "-no-CAstore", "-attime", str(at_time), "-CAfile", roots_file]
    if intermediates_file is not None:
        command += ["-untrusted", intermediates_file]
    if options["purpose"]:
        command += ["-purpose", options["purpose"]]
    if options["x509_strict"]:
        command.append("-x509_strict")
    if options.get("check_ss_sig"):
        command.append("-check_ss_sig")
    try:
        completed = subprocess.run(
            command,
            input=ee_pem,
            capture_output=True,
            text=True,
            timeout=OPENSSL_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "exit": None, "error": "timeout", "depth": None, "errors": []}

    errors = []
    for line in (completed.stderr + completed.stdout).splitlines():
        match = ERROR_LINE.match(line.strip())
        if match:
            errors.append({"error": f"{match.group(1)}: {match.group(3)}", "depth": int(match.group(2))})
    ok = completed.returncode == 0 and completed.stdout.strip().endswith(": OK")
    first = errors[0] if errors else None
    error = first["error"] if first else None
    if not ok and first is None:
        # Failures outside the verify callback, such as an unreadable file,
        # print no "error N at D" line. Keep openssl's last message instead.
        message = completed.stderr.strip().splitlines()
        error = "no error line: " + (message[-1] if message else f"exit {completed.returncode}")
    return {
        "ok": ok,
        "exit": completed.returncode,
        "error": error,
        "depth": first["depth"] if first else None,
        "errors": errors,
    }


def openssl_hash(pem, option):
    """Return the output of `openssl x509 -noout OPTION` for one certificate."""
    completed = subprocess.run(
        ["openssl", "x509", "-noout", option],
        input=pem,
        capture_output=True,
        text=True,
        timeout=OPENSSL_TIMEOUT_SECONDS,
        check=True,
    )
    return completed.stdout.strip()


def cross_check_names(records, ees, cas_by_subject):
    """Compare byte-exact Name matching with OpenSSL's canonical name hashes.

    Returns the number of distinct EE issuer names that match no CA subject by
    bytes but do match one by canonical hash. Runs one openssl call per
    distinct name.
    """
    ca_hashes = collections.defaultdict(set)
    for cert in records:
        if cert["is_ca"]:
            ca_hashes[openssl_hash(to_pem(cert["der"]), "-subject_hash")].add(cert["subject"])
    representatives = {}
    for ee in ees:
        representatives.setdefault(ee["issuer"], ee)
    hash_only = 0
    for issuer, ee in representatives.items():
        issuer_hash = openssl_hash(to_pem(ee["der"]), "-issuer_hash")
        by_bytes = issuer in cas_by_subject
        by_hash = issuer_hash in ca_hashes
        if by_hash and not by_bytes:
            hash_only += 1
            print(f"name differs only in encoding: {common_name(issuer)}", file=sys.stderr)
    return len(representatives), hash_only


# ---------------------------------------------------------------------------
# Main


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument(
        "corpus",
        nargs="?",
        default=os.path.join(root, "testdata", "corpus", "real-certs.jsonl.gz"),
        help="path of the gzipped JSON Lines corpus (default: testdata/corpus/real-certs.jsonl.gz)",
    )
    parser.add_argument(
        "--output",
        default=os.path.join(root, "testdata", "corpus", "openssl-verify.jsonl"),
        help="path of the JSON Lines output (default: testdata/corpus/openssl-verify.jsonl)",
    )
    parser.add_argument(
        "--purpose",
        default="",
        help="value for `openssl verify -purpose`, such as any or sslserver (default: no -purpose option)",
    )
    parser.add_argument(
        "--x509-strict",
        action="store_true",
        help="add -x509_strict to every openssl call (default: off, as in openssl's default behaviour)",
    )
    parser.add_argument("--limit", type=int, default=0, help="check only the first N EEs with chains (default: all)")
    return parser.parse_args()


def print_summary(results, skipped, ees, records, features_by_sha, ca_outcomes, parse_failures, elapsed):
    print(f"certificates parsed: {len(records)} (parse failures: {len(parse_failures)})")
    print(f"EEs total: {len(ees)}")
    print(f"EEs with chains to a root in the corpus: {len(results)}")
    print(f"EEs skipped: {sum(skipped.values())}")
    for reason, count in skipped.most_common():
        print(f"  {reason}: {count}")
    print(f"EEs whose path validity windows do not intersect: {sum(r['window_empty'] for r in results)}")
    for when in ("inside", "after"):
        ok = sum(result[when]["ok"] for result in results)
        print(f"{when}: ok {ok}, failed {len(results) - ok}")
        first_errors = collections.Counter(result[when]["error"] for result in results if not result[when]["ok"])
        for error, count in first_errors.most_common(10):
            print(f"  {count:6d}  {error}")
        all_errors = collections.Counter(
            f"{entry['error']} (depth {entry['depth']})" for result in results for entry in result[when]["errors"]
        )
        print(f"  every error line printed at {when}, with depth:")
        for error, count in all_errors.most_common(10):
            print(f"  {count:6d}  {error}")

    roots = [cert for cert in records if cert["is_ca"] and is_self_issued(cert)]
    signed = sum(ca_outcomes[cert["sha256"]]["ok"] for cert in roots)
    print(f"self-issued roots whose self-signature openssl accepts (-check_ss_sig): {signed} of {len(roots)}")
    print("CA certificates with notable features (own check at its midpoint; EEs by key-identifier path, inside):")
    for cert in records:
        notes = features_by_sha.get(cert["sha256"])
        if not cert["is_ca"] or not notes:
            continue
        users = [result for result in results if cert["sha256"] in result["likely_path"]]
        ok = sum(result["inside"]["ok"] for result in users)
        own = ca_outcomes.get(cert["sha256"])
        if own is None:
            own_text = "no chain in the corpus"
        else:
            own_text = "ok" if own["ok"] else own["error"]
        print(
            f"  {cert['sha256'][:16]} {common_name(cert['subject'])!r}: {', '.join(notes)}; "
            f"own check {own_text}; EEs {len(users)}, ok {ok}, failed {len(users) - ok}"
        )

    print("EE certificates with notable features (checked EEs only; inside ok/failed):")
    by_sha = {result["sha256"]: result for result in results}
    by_feature = collections.defaultdict(list)
    for cert in records:
        if not cert["is_ca"]:
            for note in features_by_sha.get(cert["sha256"], []):
                by_feature[note].append(cert["sha256"])
    for note, members in sorted(by_feature.items()):
        checked = [by_sha[sha256] for sha256 in members if sha256 in by_sha]
        ok = sum(result["inside"]["ok"] for result in checked)
        print(f"  {note}: {len(members)} EEs, checked {len(checked)}, ok {ok}, failed {len(checked) - ok}")
    print(f"elapsed: {elapsed:.1f} s with {WORKERS} workers")


def describe_features(cert):
    notes = []
    if cert["ecdsa_null_parameters"]:
        notes.append("NULL ECDSA parameters in " + " and ".join(cert["ecdsa_null_parameters"]))
    if cert["policies_critical"]:
        notes.append("critical certificatePolicies")
    if cert["is_ca"] and cert["key_type"] != "P-256":
        notes.append(f"{cert['key_type']} key, {cert['signature_algorithm']}")
    elif not cert["is_ca"] and cert["key_type"] != "P-256":
        notes.append(f"{cert['key_type']} subscriber key")
    return notes


class BundleWriter:
    """PEM bundle files in a scratch directory, one per distinct certificate set."""

    def __init__(self, directory):
        self.directory = directory
        self.paths = {}

    def path_for(self, certs):
        """Write the bundle for certs on first use and return its path."""
        ordered = sorted(certs, key=lambda cert: cert["sha256"])
        key = tuple(cert["sha256"] for cert in ordered)
        if key not in self.paths:
            path = os.path.join(self.directory, f"bundle-{len(self.paths)}.pem")
            with open(path, "w", encoding="ascii") as handle:
                handle.write("".join(to_pem(cert["der"]) for cert in ordered))
            self.paths[key] = path
        return self.paths[key]


def plan_ee_checks(ees, cas_by_subject, limit):
    """Select the EEs with a chain in the corpus and pick their two times.

    Returns (plans, skipped), where skipped counts the other EEs by reason.
    """
    skipped = collections.Counter()
    plans = []
    for ee in ees:
        if is_self_issued(ee):
            skipped["self-issued end-entity certificate"] += 1
            continue
        paths, reached = find_paths(ee, cas_by_subject)
        if not paths:
            reason = "issuer found but no self-issued root reached" if reached else "issuer not in the corpus"
            skipped[reason] += 1
            continue
        inside, window_empty = choose_inside_time(ee, paths)
        plans.append(
            {
                "ee": ee,
                "roots": [cert for cert in reached.values() if is_self_issued(cert)],
                "intermediates": [cert for cert in reached.values() if not is_self_issued(cert)],
                "paths": paths,
                "inside": inside,
                "after": ee["not_after"] + SECONDS_PER_DAY,
                "window_empty": window_empty,
            }
        )
        if limit and len(plans) >= limit:
            break
    return plans, skipped


def plan_ca_checks(records, features_by_sha, cas_by_subject, bundles, options):
    """Build one openssl task per root and per CA certificate with a notable feature.

    These CA certificates are verified as targets themselves, because some of
    them issued no EE in the corpus. A self-issued root is its own trust
    anchor, and -check_ss_sig makes openssl check its self-signature, which it
    skips by default. Returns (cert, task or None) pairs, where None means that
    the corpus contains no chain for the certificate.
    """
    checks = []
    for cert in records:
        if not cert["is_ca"]:
            continue
        if not is_self_issued(cert) and not features_by_sha[cert["sha256"]]:
            continue
        pem = to_pem(cert["der"])
        if is_self_issued(cert):
            at_time = (cert["not_before"] + cert["not_after"]) // 2
            root_options = dict(options, check_ss_sig=True)
            checks.append((cert, (pem, bundles.path_for([cert]), None, at_time, root_options)))
            continue
        paths, reached = find_paths(cert, cas_by_subject)
        if not paths:
            checks.append((cert, None))
            continue
        roots = [ca for ca in reached.values() if is_self_issued(ca)]
        intermediates = [ca for ca in reached.values() if not is_self_issued(ca)]
        intermediates_file = bundles.path_for(intermediates) if intermediates else None
        at_time, _ = choose_inside_time(cert, paths)
        checks.append((cert, (pem, bundles.path_for(roots), intermediates_file, at_time, options)))
    return checks


def main():
    arguments = parse_arguments()
    started = time.monotonic()
    version = subprocess.run(["openssl", "version"], capture_output=True, text=True, check=True).stdout.strip()
    print(f"openssl: {version}")

    records, parse_failures = load_corpus(arguments.corpus)
    for sha256, error in parse_failures:
        print(f"could not parse {sha256}: {error}", file=sys.stderr)
    cas_by_subject = collections.defaultdict(list)
    for cert in sorted((r for r in records if r["is_ca"]), key=lambda r: r["sha256"]):
        cas_by_subject[cert["subject"]].append(cert)
    ees = [cert for cert in records if not cert["is_ca"]]
    features_by_sha = {cert["sha256"]: describe_features(cert) for cert in records}

    names_checked, hash_only = cross_check_names(records, ees, cas_by_subject)
    print(f"distinct EE issuer names: {names_checked}; matched by canonical hash but not by bytes: {hash_only}")

    plans, skipped = plan_ee_checks(ees, cas_by_subject, arguments.limit)
    options = {"purpose": arguments.purpose, "x509_strict": arguments.x509_strict}
    with tempfile.TemporaryDirectory(prefix="corpus-openssl-") as scratch:
        bundles = BundleWriter(scratch)
        tasks = []
        for plan in plans:
            pem = to_pem(plan["ee"]["der"])
            roots_file = bundles.path_for(plan["roots"])
            intermediates_file = bundles.path_for(plan["intermediates"]) if plan["intermediates"] else None
            tasks.append((pem, roots_file, intermediates_file, plan["inside"], options))
            tasks.append((pem, roots_file, intermediates_file, plan["after"], options))
        ca_checks = plan_ca_checks(records, features_by_sha, cas_by_subject, bundles, options)
        tasks += [task for _, task in ca_checks if task is not None]

        with concurrent.futures.ProcessPoolExecutor(max_workers=WORKERS) as pool:
            outcomes = list(pool.map(run_verify, tasks, chunksize=32))

    ca_outcomes = {}
    remaining = iter(outcomes[2 * len(plans):])
    for cert, task in ca_checks:
        ca_outcomes[cert["sha256"]] = next(remaining) if task is not None else None

    results = []
    for index, plan in enumerate(plans):
        results.append(
            {
                "sha256": plan["ee"]["sha256"],
                "roots": sorted(cert["sha256"] for cert in plan["roots"]),
                "intermediates": sorted(cert["sha256"] for cert in plan["intermediates"]),
                "inside": dict(time=plan["inside"], **outcomes[2 * index]),
                "after": dict(time=plan["after"], **outcomes[2 * index + 1]),
                "window_empty": plan["window_empty"],
                "likely_path": likely_path(plan["ee"], plan["paths"]),
            }
        )

    with open(arguments.output, "w", encoding="utf-8") as output:
        for result in results:
            line = {key: value for key, value in result.items() if key != "likely_path"}
            output.write(json.dumps(line, separators=(",", ":")) + "\n")

    elapsed = time.monotonic() - started
    print_summary(results, skipped, ees, records, features_by_sha, ca_outcomes, parse_failures, elapsed)
    print(f"wrote {len(results)} lines to {arguments.output}")


if __name__ == "__main__":
    main()

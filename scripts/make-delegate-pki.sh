#!/usr/bin/env bash
# Builds the delegate certificate fixtures of RFC 9060 in testdata/pki/delegate/:
# a service provider CA with a TNAuthList range, signed by the test root, and two
# end-entity certificates under it, one inside the range and one outside.
#
# Usage: bash scripts/make-delegate-pki.sh
#
# It needs testdata/pki/root.pem and root.key.pem (scripts/make-test-pki.sh).
# OpenSSL 3.0 cannot backdate with `x509 -req`, so the certificates are valid from
# the moment the script runs for ten years; tests validate at 2027-06-01.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
pki="$top/testdata/pki"
out="$pki/delegate"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

# TNAuthList DER (RFC 8226 section 9), EXPLICIT tags:
# range 12025550100 count 100; one 12025550150; one 12025559999.
range="30:14:A1:12:30:10:16:0B:31:32:30:32:35:35:35:30:31:30:30:02:01:64"
inside="30:0F:A2:0D:16:0B:31:32:30:32:35:35:35:30:31:35:30"
outside="30:0F:A2:0D:16:0B:31:32:30:32:35:35:35:39:39:39:39"

cat >"$work/ext.cnf" <<CNF
[sp_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
1.3.6.1.5.5.7.1.26 = DER:$range

[inside]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
1.3.6.1.5.5.7.1.26 = DER:$inside

[outside]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
1.3.6.1.5.5.7.1.26 = DER:$outside
CNF

# Issues NAME.pem with the extension section SECTION, signed by ISSUER.
issue() {
  local name=$1 subject=$2 section=$3 issuer=$4 serial=$5
  openssl ecparam -name prime256v1 -genkey -noout -out "$work/$name.sec1.pem"
  openssl pkcs8 -topk8 -nocrypt -in "$work/$name.sec1.pem" -out "$out/$name.key.pem"
  openssl req -new -key "$out/$name.key.pem" -subj "$subject" -out "$work/$name.csr"
  openssl x509 -req -in "$work/$name.csr" -CA "$issuer.pem" -CAkey "$issuer.key.pem" \
    -set_serial "$serial" -days 3650 -sha256 -extfile "$work/ext.cnf" -extensions "$section" \
    -out "$out/$name.pem" 2>/dev/null
}

issue sp-ca "/C=US/O=Delegating Carrier (TEST ONLY)/CN=SHAKEN Delegate CA 999X" sp_ca "$pki/root" 0x2000
issue inside "/C=US/O=Enterprise (TEST ONLY)/CN=Delegate 12025550150" inside "$out/sp-ca" 0x2001
issue outside "/C=US/O=Enterprise (TEST ONLY)/CN=Delegate 12025559999" outside "$out/sp-ca" 0x2002
cat "$out/inside.pem" "$out/sp-ca.pem" >"$out/inside-chain.pem"
cat "$out/outside.pem" "$out/sp-ca.pem" >"$out/outside-chain.pem"
echo "wrote $(ls "$out" | wc -l) files to $out"

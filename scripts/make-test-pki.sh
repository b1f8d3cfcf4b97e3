#!/usr/bin/env bash
# Builds the fictional SHAKEN test PKI in testdata/pki/ with the openssl command line.
#
# Usage: bash scripts/make-test-pki.sh
#
# Every run makes new keys, so signatures and key identifiers change, but names,
# serial numbers, extensions and dates stay the same. The script checks each
# certificate with `openssl verify` at T0 and exits non-zero if a result differs
# from the expected one. It also writes testdata/pki/README.md with those results.
# Tested with OpenSSL 3.0, which has no `x509 -not_before`, so all certificates are
# issued with `openssl ca -startdate/-enddate`.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out_dir=$repo_root/testdata/pki
work_dir=$(mktemp -d)
trap 'rm -rf "$work_dir"' EXIT

# T0 is 2026-12-04T15:00:00Z, the time at which the tests validate.
T0=1796396400
VALID_FROM=2025-01-01T00:00:00Z
VALID_TO=2030-01-01T00:00:00Z
EXPIRED_TO=2026-01-01T00:00:00Z
NOT_YET_FROM=2028-01-01T00:00:00Z
REVOKED_AT=2026-11-15T00:00:00Z
CRL_THIS_UPDATE=2026-12-01T00:00:00Z
CRL_NEXT_UPDATE=2027-12-01T00:00:00Z
STALE_THIS_UPDATE=2026-01-01T00:00:00Z
STALE_NEXT_UPDATE=2026-02-01T00:00:00Z

CRL_URI=https://crl.example.org/sti.crl
SHAKEN_POLICY=2.16.840.1.114569.1.1.3
# TNAuthList (RFC 8226) with the single entry SPC "999X".
TN_AUTH_LIST_DER=30:08:A0:06:16:04:39:39:39:58

ROOT_SUBJECT="/C=US/O=Test STI-CA (TEST ONLY)/CN=Test STI Root"
INTERMEDIATE_SUBJECT="/C=US/O=Test STI-CA (TEST ONLY)/CN=Test STI-CA"
CRL_SIGNER_SUBJECT="/C=US/O=Test STI-PA (TEST ONLY)/CN=Test STI-PA CRL"
LEVEL2_SUBJECT="/C=US/O=Test STI-CA (TEST ONLY)/CN=Test STI-CA Level 2"
NOT_CA_SUBJECT="/C=US/O=Test STI-CA (TEST ONLY)/CN=Test STI-CA Not CA"
OTHER_ROOT_SUBJECT="/C=US/O=Other CA (TEST ONLY)/CN=Other Untrusted Root"
OTHER_INTERMEDIATE_SUBJECT="/C=US/O=Other CA (TEST ONLY)/CN=Other Untrusted STI-CA"
SUBSCRIBER_SUBJECT="/C=US/O=Example Carrier (TEST ONLY)/CN=SHAKEN 999X/serialNumber=TEST-999X-0001"

# Converts 2025-01-01T00:00:00Z to the 20250101000000Z form that openssl ca takes.
openssl_time() {
    printf '%s\n' "$1" | tr -d ':TZ-' | sed 's/$/Z/'
}

# Converts 2026-11-15T00:00:00Z to the UTCTime form 261115000000Z.
utc_time() {
    openssl_time "$1" | cut -c3-
}

# Writes one openssl ca section. Each CA has its own database and serial file.
write_ca_section() {
    local name=$1 cert=$2 key=$3
    mkdir -p "$work_dir/db/$name"
    : >"$work_dir/db/$name/index.txt"
    echo 'unique_subject = no' >"$work_dir/db/$name/index.txt.attr"
    echo 01 >"$work_dir/db/$name/crlnumber"
    cat <<EOF
[ca_$name]
database = $work_dir/db/$name/index.txt
serial = $work_dir/db/$name/serial
crlnumber = $work_dir/db/$name/crlnumber
new_certs_dir = $work_dir/db/$name
certificate = $work_dir/$cert.pem
private_key = $work_dir/$key.key.pem
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
crl_extensions = crl_ext

EOF
}

# Writes an end-entity extension section that differs from the subscriber profile
# only in the given key usage, policy line, TNAuthList line and extra line.
write_leaf_section() {
    local name=$1 key_usage=$2 policies=$3 tn_auth_list=$4 extra=$5
    cat <<EOF
[$name]
basicConstraints = critical, CA:FALSE
keyUsage = $key_usage
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
certificatePolicies = $policies
crlDistributionPoints = crl_dp
$tn_auth_list
$extra

EOF
}

write_config() {
    local tn_auth_list="1.3.6.1.5.5.7.1.26 = DER:$TN_AUTH_LIST_DER"
    local digital_signature="critical, digitalSignature"

    {
        cat <<EOF
string_mask = utf8only

[policy_any]
countryName = optional
organizationName = optional
commonName = optional
serialNumber = optional

[root_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[intermediate_ext]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
certificatePolicies = $SHAKEN_POLICY

[level2_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
certificatePolicies = $SHAKEN_POLICY

[not_ca_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
certificatePolicies = $SHAKEN_POLICY

[crl_signer_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[crl_dp]
fullname = URI:$CRL_URI
CRLissuer = dirName:crl_signer_name

# Must encode like the subject of crl-signer.pem.
[crl_signer_name]
C = US
O = Test STI-PA (TEST ONLY)
CN = Test STI-PA CRL

[crl_ext]
authorityKeyIdentifier = keyid:always
issuingDistributionPoint = critical, @crl_idp

[crl_idp]
fullname = URI:$CRL_URI
indirectCRL = TRUE

EOF
        write_leaf_section subscriber_ext "$digital_signature" "$SHAKEN_POLICY" "$tn_auth_list" ""
        write_leaf_section unknown_critical_ext "$digital_signature" "$SHAKEN_POLICY" "$tn_auth_list" \
            "1.3.6.1.4.1.55555.1 = critical, DER:05:00"
        write_leaf_section no_tn_auth_list_ext "$digital_signature" "$SHAKEN_POLICY" "" ""
        write_leaf_section key_cert_sign_ext "critical, keyCertSign" "$SHAKEN_POLICY" "$tn_auth_list" ""
        write_leaf_section critical_policies_ext "$digital_signature" "critical, $SHAKEN_POLICY" \
            "$tn_auth_list" ""

        write_ca_section root root root
        write_ca_section intermediate intermediate intermediate
        write_ca_section level2 intermediate-level2 intermediate-level2
        write_ca_section not_ca intermediate-not-ca intermediate-not-ca
        write_ca_section other_root other-root other-root
        write_ca_section other_intermediate other-intermediate other-intermediate
        write_ca_section crl_signer crl-signer crl-signer
        write_ca_section crl_signer_stale crl-signer crl-signer
    } >"$work_dir/ca.cnf"
}

new_key() {
    local name=$1 curve=$2
    openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:$curve" \
        -pkeyopt ec_param_enc:named_curve -out "$work_dir/$name.key.pem"
}

next_serial=4096

# Issues $work_dir/NAME.pem for a new key. ISSUER is a CA section name, or "self"
# for a self-signed root, whose section name is NAME with "-" replaced by "_".
issue() {
    local name=$1 subject=$2 issuer=$3 extensions=$4 curve=$5 not_before=$6 not_after=$7
    local serial_hex ca_name self_sign=()

    new_key "$name" "$curve"
    openssl req -new -key "$work_dir/$name.key.pem" -subj "$subject" -sha256 \
        -config "$work_dir/ca.cnf" -out "$work_dir/$name.csr"

    if [[ $issuer == self ]]; then
        ca_name=${name//-/_}
        self_sign=(-selfsign -keyfile "$work_dir/$name.key.pem")
    else
        ca_name=$issuer
    fi

    serial_hex=$(printf '%04X' "$next_serial")
    next_serial=$((next_serial + 1))
    echo "$serial_hex" >"$work_dir/db/$ca_name/serial"

    openssl ca -batch -notext -preserveDN -config "$work_dir/ca.cnf" -name "ca_$ca_name" \
        "${self_sign[@]}" -extensions "$extensions" -md sha256 \
        -startdate "$(openssl_time "$not_before")" -enddate "$(openssl_time "$not_after")" \
        -in "$work_dir/$name.csr" -out "$work_dir/$name.pem" 2>"$work_dir/$name.ca.log" || {
        cat "$work_dir/$name.ca.log" >&2
        exit 1
    }
    echo "$name|$serial_hex|$not_before|$not_after" >>"$work_dir/serials.txt"
}

# Writes NAME-chain.pem, which contains the leaf and then the given intermediates,
# as an x5u URL serves them.
write_chain() {
    local name=$1
    shift
    local part
    for part in "$name" "$@"; do
        cat "$work_dir/$part.pem"
    done >"$work_dir/$name-chain.pem"
}

build_hierarchies() {
    issue root "$ROOT_SUBJECT" self root_ext prime256v1 "$VALID_FROM" "$VALID_TO"
    issue intermediate "$INTERMEDIATE_SUBJECT" root intermediate_ext prime256v1 "$VALID_FROM" "$VALID_TO"
    issue crl-signer "$CRL_SIGNER_SUBJECT" root crl_signer_ext prime256v1 "$VALID_FROM" "$VALID_TO"
    issue intermediate-not-ca "$NOT_CA_SUBJECT" root not_ca_ext prime256v1 "$VALID_FROM" "$VALID_TO"
    issue intermediate-level2 "$LEVEL2_SUBJECT" intermediate level2_ext prime256v1 "$VALID_FROM" "$VALID_TO"
    issue other-root "$OTHER_ROOT_SUBJECT" self root_ext prime256v1 "$VALID_FROM" "$VALID_TO"
    issue other-intermediate "$OTHER_INTERMEDIATE_SUBJECT" other_root intermediate_ext prime256v1 \
        "$VALID_FROM" "$VALID_TO"
}

build_leaves() {
    local s=$SUBSCRIBER_SUBJECT

    issue subscriber "$s" intermediate subscriber_ext prime256v1 "$VALID_FROM" "$VALID_TO"
    issue revoked "$s" intermediate subscriber_ext prime256v1 "$VALID_FROM" "$VALID_TO"
    issue expired "$s" intermediate subscriber_ext prime256v1 "$VALID_FROM" "$EXPIRED_TO"
    issue not-yet-valid "$s" intermediate subscriber_ext prime256v1 "$NOT_YET_FROM" "$VALID_TO"
    issue wrong-issuer "$s" other_intermediate subscriber_ext prime256v1 "$VALID_FROM" "$VALID_TO"
    issue ca-bit-missing "$s" not_ca subscriber_ext prime256v1 "$VALID_FROM" "$VALID_TO"
    issue path-length "$s" level2 subscriber_ext prime256v1 "$VALID_FROM" "$VALID_TO"
    issue unknown-critical "$s" intermediate unknown_critical_ext prime256v1 "$VALID_FROM" "$VALID_TO"
    issue p384 "$s" intermediate subscriber_ext secp384r1 "$VALID_FROM" "$VALID_TO"
    issue no-tnauthlist "$s" intermediate no_tn_auth_list_ext prime256v1 "$VALID_FROM" "$VALID_TO"
    issue key-usage-keycertsign "$s" intermediate key_cert_sign_ext prime256v1 "$VALID_FROM" "$VALID_TO"
    issue critical-policies "$s" intermediate critical_policies_ext prime256v1 "$VALID_FROM" "$VALID_TO"

    local leaf
    for leaf in subscriber revoked expired not-yet-valid unknown-critical p384 no-tnauthlist \
        key-usage-keycertsign critical-policies; do
        write_chain "$leaf" intermediate
    done
    write_chain wrong-issuer other-intermediate
    write_chain ca-bit-missing intermediate-not-ca
    write_chain path-length intermediate-level2 intermediate

    # The path length fixture names its pathlen:0 CA explicitly. It is the same
    # certificate as intermediate.pem.
    cp "$work_dir/intermediate.pem" "$work_dir/intermediate-pathlen0.pem"
}

serial_of() {
    openssl x509 -in "$work_dir/$1.pem" -noout -serial | cut -d= -f2
}

# Builds crl.pem with openssl ca -gencrl. The database lists revoked.pem as revoked,
# so the CRL contains its serial, but openssl ca cannot write the certificateIssuer
# entry extension that would name the intermediate as its issuer.
build_crls() {
    local revoked_serial
    revoked_serial=$(serial_of revoked)

    # Copy revoked.pem's row from the intermediate's database into the CRL signer's
    # database as a revoked row, with a fixed revocation date and reason.
    awk -F'\t' -v OFS='\t' -v serial="$revoked_serial" \
        -v revocation="$(utc_time "$REVOKED_AT"),keyCompromise" \
        '$4 == serial { $1 = "R"; $3 = revocation; print }' \
        "$work_dir/db/intermediate/index.txt" >"$work_dir/db/crl_signer/index.txt"
    if [[ ! -s $work_dir/db/crl_signer/index.txt ]]; then
        echo "error: serial $revoked_serial of revoked.pem not found in the intermediate's database" >&2
        exit 1
    fi

    openssl ca -batch -gencrl -config "$work_dir/ca.cnf" -name ca_crl_signer -md sha256 \
        -crl_lastupdate "$(openssl_time "$CRL_THIS_UPDATE")" \
        -crl_nextupdate "$(openssl_time "$CRL_NEXT_UPDATE")" \
        -out "$work_dir/crl.pem" 2>"$work_dir/crl.log" || {
        cat "$work_dir/crl.log" >&2
        exit 1
    }
    openssl crl -in "$work_dir/crl.pem" -outform DER -out "$work_dir/crl.der"

    openssl ca -batch -gencrl -config "$work_dir/ca.cnf" -name ca_crl_signer_stale -md sha256 \
        -crl_lastupdate "$(openssl_time "$STALE_THIS_UPDATE")" \
        -crl_nextupdate "$(openssl_time "$STALE_NEXT_UPDATE")" \
        -out "$work_dir/crl-stale.pem" 2>"$work_dir/crl-stale.log" || {
        cat "$work_dir/crl-stale.log" >&2
        exit 1
    }

    build_crl_with_certificate_issuer "$revoked_serial"
}

# Writes an asn1parse -genconf section for a Name of C (PrintableString), O and CN
# (UTF8String), the encoding that openssl ca gives these subjects.
write_name_section() {
    local section=$1 country=$2 organization=$3 common_name=$4
    cat <<EOF
[$section]
c = SET:${section}_c
o = SET:${section}_o
cn = SET:${section}_cn
[${section}_c]
attribute = SEQUENCE:${section}_c_value
[${section}_c_value]
type = OID:countryName
value = PRINTABLESTRING:$country
[${section}_o]
attribute = SEQUENCE:${section}_o_value
[${section}_o_value]
type = OID:organizationName
value = UTF8:$organization
[${section}_cn]
attribute = SEQUENCE:${section}_cn_value
[${section}_cn_value]
type = OID:commonName
value = UTF8:$common_name
EOF
}

# Writes the TBSCertList of crl-certificate-issuer.pem as an asn1parse -genconf
# section named tbs. It has the same fields as crl.pem, plus the critical
# certificateIssuer entry extension (RFC 5280 section 5.3.3) naming the intermediate.
write_tbs_cert_list() {
    local revoked_serial=$1 signer_key_id=$2
    cat <<EOF
[tbs]
version = INTEGER:1
signature = SEQUENCE:signature_algorithm
issuer = SEQUENCE:crl_signer_name
this_update = UTCTIME:$(utc_time "$CRL_THIS_UPDATE")
next_update = UTCTIME:$(utc_time "$CRL_NEXT_UPDATE")
revoked = SEQUENCE:revoked_certificates
extensions = EXPLICIT:0,SEQUENCE:crl_extensions

[signature_algorithm]
algorithm = OID:ecdsa-with-SHA256

[revoked_certificates]
entry = SEQUENCE:revoked_entry

[revoked_entry]
serial = INTEGER:0x$revoked_serial
revocation_date = UTCTIME:$(utc_time "$REVOKED_AT")
extensions = SEQUENCE:entry_extensions

[entry_extensions]
reason = SEQUENCE:reason_extension
certificate_issuer = SEQUENCE:certificate_issuer_extension

[reason_extension]
id = OID:CRLReason
value = OCTWRAP,ENUMERATED:1

[certificate_issuer_extension]
id = OID:certificateIssuer
critical = BOOLEAN:TRUE
value = OCTWRAP,SEQUENCE:certificate_issuer_names

[certificate_issuer_names]
directory_name = EXPLICIT:4,SEQUENCE:intermediate_name

[crl_extensions]
authority_key_id = SEQUENCE:authority_key_id_extension
issuing_distribution_point = SEQUENCE:idp_extension
crl_number = SEQUENCE:crl_number_extension

[authority_key_id_extension]
id = OID:authorityKeyIdentifier
value = OCTWRAP,SEQUENCE:authority_key_id

[authority_key_id]
key_id = IMPLICIT:0,FORMAT:HEX,OCTETSTRING:$signer_key_id

[crl_number_extension]
id = OID:crlNumber
value = OCTWRAP,INTEGER:1

[idp_extension]
id = OID:issuingDistributionPoint
critical = BOOLEAN:TRUE
value = OCTWRAP,SEQUENCE:idp

# distributionPoint [0] contains the DistributionPointName CHOICE, whose fullName [0]
# contains one uniformResourceIdentifier [6]. indirectCRL is [4].
[idp]
distribution_point = IMPLICIT:0,SEQUENCE:idp_distribution_point
indirect_crl = IMPLICIT:4,BOOLEAN:TRUE

[idp_distribution_point]
full_name = IMPLICIT:0,SEQUENCE:idp_full_name

[idp_full_name]
uri = IMPLICIT:6,IA5STRING:$CRL_URI

EOF
    write_name_section crl_signer_name US "Test STI-PA (TEST ONLY)" "Test STI-PA CRL"
    write_name_section intermediate_name US "Test STI-CA (TEST ONLY)" "Test STI-CA"
}

# Builds crl-certificate-issuer.pem, which openssl ca cannot make. asn1parse -genconf
# writes the TBSCertList and openssl dgst signs it. A second -genconf run then wraps
# the same TBSCertList, the algorithm and the signature into a CertificateList.
build_crl_with_certificate_issuer() {
    local revoked_serial=$1 signer_key_id signature_hex
    signer_key_id=$(openssl x509 -in "$work_dir/crl-signer.pem" -noout -ext subjectKeyIdentifier |
        tail -n 1 | tr -d ' :')

    {
        echo 'asn1 = SEQUENCE:tbs'
        write_tbs_cert_list "$revoked_serial" "$signer_key_id"
    } >"$work_dir/tbs.cnf"
    openssl asn1parse -genconf "$work_dir/tbs.cnf" -noout -out "$work_dir/tbs.der"
    openssl dgst -sha256 -sign "$work_dir/crl-signer.key.pem" -out "$work_dir/tbs.sig" "$work_dir/tbs.der"
    signature_hex=$(od -An -v -tx1 "$work_dir/tbs.sig" | tr -d ' \n')

    {
        echo 'asn1 = SEQUENCE:certificate_list'
        echo '[certificate_list]'
        echo 'tbs = SEQUENCE:tbs'
        echo 'signature_algorithm = SEQUENCE:signature_algorithm'
        echo "signature = FORMAT:HEX,BITSTRING:$signature_hex"
        write_tbs_cert_list "$revoked_serial" "$signer_key_id"
    } >"$work_dir/crl-certificate-issuer.cnf"
    openssl asn1parse -genconf "$work_dir/crl-certificate-issuer.cnf" -noout \
        -out "$work_dir/crl-certificate-issuer.der"
    openssl crl -inform DER -in "$work_dir/crl-certificate-issuer.der" \
        -out "$work_dir/crl-certificate-issuer.pem"

    # The signature matches only if both -genconf runs wrote the same TBSCertList.
    openssl crl -in "$work_dir/crl-certificate-issuer.pem" -noout \
        -CAfile "$work_dir/crl-signer.pem" 2>&1 | grep -qx 'verify OK' || {
        echo 'error: the signature of crl-certificate-issuer.pem does not verify' >&2
        exit 1
    }
}

verify_rows=()
verify_failures=0

# Runs openssl verify at T0 against root.pem on LEAF.pem with the given options, and
# compares its error codes with EXPECTED, a space-separated list ("" for success).
check_verify() {
    local expected=$1 leaf=$2
    shift 2
    local output status codes summary

    output=$(cd "$work_dir" && openssl verify -attime "$T0" -CAfile root.pem "$@" "$leaf.pem" 2>&1) &&
        status=0 || status=$?
    codes=$(printf '%s\n' "$output" | sed -n 's/^error \([0-9]*\) at .*/\1/p' | paste -sd ' ')
    summary=$(printf '%s\n' "$output" | sed -n '/^error [0-9]* at /p' | paste -sd ';' | sed 's/;/; /g')
    [[ -n $summary ]] || summary=$(printf '%s\n' "$output" | tail -n 1)

    # openssl verify exits with 0 on success and 2 when verification fails.
    local expected_status=2
    [[ -n $expected ]] || expected_status=0
    if [[ $codes != "$expected" || $status -ne $expected_status ]]; then
        echo "error: openssl verify $* $leaf.pem returned errors [$codes] and exit status $status, expected [$expected]:" >&2
        printf '%s\n' "$output" >&2
        verify_failures=$((verify_failures + 1))
    fi

    verify_rows+=("| \`$leaf.pem\` | \`$*\` | $summary |")
}

run_verify_checks() {
    local i=(-untrusted intermediate.pem)

    check_verify "" subscriber "${i[@]}"
    check_verify "" revoked "${i[@]}"
    check_verify 10 expired "${i[@]}"
    check_verify 9 not-yet-valid "${i[@]}"
    check_verify 20 wrong-issuer -untrusted other-intermediate.pem
    # OpenSSL 3.0 numbers X509_V_ERR_INVALID_CA 79. OpenSSL 1.1.1 numbered it 24.
    check_verify 79 ca-bit-missing -untrusted intermediate-not-ca.pem
    check_verify 25 path-length -untrusted intermediate-level2.pem "${i[@]}"
    check_verify 34 unknown-critical "${i[@]}"
    check_verify "" p384 "${i[@]}"
    check_verify "" no-tnauthlist "${i[@]}"
    check_verify "" key-usage-keycertsign "${i[@]}"
    check_verify "" critical-policies "${i[@]}"

    # openssl reads an indirect CRL only with -extended_crl, and it needs the CRL
    # signer's certificate to check the CRL signature.
    check_verify 3 revoked "${i[@]}" -crl_check -CRLfile crl.pem
    local crl=("${i[@]}" -untrusted crl-signer.pem -crl_check -extended_crl)

    # The entry in crl.pem has no certificateIssuer extension, so under RFC 5280
    # section 5.3.3 it revokes that serial number of the CRL signer, not of the
    # intermediate. OpenSSL 3.0 reads it that way and accepts revoked.pem.
    check_verify "" revoked "${crl[@]}" -CRLfile crl.pem
    check_verify "" subscriber "${crl[@]}" -CRLfile crl.pem
    check_verify 23 revoked "${crl[@]}" -CRLfile crl-certificate-issuer.pem
    check_verify "" subscriber "${crl[@]}" -CRLfile crl-certificate-issuer.pem
    check_verify 12 subscriber "${crl[@]}" -CRLfile crl-stale.pem
}

# Prints a README table row for certificate NAME.pem with its files, serial number
# and validity. An empty SHAKEN_RESULT leaves that column out.
certificate_row() {
    local name=$1 description=$2 shaken_result=$3 serial not_before not_after
    IFS='|' read -r _ serial not_before not_after < <(grep "^$name|" "$work_dir/serials.txt")

    local files="\`$name.pem\`, \`$name.key.pem\`"
    [[ ! -f $work_dir/$name-chain.pem ]] || files+=", \`$name-chain.pem\`"
    if [[ -n $shaken_result ]]; then
        echo "| $files | $description | $shaken_result | 0x$serial | $not_before | $not_after |"
    else
        echo "| $files | $description | 0x$serial | $not_before | $not_after |"
    fi
}

write_readme() {
    local revoked_serial name description shaken_result
    revoked_serial=$(serial_of revoked)

    cat <<EOF
# Test PKI

A fictional SHAKEN PKI for path validation and CRL tests. Every organization name
is marked TEST ONLY. \`scripts/make-test-pki.sh\` generated all files here with
$(openssl version | cut -d' ' -f1-2). To regenerate them, run:

    bash scripts/make-test-pki.sh

Each run makes new keys, so keys, signatures and key identifiers change. Names,
serial numbers, extensions and dates stay the same, and the script fails if an
\`openssl verify\` result below changes.

The keys are unencrypted PKCS #8 PEM files. They are P-256, except the key of
\`p384.pem\`, and every signature is ecdsa-with-SHA256. Tests should validate at
T0 = $T0 ($(date -u -d "@$T0" +%Y-%m-%dT%H:%M:%SZ)).

A chain file (\`NAME-chain.pem\`) contains the end-entity certificate, then its
intermediates, which is what an x5u URL serves. Every end-entity certificate has
the subject \`C=US, O=Example Carrier (TEST ONLY), CN=SHAKEN 999X,
serialNumber=TEST-999X-0001\`. The failing ones are copies of \`subscriber.pem\`
with a new key and serial number and exactly one change.

## CA and CRL signer certificates

| Files | What it is | Serial | Valid from | Valid to |
| --- | --- | --- | --- | --- |
EOF
    while IFS='|' read -r name description; do
        certificate_row "$name" "$description" ""
    done <<'ROWS'
root|Trust anchor `CN=Test STI Root, O=Test STI-CA (TEST ONLY), C=US`. Self-signed, basicConstraints critical CA:TRUE, keyUsage critical keyCertSign and cRLSign, SKI.
intermediate|STI-CA `CN=Test STI-CA, O=Test STI-CA (TEST ONLY), C=US`, signed by the root. basicConstraints critical CA:TRUE with pathlen:0, keyUsage critical keyCertSign and cRLSign, SKI, AKI, certificatePolicies 2.16.840.1.114569.1.1.3.
crl-signer|CRL signer `CN=Test STI-PA CRL, O=Test STI-PA (TEST ONLY), C=US`, signed by the root. It takes the place of the STI-PA, which signs the indirect CRL for the certificates of all STI-CAs. basicConstraints critical CA:FALSE, keyUsage critical cRLSign only, SKI, AKI.
intermediate-level2|Issuer of path-length.pem, `CN=Test STI-CA Level 2`, signed by the intermediate. Like the intermediate, but without pathlen.
intermediate-not-ca|Issuer of ca-bit-missing.pem, `CN=Test STI-CA Not CA`, signed by the root. Like the intermediate, but basicConstraints is critical CA:FALSE.
other-root|Untrusted self-signed root `CN=Other Untrusted Root, O=Other CA (TEST ONLY), C=US`, with the root's extensions.
other-intermediate|`CN=Other Untrusted STI-CA, O=Other CA (TEST ONLY), C=US`, signed by other-root, with the intermediate's extensions.
ROWS
    cat <<EOF

\`intermediate-pathlen0.pem\` is a byte-for-byte copy of \`intermediate.pem\`
under the name that the path length case uses. Its key is
\`intermediate.key.pem\`.

## End-entity certificates

\`subscriber.pem\` has basicConstraints critical CA:FALSE, keyUsage critical
digitalSignature, SKI, AKI, certificatePolicies 2.16.840.1.114569.1.1.3, a CRL
distribution point with fullName \`$CRL_URI\` and cRLIssuer
\`DirName:C=US, O=Test STI-PA (TEST ONLY), CN=Test STI-PA CRL\`, and TNAuthList
(1.3.6.1.5.5.7.1.26) with SPC "999X" (DER \`${TN_AUTH_LIST_DER//:/ }\`).

| Files | What differs from subscriber.pem | Expected SHAKEN result | Serial | Valid from | Valid to |
| --- | --- | --- | --- | --- | --- |
EOF
    while IFS='|' read -r name description shaken_result; do
        certificate_row "$name" "$description" "$shaken_result"
    done <<'ROWS'
subscriber|Nothing. This is the valid certificate.|Accept.
revoked|Listed as revoked (keyCompromise) in `crl.pem` and `crl-certificate-issuer.pem`.|Reject when the CRL is checked.
expired|notAfter is before T0.|Reject: expired.
not-yet-valid|notBefore is after T0.|Reject: not yet valid.
wrong-issuer|Issued by other-intermediate, so the path ends at other-root, which is not trusted. The chain file contains other-intermediate.|Reject: no path to `root.pem`.
ca-bit-missing|Issued by intermediate-not-ca, whose basicConstraints has CA:FALSE. The chain file contains intermediate-not-ca.|Reject: the issuer is not a CA.
path-length|Issued by intermediate-level2, so the path has two CAs below the root, but the intermediate has pathlen:0. The chain file contains intermediate-level2, then intermediate.|Reject: path length constraint exceeded.
unknown-critical|Adds the critical extension 1.3.6.1.4.1.55555.1 (a private OID) with the value NULL.|Reject: unknown critical extension.
p384|The subject key is P-384. The intermediate still signs with P-256 and ecdsa-with-SHA256.|Reject: SHAKEN allows only P-256 keys.
no-tnauthlist|Has no TNAuthList extension.|Reject: TNAuthList is required.
key-usage-keycertsign|keyUsage is critical keyCertSign only, without digitalSignature.|Reject: digitalSignature is required.
critical-policies|certificatePolicies is critical. Real STI-CAs have issued such certificates.|Accept.
ROWS
    cat <<EOF

## CRLs

All CRLs are v2 and signed by \`crl-signer.pem\` with ecdsa-with-SHA256. Each
has an AKI, CRL number 1 and a critical issuingDistributionPoint with fullName
\`$CRL_URI\` and indirectCRL TRUE.

| File | thisUpdate | nextUpdate | Entries | Made with |
| --- | --- | --- | --- | --- |
| \`crl.pem\`, \`crl.der\` | $CRL_THIS_UPDATE | $CRL_NEXT_UPDATE | Serial 0x$revoked_serial (the serial of \`revoked.pem\`), revoked $REVOKED_AT, reason keyCompromise. No certificateIssuer entry extension. | \`openssl ca -gencrl -crl_lastupdate -crl_nextupdate\` |
| \`crl-certificate-issuer.pem\`, \`crl-certificate-issuer.der\` | $CRL_THIS_UPDATE | $CRL_NEXT_UPDATE | The same entry, plus a critical certificateIssuer entry extension with \`DirName:C=US, O=Test STI-CA (TEST ONLY), CN=Test STI-CA\`. | \`openssl asn1parse -genconf\` and \`openssl dgst -sign\` |
| \`crl-stale.pem\` | $STALE_THIS_UPDATE | $STALE_NEXT_UPDATE | None. nextUpdate is before T0. | \`openssl ca -gencrl -crl_lastupdate -crl_nextupdate\` |

\`openssl ca\` in OpenSSL 3.0 writes the issuingDistributionPoint extension with
indirectCRL, but it cannot write the certificateIssuer entry extension. Under
RFC 5280 section 5.3.3, an entry of an indirect CRL without a certificateIssuer
extension belongs to the CRL issuer. So \`crl.pem\` revokes serial
0x$revoked_serial of \`crl-signer.pem\`, not \`revoked.pem\`, and OpenSSL accepts
\`revoked.pem\` with it. \`crl-certificate-issuer.pem\` is the CRL that revokes
\`revoked.pem\`.

## openssl verify results

The script ran each row as
\`openssl verify -attime $T0 -CAfile root.pem OPTIONS LEAF\` in this folder.
Each failing case reports exactly one error. OpenSSL uses the indirect CRLs
only with \`-extended_crl\` and with \`crl-signer.pem\` among the untrusted
certificates. \`-crl_check\` checks the leaf only.

| Leaf | Options | Result |
| --- | --- | --- |
EOF
    printf '%s\n' "${verify_rows[@]}"
    cat <<EOF

\`p384.pem\`, \`no-tnauthlist.pem\` and \`key-usage-keycertsign.pem\` pass
\`openssl verify\` because they break SHAKEN certificate profile rules, not
RFC 5280 path validation.
EOF
}

# Replaces the generated files in testdata/pki/ with the new ones.
install_files() {
    mkdir -p "$out_dir"
    rm -f "$out_dir"/*.pem "$out_dir"/*.der "$out_dir/README.md"

    local name
    for name in root intermediate intermediate-pathlen0 crl-signer intermediate-level2 \
        intermediate-not-ca other-root other-intermediate subscriber revoked expired \
        not-yet-valid wrong-issuer ca-bit-missing path-length unknown-critical p384 \
        no-tnauthlist key-usage-keycertsign critical-policies; do
        cp "$work_dir/$name.pem" "$out_dir/"
        [[ ! -f $work_dir/$name.key.pem ]] || cp "$work_dir/$name.key.pem" "$out_dir/"
        [[ ! -f $work_dir/$name-chain.pem ]] || cp "$work_dir/$name-chain.pem" "$out_dir/"
    done
    cp "$work_dir/crl.pem" "$work_dir/crl.der" "$work_dir/crl-stale.pem" \
        "$work_dir/crl-certificate-issuer.pem" "$work_dir/crl-certificate-issuer.der" "$out_dir/"

    write_readme >"$out_dir/README.md"
}

main() {
    write_config
    build_hierarchies
    build_leaves
    build_crls

    run_verify_checks
    if ((verify_failures > 0)); then
        echo "error: $verify_failures openssl verify results differ from the expected ones, so testdata/pki/ is unchanged" >&2
        exit 1
    fi

    install_files
    echo "Wrote the test PKI to $out_dir"
}

main "$@"

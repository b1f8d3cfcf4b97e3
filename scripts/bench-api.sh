#!/usr/bin/env bash
# Benchmarks the HTTP API of `stird serve` (the demo) with wrk, beside its SIP
# front end and bare aws-lc-rs ECDSA in the same run.
#
# Usage: scripts/bench-api.sh > report.md
#
# The script measures:
# - API requests per second. wrk POSTs either one signing request without
#   iat, so each is signed at the time it arrives, or one verification request
#   of a PASSporT signed right before the run. Each run uses CONNECTIONS
#   keep-alive connections for DURATION seconds. scripts/wrk/stir-api.lua
#   checks every response: 200, and TN-Validation-Passed for a verification.
# - stird's CPU time per API request and per SIP call, from utime + stime in
#   /proc/PID/stat before and after each run. The SIP runs send SIP_CALLS
#   calls of examples/sipp/sign.xml and verify.xml at SIP_RATE calls/s.
# - bare aws-lc-rs sign and verify from `cargo bench -p passport --bench jws`,
#   and the ratios of the CPU figures to them.
# wrk, sipp and stird share this machine's cores, so the request rates are
# those of one machine running both sides.
#
# Environment:
#   DURATION     seconds of one wrk run (default 10)
#   CONNECTIONS  wrk connection counts, one run each (default "1 8 64")
#   SIP_CALLS    calls of one SIP run (default 5000)
#   SIP_RATE     calls/s of the SIP runs (default 1000)
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
# shellcheck source=scripts/bench-common.sh
source "$repo_root/scripts/bench-common.sh"

duration=${DURATION:-10}
connections=${CONNECTIONS:-1 8 64}
if [[ -z ${connections// /} ]]; then
    echo "CONNECTIONS is empty; give at least one connection count" >&2
    exit 1
fi
sip_calls=${SIP_CALLS:-5000}
sip_rate=${SIP_RATE:-1000}

command -v wrk >/dev/null || { echo "wrk not found; install it (Debian package wrk)" >&2; exit 1; }
command -v sipp >/dev/null || { echo "sipp not found; install it (Debian package sip-tester)" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl not found; install it (Debian package curl)" >&2; exit 1; }

build_stird
start_demo
repository=$(sed -n 's/.*repository \([^,]*\).*/\1/p' <<<"$ready")
sip=$(sed -n 's/.*sip udp \([^,]*\).*/\1/p' <<<"$ready")
http=$(sed -n 's/.*http \([^,]*\).*/\1/p' <<<"$ready")

clock_ticks=$(getconf CLK_TCK)
per_unit_us() { awk -v t="$1" -v hz="$clock_ticks" -v n="$2" 'BEGIN { printf "%.1f", (n > 0 ? t / hz / n * 1e6 : 0) }'; }

printf '{"signingRequest":{"attest":"A","orig":{"tn":"12025550100"},"dest":{"tn":["12025550101"]},"origid":"de305d54-75b4-431b-adb2-eb6b9e546014"}}' \
    >"$work/sign.json"
# Writes a verification request for an Identity header signed through the API
# now, with the same numbers. The demo accepts a PASSporT up to 60 s old, so
# each run gets a new one.
write_verify_body() {
    local identity
    identity=$(curl -sS --max-time 5 -H 'Content-Type: application/json' \
        --data-binary @"$work/sign.json" "http://$http/stir/v1/signing" |
        sed -n 's/.*"identity":"\([^"]*\)".*/\1/p')
    if [[ -z $identity ]]; then
        echo "the signing endpoint returned no identity" >&2
        exit 1
    fi
    printf '{"verificationRequest":{"from":{"tn":"12025550100"},"to":{"tn":["12025550101"]},"time":%s,"identity":"%s"}}' \
        "$(date +%s)" "$identity" >"$work/verify.json"
}

# Runs wrk against endpoint $1 (sign or verify) over $2 connections. Sets
# run_rps, run_requests, run_bad, run_us (stird CPU per request), run_p50 and
# run_p99 (milliseconds).
run_wrk() {
    local name=$1 conns=$2 path expect=
    if [[ $name == sign ]]; then
        path=/stir/v1/signing
    else
        path=/stir/v1/verification
        expect=TN-Validation-Passed
        write_verify_body
    fi
    local before output result

    before=$(stird_ticks)
    if ! output=$(WRK_BODY="$work/$name.json" WRK_EXPECT=$expect \
        timeout $((duration + 30)) wrk -t1 -c"$conns" -d"${duration}s" \
        -s "$repo_root/scripts/wrk/stir-api.lua" "http://$http$path" 2>&1); then
        echo "wrk failed for $name over $conns connections:" >&2
        echo "$output" >&2
        exit 1
    fi
    local after ticks
    after=$(stird_ticks)
    ticks=$((after - before))
    result=$(grep '^RESULT ' <<<"$output" || true)
    if [[ -z $result ]]; then
        echo "wrk wrote no RESULT line for $name over $conns connections:" >&2
        echo "$output" >&2
        exit 1
    fi
    local requests bad socket_errors p50 p99 max
    read -r _ requests bad socket_errors p50 p99 max <<<"$result"
    run_requests=$requests
    run_bad=$((bad + socket_errors))
    run_rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' <<<"$output" | awk '{ printf "%.0f", $1 }')
    run_us=$(per_unit_us "$ticks" "$requests")
    run_p50=$(awk -v v="$p50" 'BEGIN { printf "%.2f", v / 1000 }')
    run_p99=$(awk -v v="$p99" 'BEGIN { printf "%.2f", v / 1000 }')
}

# Runs sipp with examples/sipp/$1.xml. Sets sip_us (stird CPU per call) and
# sip_failed.
run_sipp() {
    local name=$1 keys=() before stat="$work/$1-sipp.csv"
    if [[ $name == verify ]]; then
        keys=(-key identity "$("$stird" sign --key "$work/data/pki/subscriber.key.pem" \
            --x5u "$repository" --attest A --orig +12025550100 --dest +12025550101)")
    fi
    before=$(stird_ticks)
    (cd "$work" && timeout 120 sipp -sf "$repo_root/examples/sipp/$name.xml" "${keys[@]}" \
        -i 127.0.0.1 -t u1 -nostdin -r "$sip_rate" -m "$sip_calls" -l "$sip_rate" \
        -timeout 60s -timeout_error -trace_stat -stf "$stat" -fd 1 \
        "$sip" >"$work/$name-sipp.log" 2>&1) || true
    local after ticks
    after=$(stird_ticks)
    ticks=$((after - before))
    sip_us=$(per_unit_us "$ticks" "$sip_calls")
    sip_failed=$(awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "FailedCall(C)") c = i; next }
        { v = $c } END { print v + 0 }' "$stat" 2>/dev/null || echo "$sip_calls")
}

log "warm-up: the certificate fetch and one request of each kind"
write_verify_body
curl -sS --max-time 5 -H 'Content-Type: application/json' --data-binary @"$work/verify.json" \
    "http://$http/stir/v1/verification" >/dev/null
run_sipp sign
run_sipp verify

declare -A rows
for name in sign verify; do
    for conns in $connections; do
        log "$name over the API: $conns connections for $duration s"
        run_wrk "$name" "$conns"
        rows[$name]+="| $conns | $(thousands "$run_rps") | $(thousands "$run_requests") | $run_bad | $run_p50 ms | $run_p99 ms | $run_us µs |"$'\n'
        last_api_us=$run_us
    done
    eval "api_${name}_us=\$last_api_us"
    log "$name over SIP: $sip_calls calls at $sip_rate calls/s"
    run_sipp "$name"
    eval "sip_${name}_us=\$sip_us sip_${name}_failed=\$sip_failed"
done

run_bare_bench

cat <<EOF
### HTTP API with wrk, $(date -u +%Y-%m-%d)

Machine: $(nproc) cores, $(awk '/^model name/ { sub(/.*: /, ""); print; exit }' /proc/cpuinfo).
wrk runs one thread for $duration s per row; wrk, sipp and stird share the cores.
Every response was checked: a row's "bad" counts responses other than 200,
verifications without TN-Validation-Passed, and socket errors.

Signing (\`POST /stir/v1/signing\`):

| connections | requests/s | requests | bad | p50 | p99 | stird CPU per request |
|---:|---:|---:|---:|---:|---:|---:|
${rows[sign]}
Verification (\`POST /stir/v1/verification\`, one PASSporT, certificate cached):

| connections | requests/s | requests | bad | p50 | p99 | stird CPU per request |
|---:|---:|---:|---:|---:|---:|---:|
${rows[verify]}
Side by side in this run (API figures from the last row of each table; SIP
figures from $(thousands "$sip_calls") calls at $(thousands "$sip_rate") calls/s of
examples/sipp/sign.xml and verify.xml over UDP):

| operation | bare aws-lc-rs | API CPU per request | ratio | SIP CPU per call | ratio | failed SIP calls |
|---|---:|---:|---:|---:|---:|---:|
| sign | $bare_sign µs | $api_sign_us µs | $(ratio "$api_sign_us" "$bare_sign") | $sip_sign_us µs | $(ratio "$sip_sign_us" "$bare_sign") | $sip_sign_failed |
| verify | $bare_verify µs | $api_verify_us µs | $(ratio "$api_verify_us" "$bare_verify") | $sip_verify_us µs | $(ratio "$sip_verify_us" "$bare_verify") | $sip_verify_failed |
EOF

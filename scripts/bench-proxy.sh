#!/usr/bin/env bash
# Benchmarks `stird serve` in stateless proxy mode beside redirect mode, with
# stird pinned to one core and to two cores.
#
# Usage: scripts/bench-proxy.sh > report.md
#
# Cases, each served by its own stird process with one UDP listener:
# - redirect-sign: examples/sipp/sign.xml, an INVITE answered with a 302 that
#   carries Identity, then the ACK.
# - proxy-sign: examples/sipp/proxy-uac.xml -> stird (role sign, mode proxy)
#   -> a terminating sipp running examples/sipp/proxy-uas.xml without its
#   verstat check. A call is INVITE, 180, 200, ACK, BYE and 200, all through
#   stird, and passes when the INVITE reaches the terminating side with an
#   Identity header.
# - redirect-verify: examples/sipp/verify.xml, an INVITE with Identity
#   answered with a 302 asserting verstat=TN-Validation-Passed, then the ACK.
# - proxy-verify: proxy-uac.xml with an Identity header added -> stird (role
#   verify, mode proxy) -> a terminating sipp running proxy-uas.xml, which
#   checks that the INVITE carries Identity and verstat=TN-Validation-Passed.
# The verify cases send PASSporTs signed with the demo's key right before each
# sipp run, given to sipp in a CSV file (-inf). The CPU-per-call runs send a
# distinct PASSporT in every call, collected from the demo's 302 responses.
# Each rate step sends one PASSporT from `stird sign` in every call. stird
# flags each call after the first as a replay (a rate-limited log line, and in
# redirect mode a Warning header) and still passes it. So the rate steps
# include the replay lookup but not the insertion of a new PASSporT per call.
#
# A `stird serve` demo, unpinned, provides the test PKI and serves the x5u
# certificate over HTTPS on loopback. The verifying processes fetch it once,
# during their warm-up.
#
# For each core set (taskset -c 0, then taskset -c 0,1) the script starts one
# pinned stird per case and measures:
# - stird's CPU time per call: utime + stime from /proc/PID/stat around
#   CPU_CALLS calls at CPU_RATE calls/s, CPU_ROUNDS runs with the cases
#   interleaved, and the median taken;
# - the maximum sustained rate: sipp's rate is stepped up, each step lasting
#   about STEP_SECONDS, up to the first step with a failed call (at either
#   sipp) or with calls completing at less than 95% of the requested rate.
# tokio sizes its worker pool from the CPU affinity, so the pinning also sets
# the number of worker threads.
#
# Environment:
#   RATES         calls/s of the rate steps, ascending
#                 (default "1000 2000 4000 6000 8000 12000 16000 24000")
#   STEP_SECONDS  length of one rate step in seconds at the requested rate (default 10)
#   CPU_CALLS     calls of a CPU-per-call run (default 5000)
#   CPU_RATE      calls/s of a CPU-per-call run (default 500)
#   CPU_ROUNDS    CPU-per-call runs of each case and core set (default 3)
#   CASES         the cases to run (default "redirect-sign proxy-sign redirect-verify proxy-verify")
#   CORE_SETS     the taskset CPU lists (default "0 0,1")
#   RUSTC_WAIT    seconds to wait, over the whole run, for rustc processes to end (default 600)
#   KEEP_WORK     when set, the temporary directory with stird's logs and
#                 sipp's files is kept instead of removed
#
# sipp runs unpinned on the same machine, so on a 2-core machine it shares the
# cores with stird, and each sipp handles all its calls on one thread. Before
# each core set and each case's rate steps the script waits until no rustc
# process runs, at most 10 minutes in all (RUSTC_WAIT). The report says when
# it measured while one did. Progress goes to stderr and the Markdown report to stdout.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

rates=${RATES:-1000 2000 4000 6000 8000 12000 16000 24000}
step_seconds=${STEP_SECONDS:-10}
cpu_calls=${CPU_CALLS:-5000}
cpu_rate=${CPU_RATE:-500}
cpu_rounds=${CPU_ROUNDS:-3}
read -r -a cases <<<"${CASES:-redirect-sign proxy-sign redirect-verify proxy-verify}"
read -r -a core_sets <<<"${CORE_SETS:-0 0,1}"
rustc_wait=${RUSTC_WAIT:-600}

# The limit of one sipp run (its -timeout), and the hard limit of `timeout`
# above it. A verify
# run must also end within the 60 s freshness window of the PASSporTs it sends.
sipp_timeout=$((3 * step_seconds > 30 ? 3 * step_seconds : 30))
kill_after=$((sipp_timeout + 15))
# Seconds the terminating sipp may take after the originating one has ended.
uas_grace=10

log() { printf '==> %s\n' "$*" >&2; }

for tool in sipp taskset; do
    command -v "$tool" >/dev/null || { echo "$tool not found; install it (sipp: Debian package sip-tester)" >&2; exit 1; }
done
for case_name in "${cases[@]}"; do
    case $case_name in
        redirect-sign | proxy-sign | redirect-verify | proxy-verify) ;;
        *) echo "invalid case '$case_name' in CASES" >&2; exit 1 ;;
    esac
done

log "building stird (release)"
cargo build --release -p stird >&2
stird=$repo_root/target/release/stird
# The commit built, and whether the sources differed from it.
built_from=$(git rev-parse --short HEAD)
if [[ -n $(git status --porcelain -- crates Cargo.toml Cargo.lock) ]]; then
    built_from+=" with uncommitted changes"
fi

work=$(mktemp -d)
demo_pid=
declare -A stird_pid=()
uas_pid=
# Stops a process this script started, given its pid, and reaps it.
stop() {
    if [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; then
        kill "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
    fi
}
cleanup() {
    stop "$uas_pid"
    for pid in "${stird_pid[@]}"; do
        stop "$pid"
    done
    stop "$demo_pid"
    if [[ -n ${KEEP_WORK:-} ]]; then
        log "kept the logs and sipp files in $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

measured_under_load=
# Waits until no rustc process runs, so that compiles do not skew the
# figures, and records it when one still runs. The waits of a whole run add up
# to at most RUSTC_WAIT seconds.
rustc_waited=0
wait_for_idle_compilers() {
    while pgrep -x rustc >/dev/null && ((rustc_waited < rustc_wait)); do
        ((rustc_waited % 60 == 0)) && log "rustc is running; waiting ($rustc_waited of at most $rustc_wait s)"
        sleep 10
        rustc_waited=$((rustc_waited + 10))
    done
    if pgrep -x rustc >/dev/null; then
        log "rustc is running and the $rustc_wait s of waiting are used up; measuring anyway"
        measured_under_load+="$1; "
    fi
}

# Starts stird with the arguments after the first, writing its stdout and
# stderr to $work/NAME.out and .err for the name given first. Sets started_pid
# and started_ready (the readiness line), waiting at most 60 s for it.
start_stird() {
    local name=$1
    shift
    "$@" serve "${serve_args[@]}" >"$work/$name.out" 2>"$work/$name.err" &
    started_pid=$!
    started_ready=
    for _ in $(seq 600); do
        started_ready=$(grep -m1 '^stird ready: ' "$work/$name.out" || true)
        [[ -n $started_ready ]] && break
        kill -0 "$started_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -z $started_ready ]]; then
        echo "$name: stird printed no readiness line within 60 s; its log:" >&2
        cat "$work/$name.err" >&2
        exit 1
    fi
}

log "starting the stird serve demo (PKI and x5u repository) in $work"
serve_args=(--data-dir "$work/data" --sip 127.0.0.1:0 --http 127.0.0.1:0 --repository 127.0.0.1:0)
start_stird demo "$stird"
demo_pid=$started_pid
repository=$(sed -n 's/.*repository \([^,]*\).*/\1/p' <<<"$started_ready")
repository_port=$(sed -n 's|^https://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' <<<"$repository")
pki=$work/data/pki
demo_sip=$(sed -n 's/.*sip udp \([^,]*\).*/\1/p' <<<"$started_ready")
log "$started_ready"

# Picks a loopback UDP port that no socket uses now, for a terminating sipp.
free_udp_port() {
    local port
    for _ in $(seq 50); do
        port=$((20000 + RANDOM % 10000))
        if ! awk -v port="$(printf ':%04X' "$port")" 'substr($2, length($2) - 4) == port { found = 1 } END { exit !found }' /proc/net/udp; then
            echo "$port"
            return
        fi
    done
    echo "no free UDP port found in 50 tries" >&2
    exit 1
}

# The stird configuration of case $1, forwarding to port $2 in proxy mode.
case_config() {
    local role=${1#*-} mode=${1%-*}
    printf '[[listener]]\nname = "%s"\ntransport = "udp"\nbind = "127.0.0.1:0"\nrole = "%s"\nmode = "%s"\n' "$1" "$role" "$mode"
    if [[ $mode == proxy ]]; then
        printf 'next_hop = "127.0.0.1:%s"\n' "$2"
    fi
    if [[ $role == sign ]]; then
        printf '\n[[credential]]\nname = "demo"\nkey = "%s"\nchain = "%s"\nx5u = "%s"\nattest_max = "A"\ndefault = true\n' \
            "$pki/subscriber.key.pem" "$pki/chain.pem" "$repository"
    else
        printf '\n[trust]\nca_files = ["%s"]\n' "$pki/root.pem"
    fi
    # The demo's repository, which a signing stird checks its x5u URL against
    # and a verifying stird fetches the certificate from.
    printf '\n[x5u]\nallowed_ports = [%s]\nallow_addresses = ["127.0.0.1"]\ntls_ca_file = "%s"\n' \
        "$repository_port" "$work/data/tls/tls-ca.pem"
    printf '\n[api]\nbind = "127.0.0.1:0"\n'
}

# The sipp scenarios, derived from those of examples/sipp. The verify
# scenarios take the PASSporT from field 0 of an -inf file and its parameters
# from -key params.
identity_line='      Identity: [field0][params]'
sed 's/^      Identity: \[identity\]$/'"$identity_line"'/' examples/sipp/verify.xml >"$work/redirect-verify-uac.xml"
awk -v line="$identity_line" '{ print } /^      Contact: / && !done { print line; done = 1 }' \
    examples/sipp/proxy-uac.xml >"$work/proxy-verify-uac.xml"
sed -e '/regexp="verstat=TN-Validation-Passed"/d' -e 's/variables="identity,verstat"/variables="identity"/' \
    examples/sipp/proxy-uas.xml >"$work/proxy-sign-uas.xml"
cp examples/sipp/sign.xml "$work/redirect-sign-uac.xml"
cp examples/sipp/proxy-uac.xml "$work/proxy-sign-uac.xml"
cp examples/sipp/proxy-uas.xml "$work/proxy-verify-uas.xml"
for check in redirect-verify-uac proxy-verify-uac; do
    grep -qF '[field0][params]' "$work/$check.xml" || { echo "could not add the Identity line to $check.xml" >&2; exit 1; }
done
if grep -q 'regexp="verstat' "$work/proxy-sign-uas.xml"; then
    echo "could not remove the verstat check from proxy-uas.xml" >&2
    exit 1
fi

# One PASSporT from +12025550100 to +12025550101 with the demo key, as stird
# sign writes it: the JWS, then ";info=<URL>;alg=ES256;ppt=shaken".
sign_identity() {
    "$stird" sign --key "$pki/subscriber.key.pem" --x5u "$repository" \
        --attest A --orig +12025550100 --dest +12025550101
}
params=$(sign_identity | sed 's/^[^;]*//')
# A scenario that collects the PASSporTs of the demo's 302 responses, which
# give the CPU-per-call runs of the verify cases a distinct PASSporT per call.
# `stird sign` starts one process per PASSporT, too slow for thousands within
# the 60 s freshness window.
sed -e 's/regexp="eyJ\[^\\r\\n\]\*"/regexp="eyJ[^;\\r\\n]*"/' \
    -e 's|assign_to="identity"/>|assign_to="identity"/>\n      <log message="[$identity]"/>|' \
    -e '/<Reference variables="identity"\/>/d' \
    examples/sipp/sign.xml >"$work/collect.xml"
grep -qF '<log message=' "$work/collect.xml" || { echo "could not add the log action to collect.xml" >&2; exit 1; }

# Writes an -inf file of $2 PASSporTs to $1: one from `stird sign`, sent in
# every call, when $2 is 1, else distinct ones that the demo (not pinned, and
# not measured) signs in 302 responses to sipp at 2,000 calls/s.
write_identities() {
    local file=$1 count=$2
    {
        echo SEQUENTIAL
        if ((count == 1)); then
            sign_identity | sed 's/;.*//'
        else
            rm -f "$work/collect.log"
            (cd "$work" && timeout "$kill_after" sipp -sf "$work/collect.xml" -i 127.0.0.1 -t u1 -nostdin \
                -r 2000 -m "$count" -l 2000 -timeout "${sipp_timeout}s" -timeout_error \
                -trace_logs -log_file "$work/collect.log" "$demo_sip" >"$work/collect.out" 2>&1) ||
                { echo "collecting $count PASSporTs from the demo failed:" >&2; tail -n 5 "$work/collect.out" >&2; exit 1; }
            grep -o 'eyJ[^;[:space:]]*' "$work/collect.log" | sort -u
        fi
    } >"$file"
    local lines
    lines=$(($(wc -l <"$file") - 1))
    if ((lines != count)); then
        echo "$lines PASSporTs written to $file instead of $count" >&2
        exit 1
    fi
}

clock_ticks=$(getconf CLK_TCK)
# utime + stime of process $1 in clock ticks, all its threads together. Fields
# are counted after the ")" that ends the command name, where utime and stime
# are the 12th and 13th.
process_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
warning_count() { grep -c -E ' (WARN|ERROR) ' "$work/$1.err" || true; }
thousands() { sed ':a; s/\B[0-9]\{3\}\>/,&/; ta' <<<"$1"; }

# The last value of the named column in a sipp statistics file (-trace_stat).
sipp_stat() {
    [[ -s $1 ]] || { echo 0; return; }
    awk -F';' -v name="$2" '
        NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) column = i; next }
        { value = $column }
        END { print value + 0 }' "$1"
}

# Prints "started succeeded": the rates at which sipp started calls and saw
# them succeed, from the statistics file that it writes every second. Each is
# the count between the first row and the last row before all calls had
# started, over the time between those rows, so the wait for the last
# responses is left out. Prints nothing with fewer than two such rows.
sipp_rates() {
    awk -F';' -v calls="$2" '
        NR == 1 {
            for (i = 1; i <= NF; i++) {
                if ($i == "CurrentTime") time_column = i
                if ($i == "OutgoingCall(C)") started_column = i
                if ($i == "SuccessfulCall(C)") succeeded_column = i
            }
            next
        }
        {
            split($time_column, stamp, "\t")
            if (rows == 0) {
                first_time = stamp[3]
                first_started = $started_column
                first_succeeded = $succeeded_column
            }
            rows++
            if ($started_column < calls) {
                last_time = stamp[3]
                last_started = $started_column
                last_succeeded = $succeeded_column
            }
        }
        END {
            if (last_time > first_time) {
                seconds = last_time - first_time
                printf "%.0f %.0f\n", (last_started - first_started) / seconds, (last_succeeded - first_succeeded) / seconds
            }
        }' "$1"
}

# The nonzero cumulative failure counters of a sipp statistics file other than
# the total, as "name value" pairs separated by commas.
sipp_failures() {
    [[ -s $1 ]] || { echo "no statistics written"; return; }
    awk -F';' '
        NR == 1 { for (i = 1; i <= NF; i++) name[i] = $i; next }
        { for (i = 1; i <= NF; i++) value[i] = $i }
        END {
            for (i = 1; i in name; i++) {
                if (name[i] ~ /^Failed.*\(C\)$/ && name[i] != "FailedCall(C)" && value[i] + 0 > 0) {
                    text = text (text == "" ? "" : ", ") substr(name[i], 7, length(name[i]) - 9) " " value[i] + 0
                }
            }
            print text
        }' "$1"
}

# The seconds since boot and the idle seconds of all cores together.
machine_seconds() {
    awk -v hz="$clock_ticks" '
        FILENAME == "/proc/uptime" { uptime = $1 }
        FILENAME == "/proc/stat" && /^cpu / { idle = ($5 + $6) / hz }
        END { print uptime, idle }' /proc/uptime /proc/stat
}

# Waits, at most 5 s, until a socket is bound to UDP port $1.
wait_for_udp_port() {
    local pattern
    pattern=$(printf ':%04X' "$1")
    for _ in $(seq 50); do
        awk -v port="$pattern" 'substr($2, length($2) - 4) == port { found = 1 } END { exit !found }' /proc/net/udp && return 0
        sleep 0.1
    done
    return 1
}

# Runs one load of case $1 at rate $2 for $3 calls against the stird of core
# set $4, with PASSporTs from the -inf file $5 for the verify cases, and sets
# the run_* variables.
run_sipp() {
    local case_name=$1 rate=$2 calls=$3 cores=$4 identities=${5:-}
    local tag="$case_name-${cores/,/-}-$rate-$calls-$SECONDS"
    local stat="$work/$tag.csv" output="$work/$tag.log" errors="$work/$tag-errors.log"
    local uas_stat="$work/$tag-uas.csv" uas_output="$work/$tag-uas.log" uas_errors="$work/$tag-uas-errors.log"
    local key=${case_name}@$cores pid=${stird_pid[${case_name}@$cores]}
    local extra=()
    if [[ $case_name == *-verify ]]; then
        extra=(-inf "$identities" -key params "$params")
    fi

    uas_pid=
    if [[ $case_name == proxy-* ]]; then
        (
            cd "$work"
            exec timeout "$kill_after" sipp -sf "$work/$case_name-uas.xml" -i 127.0.0.1 -p "${uas_port[$key]}" \
                -t u1 -nostdin -m "$calls" -timeout "${sipp_timeout}s" -timeout_error \
                -trace_stat -stf "$uas_stat" -fd 1 -trace_err -error_file "$uas_errors"
        ) >"$uas_output" 2>&1 &
        uas_pid=$!
        if ! wait_for_udp_port "${uas_port[$key]}"; then
            echo "$case_name: the terminating sipp did not bind port ${uas_port[$key]} within 5 s:" >&2
            cat "$uas_output" >&2
            exit 1
        fi
    fi

    local ticks_before warnings_before machine_before timing
    ticks_before=$(process_ticks "$pid")
    warnings_before=$(warning_count "$key")
    machine_before=$(machine_seconds)
    run_rc=0
    timing=$(
        cd "$work"
        TIMEFORMAT='%R %U %S'
        { time timeout "$kill_after" sipp -sf "$work/$case_name-uac.xml" "${extra[@]}" \
            -i 127.0.0.1 -t u1 -nostdin \
            -r "$rate" -m "$calls" -l "$rate" \
            -timeout "${sipp_timeout}s" -timeout_error \
            -trace_stat -stf "$stat" -fd 1 -trace_err -error_file "$errors" \
            "${target[$key]}" >"$output" 2>&1; } 2>&1
    ) || run_rc=$?
    run_ticks=$(($(process_ticks "$pid") - ticks_before))
    run_machine_cpu=$(awk -v before="$machine_before" -v after="$(machine_seconds)" -v cores="$(nproc)" 'BEGIN {
        split(before, b, " ")
        split(after, a, " ")
        wall = (a[1] - b[1]) * cores
        printf "%.0f", (wall > 0 ? 100 * (1 - (a[2] - b[2]) / wall) : 0)
    }')

    run_uas_rc=0 run_uas_failed=0 run_uas_ok=
    if [[ -n $uas_pid ]]; then
        # The terminating sipp ends once it has seen every call. A call lost
        # on the way keeps it waiting, so it gets uas_grace seconds.
        local waited=0
        while kill -0 "$uas_pid" 2>/dev/null && ((waited < uas_grace * 10)); do
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 "$uas_pid" 2>/dev/null; then
            stop "$uas_pid"
            run_uas_rc=timeout
        else
            wait "$uas_pid" || run_uas_rc=$?
        fi
        uas_pid=
        run_uas_ok=$(sipp_stat "$uas_stat" 'SuccessfulCall(C)')
        run_uas_failed=$(sipp_stat "$uas_stat" 'FailedCall(C)')
        run_uas_failures=$(sipp_failures "$uas_stat")
        run_uas_output=$uas_output
    fi
    run_warnings=$(($(warning_count "$key") - warnings_before))

    read -r run_real run_user run_system <<<"$timing"
    if [[ -s $stat ]]; then
        run_ok=$(sipp_stat "$stat" 'SuccessfulCall(C)')
        run_failed=$(sipp_stat "$stat" 'FailedCall(C)')
        run_retransmissions=$(sipp_stat "$stat" 'Retransmissions(C)')
    else
        run_ok=0 run_failed=$calls run_retransmissions=0
    fi
    run_failures=$(sipp_failures "$stat")
    run_output=$output
    run_started= run_succeeded=
    read -r run_started run_succeeded < <(sipp_rates "$stat" "$calls" 2>/dev/null) || true
    if [[ -z ${run_succeeded:-} ]]; then
        run_started=$(awk -v ok="$run_ok" -v real="$run_real" 'BEGIN { printf "%.0f", ok / real }')
        run_succeeded=$run_started
    fi
    run_us=$(awk -v t="$run_ticks" -v hz="$clock_ticks" -v n="$calls" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }')
    run_stird_cpu=$(awk -v t="$run_ticks" -v hz="$clock_ticks" -v real="$run_real" 'BEGIN { printf "%.0f", 100 * t / hz / real }')
    run_sipp_cpu=$(awk -v u="$run_user" -v s="$run_system" -v real="$run_real" 'BEGIN { printf "%.0f", 100 * (u + s) / real }')
    run_bad=0
    if ((run_failed > 0 || run_uas_failed > 0)) || [[ $run_rc != 0 || $run_uas_rc != 0 ]]; then
        run_bad=1
        {
            echo "$case_name on cores $cores at $rate calls/s: $run_failed failed calls at the originating sipp (status $run_rc), $run_uas_failed at the terminating one (status $run_uas_rc)"
            echo "  originating sipp, first lines of $errors:"
            head -n 12 "$errors" 2>/dev/null | sed 's/^/    /'
            if [[ $case_name == proxy-* ]]; then
                echo "  terminating sipp, first lines of $uas_errors:"
                head -n 12 "$uas_errors" 2>/dev/null | sed 's/^/    /'
            fi
        } >&2
    fi
}

# Starts the pinned stird of every case for core set $1.
start_cases() {
    local cores=$1 case_name key port
    for case_name in "${cases[@]}"; do
        key=$case_name@$cores
        port=
        if [[ $case_name == proxy-* ]]; then
            port=$(free_udp_port)
            uas_port[$key]=$port
        fi
        case_config "$case_name" "$port" >"$work/$key.toml"
        serve_args=(--config "$work/$key.toml")
        start_stird "$key" taskset -c "$cores" "$stird"
        stird_pid[$key]=$started_pid
        target[$key]=$(sed -n 's/.*sip udp \([^,]*\).*/\1/p' <<<"$started_ready")
        threads[$key]=$(awk '/^Threads:/ { print $2 }' "/proc/$started_pid/status")
        affinity[$key]=$(taskset -pc "$started_pid" | sed 's/.*: //')
        log "$key: pid $started_pid, affinity ${affinity[$key]}, ${threads[$key]} threads, $started_ready"
    done
}

declare -A uas_port=() target=() threads=() affinity=()
declare -A cpu_us=() cpu_range=() max_rate=() stop_reason=() warnings_total=()
steps_table=
problems=

for cores in "${core_sets[@]}"; do
    wait_for_idle_compilers "cores $cores, CPU per call"
    start_cases "$cores"

    # A warm-up: the verifying processes fetch the certificate here.
    write_identities "$work/warm-up.csv" 1
    for case_name in "${cases[@]}"; do
        log "$case_name@$cores: warm-up, 200 calls at 200 calls/s"
        run_sipp "$case_name" 200 200 "$cores" "$work/warm-up.csv"
        if ((run_bad)); then
            echo "$case_name@$cores: the warm-up failed; the last lines of stird's log:" >&2
            tail -n 20 "$work/$case_name@$cores.err" >&2
            exit 1
        fi
    done

    # 1. stird's CPU time per call, the cases interleaved.
    declare -A cpu_runs=() cpu_failed=()
    for round in $(seq "$cpu_rounds"); do
        for case_name in "${cases[@]}"; do
            key=$case_name@$cores
            identities=
            if [[ $case_name == *-verify ]]; then
                identities=$work/distinct.csv
                log "$key: collecting $(thousands "$cpu_calls") PASSporTs from the demo"
                write_identities "$identities" "$cpu_calls"
            fi
            log "$key: CPU per call, round $round of $cpu_rounds, $(thousands "$cpu_calls") calls at $cpu_rate calls/s"
            run_sipp "$case_name" "$cpu_rate" "$cpu_calls" "$cores" "$identities"
            cpu_runs[$key]+="$run_us "
            cpu_failed[$key]=$((${cpu_failed[$key]:-0} + run_failed + run_uas_failed))
            log "$key: $run_us µs per call ($run_ticks ticks of 1/$clock_ticks s)"
            if ((run_bad)); then
                problems+="- $key, CPU run at $cpu_rate calls/s: $run_failed failed calls at the originating sipp, $run_uas_failed at the terminating one, $run_warnings stird warnings"$'\n'
            fi
        done
    done
    for case_name in "${cases[@]}"; do
        key=$case_name@$cores
        sorted=$(tr ' ' '\n' <<<"${cpu_runs[$key]}" | sed '/^$/d' | sort -g)
        cpu_us[$key]=$(awk '{ value[NR] = $1 } END { printf "%.1f", NR % 2 ? value[(NR + 1) / 2] : (value[NR / 2] + value[NR / 2 + 1]) / 2 }' <<<"$sorted")
        cpu_range[$key]="$(head -n 1 <<<"$sorted")–$(tail -n 1 <<<"$sorted") µs"
        if ((cpu_failed[$key] > 0)); then
            cpu_range[$key]+=", ${cpu_failed[$key]} failed calls"
        fi
    done

    # 2. Maximum sustained rate of each case.
    for case_name in "${cases[@]}"; do
        key=$case_name@$cores
        wait_for_idle_compilers "$key, rate steps"
        max_rate[$key]=none
        stop_reason[$key]="all steps passed"
        for rate in $rates; do
            calls=$((rate * step_seconds))
            identities=
            if [[ $case_name == *-verify ]]; then
                identities=$work/reused.csv
                write_identities "$identities" 1
            fi
            log "$key: $(thousands "$calls") calls at $(thousands "$rate") calls/s"
            run_sipp "$case_name" "$rate" "$calls" "$cores" "$identities"
            failed_cell=$(thousands "$run_failed")
            if [[ $case_name == proxy-* ]]; then
                failed_cell+=" / $(thousands "$run_uas_failed")"
            fi
            steps_table+="| $case_name | $cores | $(thousands "$rate") | $(thousands "$run_started") | $(thousands "$run_succeeded") | $failed_cell | $(thousands "$run_retransmissions") | $run_stird_cpu% | $run_us µs | $run_sipp_cpu% | $run_machine_cpu% | $run_warnings |"$'\n'
            if ((run_bad)); then
                stop_reason[$key]="failed calls at $(thousands "$rate") calls/s: $(thousands "$run_failed") originating"
                if [[ -n $run_failures ]]; then
                    stop_reason[$key]+=" ($run_failures)"
                fi
                if [[ $case_name == proxy-* ]]; then
                    stop_reason[$key]+=", $(thousands "$run_uas_failed") terminating"
                    if [[ -n ${run_uas_failures:-} ]]; then
                        stop_reason[$key]+=" ($run_uas_failures)"
                    fi
                fi
                break
            fi
            if ((run_succeeded * 100 < rate * 95)); then
                stop_reason[$key]="$(thousands "$run_succeeded") of $(thousands "$rate") calls/s completed, $(thousands "$run_started") started"
                break
            fi
            max_rate[$key]=$rate
        done
        log "$key: max rate ${max_rate[$key]}, stopped: ${stop_reason[$key]}"
    done

    for case_name in "${cases[@]}"; do
        key=$case_name@$cores
        warnings_total[$key]=$(warning_count "$key")
        stop "${stird_pid[$key]}"
    done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print ""; else printf "%.2f", a / b }'; }
rate_value() { [[ ${max_rate[$1]:-none} == none ]] && echo "" || echo "${max_rate[$1]}"; }
rate_cell() { [[ ${max_rate[$1]:-none} == none ]] && echo "below $(thousands "${rates%% *}")" || thousands "${max_rate[$1]}"; }
first=${core_sets[0]}
second=${core_sets[1]:-}

cat <<EOF

## stird proxy and redirect modes ($(date -u +%Y-%m-%d), $(nproc) cores, sipp $(sipp -v 2>&1 | sed -n 's/.*SIPp \(v[0-9.]*\).*/\1/p'), UDP, stird built from $built_from)

stird CPU per call: the median of $cpu_rounds runs of $(thousands "$cpu_calls") calls at $cpu_rate calls/s, with the range of the runs. Max rate: steps of $step_seconds s, the highest step without a failed call at either sipp in which calls completed at 95% or more of the requested rate.

| case | cores | stird threads | stird CPU per call | runs | max rate (calls/s) | search stopped at |
| --- | --- | ---: | ---: | ---: | ---: | --- |
EOF
for cores in "${core_sets[@]}"; do
    for case_name in "${cases[@]}"; do
        key=$case_name@$cores
        echo "| $case_name | ${affinity[$key]} | ${threads[$key]} | ${cpu_us[$key]} µs | ${cpu_range[$key]} | $(rate_cell "$key") | ${stop_reason[$key]} |"
    done
done

echo
echo "| ratio | cores ${first} |${second:+ cores ${second} |}"
echo "| --- | ---: |${second:+ ---: |}"
for pair in "proxy-sign redirect-sign" "proxy-verify redirect-verify"; do
    read -r over under <<<"$pair"
    line="| CPU per call, $over / $under | $(ratio "${cpu_us[$over@$first]:-}" "${cpu_us[$under@$first]:-}") |"
    [[ -n $second ]] && line+=" $(ratio "${cpu_us[$over@$second]:-}" "${cpu_us[$under@$second]:-}") |"
    echo "$line"
done
if [[ -n $second ]]; then
    for case_name in "${cases[@]}"; do
        echo "| max rate, $case_name, cores $second / cores $first | | $(ratio "$(rate_value "$case_name@$second")" "$(rate_value "$case_name@$first")") |"
    done
fi

cat <<EOF

| case | cores | requested calls/s | started calls/s | completed calls/s | failed (originating / terminating) | retransmissions | stird CPU | stird CPU per call | originating sipp CPU | machine CPU | stird warnings |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${steps_table}
"started" and "completed" are the rates at which the originating sipp started calls and completed them successfully while it was starting them. "stird CPU" and "originating sipp CPU" are shares of one core over the step's wall time, and "machine CPU" is the busy share of all $(nproc) cores, other work on the machine included.
EOF
echo
for cores in "${core_sets[@]}"; do
    for case_name in "${cases[@]}"; do
        key=$case_name@$cores
        echo "- $key: stird logged ${warnings_total[$key]} warnings or errors."
        if ((warnings_total[$key] > 0)); then
            # The timestamp and the key=value fields are cut, so that lines of
            # one kind are counted together.
            grep -E ' (WARN|ERROR) ' "$work/$key.err" | sed -E 's/^[^ ]+ +//; s/ [a-z_]+=.*$//' |
                sort | uniq -c | sort -rn | sed -n '1,5s/^ */  - /p'
        fi
    done
done
if [[ -n $problems ]]; then
    echo
    echo "Failed calls in the CPU runs:"
    echo
    printf '%s' "$problems"
fi
if [[ -n $measured_under_load ]]; then
    echo
    echo "Measured while rustc was running: ${measured_under_load%; }."
fi

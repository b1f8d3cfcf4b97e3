#!/usr/bin/env bash
# Benchmarks `stird serve` (the demo) as a SIP redirect server under sipp load.
#
# Usage: scripts/bench-sip.sh
#
# For each of the scenarios examples/sipp/sign.xml, verify.xml and options.xml
# the script measures:
# - stird's CPU time per call: utime + stime of the stird process, read from
#   /proc/PID/stat before and after a fixed run at a moderate rate, repeated
#   CPU_ROUNDS times with the scenarios interleaved, and the median taken;
# - the maximum sustained rate: sipp's rate is stepped up, each step lasting
#   about STEP_SECONDS. The search stops at the first step with a failed call
#   or with calls completing at less than 95% of the requested rate, because
#   stird falls behind or sipp cannot start calls that fast.
# In the same run it takes bare aws-lc-rs ECDSA P-256 sign and verify times
# from `cargo bench -p passport --bench jws` and prints the ratios of stird's
# CPU per call to them. Progress goes to stderr and the Markdown report to
# stdout.
#
# Each verify run sends one PASSporT, signed right before the run, in every
# call. stird reports each call after the first as a replay (a Warning header
# and a rate-limited log line) and still verifies it, so the verify figures
# include the replay lookup but not the insertion of a new PASSporT per call.
#
# Environment:
#   RATES         calls/s of the rate steps, ascending
#                 (default "500 1000 2000 3000 4000 6000 8000 12000 16000 24000 32000")
#   STEP_SECONDS  length of one rate step in seconds at the requested rate (default 10)
#   CPU_CALLS     calls of the CPU-per-call run (default 20000)
#   CPU_RATE      calls/s of the CPU-per-call run (default 1000)
#   CPU_ROUNDS    CPU-per-call runs of each scenario (default 3)
#   TRANSPORT     sipp transport: u1 (UDP, one socket) or t1 (TCP, one connection) (default u1)
#
# sipp runs on the same machine as stird, so the two share its cores, and sipp
# handles all calls on one thread.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
# shellcheck source=scripts/bench-common.sh
source "$repo_root/scripts/bench-common.sh"

rates=${RATES:-500 1000 2000 3000 4000 6000 8000 12000 16000 24000 32000}
step_seconds=${STEP_SECONDS:-10}
cpu_calls=${CPU_CALLS:-20000}
cpu_rate=${CPU_RATE:-1000}
cpu_rounds=${CPU_ROUNDS:-3}
transport=${TRANSPORT:-u1}
scenarios=(sign verify options)

# sipp's own limit on a run, and the hard limit of `timeout` above it. A verify
# step must also end within the 60 s freshness window of the PASSporT it sends.
sipp_timeout=$((3 * step_seconds > 60 ? 3 * step_seconds : 60))
kill_after=$((sipp_timeout + 30))

command -v sipp >/dev/null || { echo "sipp not found; install it (Debian package sip-tester)" >&2; exit 1; }
case $transport in
    u1 | t1) ;;
    *) echo "invalid TRANSPORT '$transport'; expected u1 or t1" >&2; exit 1 ;;
esac

build_stird
start_demo
repository=$(sed -n 's/.*repository \([^,]*\).*/\1/p' <<<"$ready")
if [[ $transport == u1 ]]; then
    target=$(sed -n 's/.*sip udp \([^,]*\).*/\1/p' <<<"$ready")
else
    target=$(sed -n 's/.*sip tcp \([^,]*\).*/\1/p' <<<"$ready")
fi

clock_ticks=$(getconf CLK_TCK)
# The local address of stird's UDP socket as /proc/net/udp writes it.
udp_address=$(printf '0100007F:%04X' "${target##*:}")

stird_rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$stird_pid/status"; }
# Datagrams the kernel dropped because stird's UDP receive buffer was full.
stird_udp_drops() {
    awk -v address="$udp_address" '$2 == address { print $NF; found = 1 } END { if (!found) print 0 }' /proc/net/udp
}
# Datagrams the kernel dropped on all UDP sockets because a receive buffer was
# full (RcvbufErrors in /proc/net/snmp). Over loopback, those not at stird are
# mostly sipp's.
udp_receive_buffer_drops() {
    awk '$1 == "Udp:" && !header { for (i = 2; i <= NF; i++) if ($i == "RcvbufErrors") column = i; header = 1; next }
         $1 == "Udp:" { print $column }' /proc/net/snmp
}
stird_warnings() { grep -c -E ' (WARN|ERROR) ' "$work/stird.err" || true; }

sign_identity() {
    "$stird" sign --key "$work/data/pki/subscriber.key.pem" --x5u "$repository" \
        --attest A --orig +12025550100 --dest +12025550101
}

# The last value of the named column in a sipp statistics file (-trace_stat).
sipp_stat() {
    awk -F';' -v name="$2" '
        NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) column = i; next }
        { value = $column }
        END { print value + 0 }' "$1"
}

# The rates at which sipp started calls and saw them succeed, from the
# statistics file that it writes every second: counts between the first row
# and the last row before all calls had started, over the time between those
# rows. Unlike calls over the wall time of the run, this leaves out the wait for
# the last responses and their retransmissions. Prints "started succeeded", or
# nothing with fewer than two such rows.
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

# The seconds since boot and the idle seconds of all cores together. The busy
# share is taken as what is not idle, because a tickless kernel measures idle
# time exactly but samples busy time at each tick. A server that wakes for tens
# of microseconds at a time is mostly missed by those samples.
machine_seconds() {
    awk -v hz="$clock_ticks" '
        FILENAME == "/proc/uptime" { uptime = $1 }
        FILENAME == "/proc/stat" && /^cpu / { idle = ($5 + $6) / hz }
        END { print uptime, idle }' /proc/uptime /proc/stat
}

# The nonzero cumulative failure counters of a sipp statistics file other than
# the total, as "name value" pairs separated by commas.
sipp_failures() {
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

# Sets the run_* results that come from sipp's statistics file $1 of a run of
# $2 calls, whose wall time is $3 seconds.
read_sipp_statistics() {
    local stat=$1 calls=$2 real=$3
    if [[ -s $stat ]]; then
        run_ok=$(sipp_stat "$stat" 'SuccessfulCall(C)')
        run_failed=$(sipp_stat "$stat" 'FailedCall(C)')
        run_retransmissions=$(sipp_stat "$stat" 'Retransmissions(C)')
        run_failures=$(sipp_failures "$stat")
    else
        run_ok=0 run_failed=$calls run_retransmissions=0 run_failures="no statistics written"
    fi

    run_started= run_succeeded=
    read -r run_started run_succeeded < <(sipp_rates "$stat" "$calls" 2>/dev/null) || true
    if [[ -z ${run_succeeded:-} ]]; then
        run_started=$(awk -v ok="$run_ok" -v real="$real" 'BEGIN { printf "%.0f", ok / real }')
        run_succeeded=$run_started
    fi
}

# Runs one sipp load of scenario $1 at rate $2 for $3 calls and sets the run_*
# variables. A verify run gets an Identity signed right before it.
run_sipp() {
    local name=$1 rate=$2 calls=$3
    local stat="$work/$name-$rate-$calls.csv" output="$work/$name-$rate-$calls.log"
    local keys=()
    if [[ $name == verify ]]; then
        keys=(-key identity "$(sign_identity)")
    fi

    local ticks_before drops_before all_drops_before warnings_before machine_before timing
    ticks_before=$(stird_ticks)
    drops_before=$(stird_udp_drops)
    all_drops_before=$(udp_receive_buffer_drops)
    warnings_before=$(stird_warnings)
    machine_before=$(machine_seconds)

    run_rc=0
    timing=$(
        cd "$work"
        TIMEFORMAT='%R %U %S'
        { time timeout "$kill_after" sipp -sf "$repo_root/examples/sipp/$name.xml" "${keys[@]}" \
            -i 127.0.0.1 -t "$transport" -nostdin \
            -r "$rate" -m "$calls" -l "$rate" \
            -timeout "${sipp_timeout}s" -timeout_error \
            -trace_stat -stf "$stat" -fd 1 \
            "$target" >"$output" 2>&1; } 2>&1
    ) || run_rc=$?

    run_ticks=$(($(stird_ticks) - ticks_before))
    run_machine_cpu=$(awk -v before="$machine_before" -v after="$(machine_seconds)" -v cores="$(nproc)" 'BEGIN {
        split(before, b, " ")
        split(after, a, " ")
        wall = (a[1] - b[1]) * cores
        printf "%.0f", (wall > 0 ? 100 * (1 - (a[2] - b[2]) / wall) : 0)
    }')
    if [[ $transport == u1 ]]; then
        local drops=$(($(stird_udp_drops) - drops_before))
        run_drops=$(thousands "$drops")
        run_other_drops=$(thousands $(($(udp_receive_buffer_drops) - all_drops_before - drops)))
    else
        run_drops=n/a run_other_drops=n/a
    fi
    run_warnings=$(($(stird_warnings) - warnings_before))

    read -r run_real run_user run_system <<<"$timing"
    read_sipp_statistics "$stat" "$calls" "$run_real"
    run_us=$(awk -v t="$run_ticks" -v hz="$clock_ticks" -v n="$calls" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }')
    run_stird_cpu=$(awk -v t="$run_ticks" -v hz="$clock_ticks" -v real="$run_real" 'BEGIN { printf "%.0f", 100 * t / hz / real }')
    run_sipp_cpu=$(awk -v u="$run_user" -v s="$run_system" -v real="$run_real" 'BEGIN { printf "%.0f", 100 * (u + s) / real }')

    if ((run_rc != 0 && run_failed == 0)); then
        echo "sipp exited with status $run_rc on $name at $rate calls/s; last lines of its output:" >&2
        tail -n 5 "$output" >&2
    fi
}

rss_start=$(stird_rss_kib)

# 1. stird's CPU time per call. A short warm-up first, so that the verify runs
# do not count the one certificate fetch.
for name in "${scenarios[@]}"; do
    log "$name: warm-up, 200 calls at 200 calls/s"
    run_sipp "$name" 200 200
    if ((run_failed > 0 || run_rc != 0)); then
        echo "$name: the warm-up had $run_failed failed calls (sipp status $run_rc); see the stird log below" >&2
        tail -n 20 "$work/stird.err" >&2
        exit 1
    fi
done
declare -A cpu_runs cpu_failed
for round in $(seq "$cpu_rounds"); do
    for name in "${scenarios[@]}"; do
        log "$name: CPU per call, round $round of $cpu_rounds, $cpu_calls calls at $cpu_rate calls/s"
        run_sipp "$name" "$cpu_rate" "$cpu_calls"
        cpu_runs[$name]+="$run_us "
        cpu_failed[$name]=$((${cpu_failed[$name]:-0} + run_failed))
        log "$name: $run_us µs per call ($run_ticks ticks of 1/$clock_ticks s)"
    done
done
# The median and range of the CPU-per-call runs of each scenario.
declare -A cpu_us cpu_range
for name in "${scenarios[@]}"; do
    sorted=$(tr ' ' '\n' <<<"${cpu_runs[$name]}" | sed '/^$/d' | sort -g)
    cpu_us[$name]=$(awk '{ value[NR] = $1 } END { printf "%.1f", NR % 2 ? value[(NR + 1) / 2] : (value[NR / 2] + value[NR / 2 + 1]) / 2 }' <<<"$sorted")
    cpu_range[$name]="$(head -n 1 <<<"$sorted")–$(tail -n 1 <<<"$sorted") µs"
    if ((cpu_failed[$name] > 0)); then
        cpu_range[$name]+=", ${cpu_failed[$name]} failed calls"
    fi
done
rss_after_cpu=$(stird_rss_kib)

# 2. Bare aws-lc-rs ECDSA P-256 sign and verify, in this run.
run_bare_bench

# 3. Maximum sustained rate per scenario.
declare -A max_rate max_rate_us stop_reason clean_rate retransmission_stop
steps_table=
for name in "${scenarios[@]}"; do
    max_rate[$name]=none
    clean_rate[$name]=none
    stop_reason[$name]="all steps passed"
    for rate in $rates; do
        calls=$((rate * step_seconds))
        log "$name: $(thousands "$calls") calls at $(thousands "$rate") calls/s"
        run_sipp "$name" "$rate" "$calls"
        steps_table+="| $name | $(thousands "$rate") | $(thousands "$calls") | $(thousands "$run_started") | $(thousands "$run_succeeded") | $(thousands "$run_failed") | $(thousands "$run_retransmissions") | $run_drops | $run_other_drops | $run_stird_cpu% | $run_us µs | $run_sipp_cpu% | $run_machine_cpu% |"$'\n'
        if ((run_failed > 0 || run_rc != 0)); then
            stop_reason[$name]="$(thousands "$run_failed") failed calls at $(thousands "$rate") calls/s"
            if [[ -n $run_failures ]]; then
                stop_reason[$name]+=" ($run_failures)"
            fi
            if ((run_warnings > 0)); then
                stop_reason[$name]+=", $run_warnings stird warnings"
            fi
            break
        fi
        if ((run_succeeded * 100 < rate * 95)); then
            stop_reason[$name]="$(thousands "$run_succeeded") of $(thousands "$rate") calls/s completed, $(thousands "$run_started") started"
            break
        fi
        max_rate[$name]=$rate
        max_rate_us[$name]=$run_us
        if [[ -z ${retransmission_stop[$name]:-} ]]; then
            if ((run_retransmissions * 100 < calls)); then
                clean_rate[$name]=$rate
            else
                retransmission_stop[$name]=$rate
            fi
        fi
    done
done
rss_end=$(stird_rss_kib)

mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
# The max rate cells of scenario $1: the rate, stird's CPU per call there and,
# given the bare operation's time $2, the ratio to it.
rate_cells() {
    if [[ ${max_rate[$1]} == none ]]; then
        echo "below $(thousands "${rates%% *}") | | "
    elif [[ -n ${2:-} ]]; then
        echo "$(thousands "${max_rate[$1]}") | ${max_rate_us[$1]} µs | $(ratio "${max_rate_us[$1]}" "$2")"
    else
        echo "$(thousands "${max_rate[$1]}") | ${max_rate_us[$1]} µs | "
    fi
}

cat <<EOF

## stird serve over SIP ($(date -u +%Y-%m-%d), $(nproc) cores, sipp $(sipp -v 2>&1 | sed -n 's/.*SIPp \(v[0-9.]*\).*/\1/p'), transport $transport)

stird CPU per call: the median of $cpu_rounds runs of $(thousands "$cpu_calls") calls at $(thousands "$cpu_rate") calls/s, with the range of the runs. Maximum rate: steps of $step_seconds s, the highest step without a failed call in which calls completed at 95% or more of the requested rate. Under 1% retransmitted: the highest such step below the first one in which 1% or more of the calls needed a retransmission.

| scenario | reference | stird CPU per call | runs | ratio | goal | max rate (calls/s) | stird CPU per call there | ratio there | search stopped at | max rate under 1% retransmitted |
| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- | ---: |
| sign | bare ECDSA P-256 sign, $bare_sign µs | ${cpu_us[sign]} µs | ${cpu_range[sign]} | $(ratio "${cpu_us[sign]}" "$bare_sign") | ≤ 2 | $(rate_cells sign "$bare_sign") | ${stop_reason[sign]} | $(thousands "${clean_rate[sign]}") |
| verify | bare ECDSA P-256 verify, $bare_verify µs | ${cpu_us[verify]} µs | ${cpu_range[verify]} | $(ratio "${cpu_us[verify]}" "$bare_verify") | ≤ 1.5 | $(rate_cells verify "$bare_verify") | ${stop_reason[verify]} | $(thousands "${clean_rate[verify]}") |
| options | SIP overhead alone | ${cpu_us[options]} µs | ${cpu_range[options]} | | | $(rate_cells options) | ${stop_reason[options]} | $(thousands "${clean_rate[options]}") |

| scenario | requested calls/s | calls | started calls/s | completed calls/s | failed | retransmissions | UDP drops at stird | other UDP drops | stird CPU | stird CPU per call | sipp CPU | machine CPU |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${steps_table}
"started" and "completed" are the rates at which sipp started calls and completed them successfully while it was starting them. "UDP drops" count datagrams the kernel dropped because a socket's receive buffer was full: at stird's socket, and at all other sockets, which on loopback are mostly sipp's. "stird CPU" and "sipp CPU" are shares of one core over the step's wall time, and "machine CPU" is the busy share of all $(nproc) cores, other work on the machine included. stird VmRSS: $(mib "$rss_start") at start, $(mib "$rss_after_cpu") after the CPU runs, $(mib "$rss_end") after the rate steps. stird logged $(stird_warnings) warnings or errors in the whole run.
EOF
if (($(stird_warnings) > 0)); then
    echo
    echo "stird warnings and errors by message, without their fields (at most 10):"
    echo
    # The timestamp and the key=value fields are cut, so that lines of one kind
    # are counted together. sed -n reads to the end, which head would not.
    grep -E ' (WARN|ERROR) ' "$work/stird.err" | sed -E 's/^[^ ]+ +//; s/ [a-z_]+=.*$//' |
        sort | uniq -c | sort -rn | sed -n '1,10s/^/    /p'
fi

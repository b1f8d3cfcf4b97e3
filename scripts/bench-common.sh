# Functions shared by the benchmark scripts, which source this file.
#
# A script sets repo_root before sourcing it, then calls build_stird and
# start_demo. start_demo sets work, stird_pid and ready. When the script
# exits, cleanup stops stird and removes the work directory.

log() { printf '==> %s\n' "$*" >&2; }

# Builds the release binary and the passport benchmarks, and sets stird.
build_stird() {
    log "building stird (release) and the passport benchmarks"
    cargo build --release -p stird >&2
    cargo bench -p passport --bench jws --no-run >&2
    stird=$repo_root/target/release/stird
}

cleanup() {
    if [[ -n ${stird_pid:-} ]] && kill -0 "$stird_pid" 2>/dev/null; then
        kill "$stird_pid"
        wait "$stird_pid" 2>/dev/null || true
    fi
    rm -rf "${work:?}"
}

# Starts the demo on free ports in a new work directory and waits at most
# 60 s for its readiness line, which names every address:
# stird ready: repository URL, sip udp ADDR, sip tcp ADDR, data DIR, http ADDR
start_demo() {
    work=$(mktemp -d)
    stird_pid=
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    log "starting stird serve in $work"
    "$stird" serve --data-dir "$work/data" --sip 127.0.0.1:0 --http 127.0.0.1:0 \
        --repository 127.0.0.1:0 >"$work/stird.out" 2>"$work/stird.err" &
    stird_pid=$!
    ready=
    for _ in $(seq 600); do
        ready=$(grep -m1 '^stird ready: ' "$work/stird.out" || true)
        [[ -n $ready ]] && break
        kill -0 "$stird_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -z $ready ]]; then
        echo "stird printed no readiness line within 60 s; its log:" >&2
        cat "$work/stird.err" >&2
        exit 1
    fi
    log "$ready"
}

# Prints utime + stime of stird in clock ticks: the 12th and 13th fields after
# the ")" that ends the command name in /proc/PID/stat.
stird_ticks() { sed 's/.*) //' "/proc/$stird_pid/stat" | awk '{ print $12 + $13 }'; }

# Runs the bare aws-lc-rs benchmarks of passport and sets bare_sign and
# bare_verify, in µs.
run_bare_bench() {
    log "cargo bench -p passport --bench jws -- --noplot 'bare aws-lc-rs'"
    cargo bench -p passport --bench jws -- --noplot 'bare aws-lc-rs' >"$work/bench.log" 2>&1
    bare_sign=$(bare_us sign)
    bare_verify=$(bare_us verify)
    if [[ -z $bare_sign || -z $bare_verify ]]; then
        echo "no bare aws-lc-rs times in the cargo bench output:" >&2
        cat "$work/bench.log" >&2
        exit 1
    fi
    log "bare sign $bare_sign µs, bare verify $bare_verify µs"
}

# Prints the time of benchmark group $1 in µs. Criterion prints the benchmark
# id, then "time: [low estimate high]" on the same or the next line, and the
# middle value is taken.
bare_us() {
    awk -v group="$1" '
        index($0, group "/bare aws-lc-rs") == 1 { found = 1 }
        found && /time:/ {
            text = $0
            sub(/.*\[/, "", text)
            split(text, field, " ")
            value = field[3]
            unit = field[4]
            if (unit == "ns") value /= 1000
            else if (unit == "ms") value *= 1000
            else if (unit == "s") value *= 1000000
            printf "%.2f", value
            exit
        }' "$work/bench.log"
}

# Writes an integer with comma thousands separators, whatever the locale.
thousands() { sed ':a; s/\B[0-9]\{3\}\>/,&/; ta' <<<"$1"; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

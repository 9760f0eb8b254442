#!/usr/bin/env bash
# Load benchmark of the chat API: wrk (Debian's package, installed if missing) drives customer turns
# (POST /v1/conversations/{id}/messages, real encoder, real SQLite) at several numbers of concurrent
# customers against a `madoguchi serve` started here on loopback, and prints one Markdown table.
#
#   benches/load.sh [--bin PATH] [--customers "50 200"] [--think-ms "0 1000"] [--duration 30s]
#                   [--database sqlite://PATH | postgres://...] [--messages FILE] [--warmup 5s]
#
# The server's memory: VmRSS once the model is loaded, after a warm-up run (--warmup, 8 customers
# without think time; 0 skips it), the highest VmRSS sampled during each row (the RSS column), and
# VmHWM (the peak since start) at the end.
#
# Each customer is one wrk connection: it sends a message, waits for the bot's turn, pauses
# (think time, exponential with the given mean; 0 = none, a saturation test) and sends the next.
# wrk shares the machine's cores with the server: on 2 cores that costs the server throughput.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/release/madoguchi
customers="50 200"
think="0 1000"
duration=30s
database=""
messages=../shared/bench/messages.txt
threads=2
warmup=5s
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin=$2; shift 2 ;;
        --customers) customers=$2; shift 2 ;;
        --think-ms) think=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --database) database=$2; shift 2 ;;
        --messages) messages=$2; shift 2 ;;
        --warmup) warmup=$2; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "load.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

die() { echo "load.sh: $*" >&2; exit 1; }
source benches/serve-lib.sh
check_inputs
ensure_wrk

work=$(mktemp -d)
server_pid=""
cleanup() {
    local status=$?
    if [ "$status" -ne 0 ] && [ -s "$work/server.log" ]; then
        echo "load.sh: failed; the server's last log lines:" >&2
        tail -n 20 "$work/server.log" >&2
    fi
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
start_server load.db

# The server's memory in MiB: `field` is VmRSS (now) or VmHWM (peak since start).
mem_mib() { awk -v f="$1:" '$1 == f { printf "%.0f", $2 / 1024 }' "/proc/$server_pid/status"; }
# Samples VmRSS every 0.2 s into $1 until killed.
# One write per sample, value and newline together: the sampler is killed at any moment.
sample_rss() { while sleep 0.2; do m=$(mem_mib VmRSS) || break; echo "$m" >>"$1"; done; }
rss_loaded=$(mem_mib VmRSS)

# Fresh conversations, four per customer (see benches/chat.lua), written as wrk's Lua data.
make_data() {
    write_conversations "$(($1 * 4))"
}

rss_warm=$rss_loaded
if [ "$warmup" != 0 ] && [ "$warmup" != 0s ]; then
    make_data 8
    LOAD_DATA="$work/data.lua" LOAD_THREADS=$threads THINK_MS=0 \
        wrk -t"$threads" -c8 -d"$warmup" --timeout 10s -s benches/chat.lua "$base" >/dev/null
    rss_warm=$(mem_mib VmRSS)
fi

echo "| customers | think time | turns | turns/s | p50 ms | p90 ms | p99 ms | max ms | errors | RSS MiB |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
not_ok=()
for n in $customers; do
    for t in $think; do
        make_data "$n"
        : >"$work/rss.txt"
        sample_rss "$work/rss.txt" &
        sampler=$!
        out=$(LOAD_DATA="$work/data.lua" LOAD_THREADS=$threads THINK_MS=$t \
            wrk -t"$threads" -c"$n" -d"$duration" --timeout 10s -s benches/chat.lua "$base")
        kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
        rss=$( (cat "$work/rss.txt"; echo; mem_mib VmRSS; echo) | sort -n | tail -n 1)
        line=$(grep '^LOAD ' <<<"$out") || { echo "$out" >&2; die "wrk printed no result"; }
        eval "$(sed 's/^LOAD //' <<<"$line")"
        # errors_status: answers other than 2xx/3xx (429 when the classifier queue is full).
        errors=$((errors_connect + errors_read + errors_write + errors_timeout + errors_status))
        rate=$(python3 -c "print(f'{$requests / $duration_s:.1f}')")
        echo "| $n | ${t} ms | $requests | $rate | $p50_ms | $p90_ms | $p99_ms | $max_ms | $errors | $rss |"
        statuses=$(grep '^STATUSES ' <<<"$out" | sed 's/^STATUSES //')
        [ -z "$statuses" ] || not_ok+=("$n customers, ${t} ms: $statuses")
    done
done
echo
for row in "${not_ok[@]}"; do echo "Answers other than 2xx ($row)"; done
echo "Server memory (MiB): VmRSS $rss_loaded once the model is loaded, $rss_warm after the warm-up" \
    "($warmup), VmHWM (peak since start) $(mem_mib VmHWM); RSS column: highest VmRSS sampled" \
    "every 0.2 s during the row."

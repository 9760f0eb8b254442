#!/usr/bin/env bash
# Soak test of the chat API: many concurrent customers with think time for a long while against a
# `madoguchi serve` started here on loopback (real encoder, real database), with the server's
# memory (VmRSS), open file descriptors and threads sampled every 10 s. Prints the samples and the
# load's latency as Markdown tables; fails on any error or when memory keeps growing after warm-up.
#
#   benches/soak.sh [--bin PATH] [--customers 1000] [--think-ms 30000] [--duration 600]
#                   [--warmup 120] [--database sqlite://PATH | postgres://...] [--messages FILE]
#                   [--max-growth-mb 64]
#
# Each customer is one wrk connection (benches/chat.lua): it sends a message, waits for the bot's
# turn, pauses (exponential think time with the given mean) and sends the next; conversations are
# created beforehand, two per customer. The server inherits the environment, so settings such as
# raised rate limits go in as MADOGUCHI_* variables.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/release/madoguchi
[ -x "$bin" ] || bin=target/debug/madoguchi
customers=1000
think=30000
duration=600
warmup=120
database=""
messages=../shared/bench/messages.txt
max_growth_mb=64
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin=$2; shift 2 ;;
        --customers) customers=$2; shift 2 ;;
        --think-ms) think=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --warmup) warmup=$2; shift 2 ;;
        --database) database=$2; shift 2 ;;
        --messages) messages=$2; shift 2 ;;
        --max-growth-mb) max_growth_mb=$2; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "soak.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

die() { echo "soak.sh: $*" >&2; exit 1; }
source benches/serve-lib.sh
check_inputs
ensure_wrk
# wrk and the server each need a descriptor per customer.
ulimit -n "$(( customers * 2 + 1024 ))" 2>/dev/null || ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d)
server_pid=""
sampler_pid=""
cleanup() {
    local status=$?
    [ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null
    if [ "$status" -ne 0 ] && [ -s "$work/server.log" ]; then
        echo "soak.sh: failed; the server's last log lines:" >&2
        tail -n 20 "$work/server.log" >&2
    fi
    # Whatever the server logged as an error or a panic during the run, for the errors' cause.
    if [ -s "$work/server.log" ]; then
        grep -E "ERROR|panicked" "$work/server.log" | tail -n 20 >&2 || true
    fi
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
start_server soak.db

echo "creating $((customers * 2)) conversations" >&2
write_conversations "$((customers * 2))"

# One sample every 10 s: seconds since the load started, VmRSS (kB), open fds, threads.
sample() {
    local start=$1 now rss fds threads
    while kill -0 "$server_pid" 2>/dev/null; do
        now=$(date +%s)
        rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status" 2>/dev/null || echo 0)
        threads=$(awk '/^Threads:/ {print $2}' "/proc/$server_pid/status" 2>/dev/null || echo 0)
        fds=$(ls "/proc/$server_pid/fd" 2>/dev/null | wc -l)
        echo "$((now - start)) $rss $fds $threads" >>"$work/samples"
        sleep 10
    done
}
sample "$(date +%s)" &
sampler_pid=$!

echo "soaking: $customers customers, think time $think ms, ${duration} s" >&2
out=$(LOAD_DATA="$work/data.lua" LOAD_THREADS=2 THINK_MS=$think \
    wrk -t2 -c"$customers" -d"${duration}s" --timeout 30s -s benches/chat.lua "$base")
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=""
kill -0 "$server_pid" 2>/dev/null || die "the server died during the soak"
line=$(grep '^LOAD ' <<<"$out") || { echo "$out" >&2; die "wrk printed no result"; }
eval "$(sed 's/^LOAD //' <<<"$line")"
errors=$((errors_connect + errors_read + errors_write + errors_timeout + errors_status))

echo "| t (s) | VmRSS (MB) | open fds | threads |"
echo "|---:|---:|---:|---:|"
awk '{printf "| %d | %.1f | %d | %d |\n", $1, $2 / 1024, $3, $4}' "$work/samples"
echo
echo "| customers | think time | duration | turns | turns/s | p50 ms | p90 ms | p99 ms | max ms | errors |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
rate=$(python3 -c "print(f'{$requests / $duration_s:.1f}')")
echo "| $customers | ${think} ms | ${duration} s | $requests | $rate | $p50_ms | $p90_ms | $p99_ms | $max_ms | $errors |"
echo
# Flat after warm-up: VmRSS and fds at the end against their first sample after warm-up.
read -r growth_mb fd_growth < <(awk -v w="$warmup" '
    $1 >= w && !seen { rss0 = $2; fd0 = $3; seen = 1 }
    { rss = $2; fd = $3 }
    END { printf "%.1f %d\n", seen ? (rss - rss0) / 1024 : 0, seen ? fd - fd0 : 0 }' "$work/samples")
statuses=$(grep '^STATUSES ' <<<"$out" | sed 's/^STATUSES //')
echo "errors: connect $errors_connect, read $errors_read, write $errors_write, status (non-2xx) $errors_status${statuses:+ ($statuses)}, timeout $errors_timeout"
echo "after the ${warmup} s warm-up: VmRSS grew ${growth_mb} MB, open fds by ${fd_growth} (errors: $errors)"
[ "$errors" -eq 0 ] || die "$errors errors under load"
python3 -c "import sys; sys.exit(0 if $growth_mb <= $max_growth_mb else 1)" \
    || die "VmRSS grew ${growth_mb} MB after warm-up (limit ${max_growth_mb} MB)"

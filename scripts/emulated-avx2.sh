#!/usr/bin/env bash
# Runs the encoder on a CPU without AVX-512, whatever CPU this machine has: QEMU's user-mode
# emulator (TCG, `-cpu max`) reports AVX2 + FMA and no AVX-512 or VNNI, and executes no instruction
# it does not emulate (an AVX-512 instruction there is SIGILL). So an AVX-512 development machine
# runs the AVX2 paths exactly as an AVX2-only machine (e.g. AMD Zen 3) would, end to end:
#
#   1. the kernel and encoder unit tests (every path the emulated CPU has against the references;
#      the real encoder's int8-vs-f32 test is left to step 2, which covers it in a fraction of the time);
#   2. `classify` of bench messages, once emulated (auto: int8/avx2; and f32/avx2) and once
#      natively capped with `--cpu avx2`: the replies must be identical;
#   3. the scripted conversations with the pass rate `make test` requires: natively capped with
#      `--cpu avx2` (step 2 has shown that it answers exactly as the emulated CPU does), or, with
#      `--full`, on the emulated CPU itself.
#
#   scripts/emulated-avx2.sh [--full] BIN [PASS_RATE]
#
# Emulation is slow, and slower on some hosts than others (one CI machine ran the unit tests 8×
# slower than a development machine): without `--full`, step 2 classifies every 4th bench message
# with int8 (64) and every 16th with f32 (16: QEMU runs f32 FMA code ~5× slower than int8), which
# still runs every kernel of both paths; `--full` (`make test-avx2-emulated-full`) classifies all
# 256 with both and plays the conversations emulated (~15 min on a 2-core development machine).
#
# Installs Debian's qemu-user when `qemu-x86_64` is missing (needs root or passwordless sudo).
set -euo pipefail

FULL=false
if [ "${1:-}" = --full ]; then
    FULL=true
    shift
fi
BIN=${1:?usage: scripts/emulated-avx2.sh [--full] BIN [PASS_RATE]}
PASS_RATE=${2:-0}
MESSAGES=${MADOGUCHI_BENCH_MESSAGES:-../shared/bench/messages.txt}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

say() { echo "emulated-avx2: $*" >&2; }
die() { say "error: $*"; exit 1; }

install_qemu() {
    command -v qemu-x86_64 >/dev/null 2>&1 && return
    "$(dirname "$0")/debian-install.sh" qemu-user || die "qemu-x86_64 is missing"
}

# Runs a command on the emulated CPU; QEMU's notes about host-only CPUID bits are dropped.
emulated() {
    qemu-x86_64 -cpu max "$@" 2> >(grep -v "TCG doesn't support requested feature" >&2)
}

install_qemu
[ "$(uname -m)" = x86_64 ] || die "the emulation check is for x86-64 machines"

say "1/3 kernel and encoder unit tests, emulated"
CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="qemu-x86_64 -cpu max" \
    cargo test --quiet --lib -- nlu::kernels nlu::bert nlu::finetune::layers --skip real_encoder \
    2> >(grep -v "TCG doesn't support requested feature" >&2)

say "2/3 classify the bench messages, emulated against native --cpu avx2"
if [ ! -f "$MESSAGES" ]; then
    # Without ../shared: every customer line of the conversation suite.
    sed -n 's/^ *- say: *//p' tests/conversations/*.yaml > "$WORK/messages.txt"
    MESSAGES=$WORK/messages.txt
fi
# The messages of one precision: all of them with --full, else every STRIDE-th.
messages_for() {
    local stride=$1
    $FULL && stride=1
    awk -v stride="$stride" '(NR - 1) % stride == 0' "$MESSAGES"
}
for precision in auto f32; do
    log=$WORK/emulated-$precision.log
    case $precision in auto) stride=4 ;; f32) stride=16 ;; esac
    messages_for "$stride" > "$WORK/messages-$precision.txt"
    MADOGUCHI_LOG=madoguchi=info MADOGUCHI_PRECISION=$precision emulated "$BIN" classify \
        < "$WORK/messages-$precision.txt" > "$WORK/emulated-$precision.txt" 2> "$log" \
        || die "--precision $precision: classify failed on the emulated CPU: $(tail -n 5 "$log")"
    MADOGUCHI_CPU=avx2 MADOGUCHI_PRECISION=$precision "$BIN" classify \
        < "$WORK/messages-$precision.txt" > "$WORK/native-$precision.txt" \
        || die "--precision $precision: classify failed natively with --cpu avx2"
    kernels=$(grep -o -m1 'kernels=[^ ]*' "$log") \
        || die "--precision $precision: the emulated encoder did not log its kernels: $(tail -n 5 "$log")"
    say "  $kernels"
    # The emulated CPU must get the AVX2 kernels: not AVX-512, and not the scalar ones either.
    [[ $kernels == */avx2 ]] || die "--precision $precision: expected AVX2 kernels, got $kernels"
    diff -u "$WORK/native-$precision.txt" "$WORK/emulated-$precision.txt" >&2 \
        || die "--precision $precision: emulated AVX2 replies differ from native --cpu avx2"
    say "  --precision $precision: $(wc -l < "$WORK/emulated-$precision.txt") of $(wc -l < "$MESSAGES") messages, replies identical"
done

if $FULL; then
    say "3/3 scripted conversations, emulated"
    emulated "$BIN" eval --conversations tests/conversations --min-pass-rate "$PASS_RATE"
else
    say "3/3 scripted conversations, natively capped with --cpu avx2 (emulated: --full)"
    MADOGUCHI_CPU=avx2 "$BIN" eval --conversations tests/conversations --min-pass-rate "$PASS_RATE"
fi

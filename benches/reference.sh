#!/usr/bin/env bash
# Same-run reference benchmark: madoguchi against PyTorch (fp32, dynamic int8) and ONNX Runtime (fp32,
# dynamic int8) on the same encoder directory, the same 256 messages, the same tokenizer and pooling,
# the same number of threads; one Markdown table with ratios against ONNX Runtime int8, also saved as
# benches/results/reference-<date>.md. Not part of `make test` (it installs several GB from PyPI).
#
#   benches/reference.sh [--bin PATH] [--rounds 3] [--threads 2] [--precisions "f32 int8"]
#                        [--encoder DIR] [--messages FILE] [--out FILE]
#
# The venv (.cache/reference-venv: torch, transformers, onnx, onnxruntime from PyPI) and the ONNX
# exports (.cache/reference/) are made once. Each round runs every engine once, in its own process,
# madoguchi interleaved with the others, so a slower minute of the shared machine hits every engine.
# --precisions: the `madoguchi bench --precision` values to time (default: every value its --help
# lists; none when the binary has no such flag).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/release/madoguchi
rounds=3
threads=2
precisions=""
encoder=models/encoder/multilingual-e5-small
messages=../shared/bench/messages.txt
out=benches/results/reference-$(date -u +%F).md
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --precisions) precisions=$2; shift 2 ;;
        --encoder) encoder=$2; shift 2 ;;
        --messages) messages=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "reference.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

die() { echo "reference.sh: $*" >&2; exit 1; }
[ -x "$bin" ] || die "$bin is missing: run \`cargo build --release --bin madoguchi\` (or pass --bin)"
[ -e models/current ] || die "no trained model: run \`make train\`"
[ -f "$messages" ] || die "$messages is missing (the benchmark messages, one per line)"
for f in config.json model.safetensors tokenizer.json; do
    [ -f "$encoder/$f" ] || die "$encoder/$f is missing: run \`make model\`"
done

venv=.cache/reference-venv
py=$venv/bin/python
if ! "$py" -c 'import torch, transformers, onnx, onnxruntime, onnxscript' 2>/dev/null; then
    echo "reference.sh: installing torch, transformers, onnx, onnxruntime into $venv (several GB)" >&2
    python3 -m venv "$venv"
    "$py" -m pip install --disable-pip-version-check -q --upgrade pip >&2
    "$py" -m pip install --disable-pip-version-check -q torch transformers onnx onnxruntime onnxscript >&2
fi

work=.cache/reference
mkdir -p "$work"
if [ ! -f "$work/encoder-int8.onnx" ] || [ "$encoder/model.safetensors" -nt "$work/encoder-int8.onnx" ]; then
    echo "reference.sh: exporting the encoder to ONNX (fp32, dynamic int8)" >&2
    "$py" benches/reference.py export --encoder "$encoder" --work "$work" >&2
fi

help=$("$bin" bench --help)
if [ -z "$precisions" ] && grep -q -- '--precision' <<<"$help"; then
    # Every explicit precision the help names (`auto` is one of them, measured as itself).
    precisions=$(grep -A4 -- '--precision' <<<"$help" | grep -o '`[a-z0-9]*`' | tr -d '`' \
        | grep -vx auto | sort -u | tr '\n' ' ' || true)
    [ -n "$precisions" ] || die "could not read the precisions from \`$bin bench --help\`"
fi

export OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads RAYON_NUM_THREADS=$threads
runs=$(mktemp -d)
trap 'rm -rf "$runs"' EXIT
results=()
for round in $(seq "$rounds"); do
    for engine in madoguchi torch-fp32 torch-int8 ort-fp32 ort-int8; do
        if [ "$engine" = madoguchi ]; then
            for p in ${precisions:-default}; do
                json=$runs/madoguchi-$p-r$round.json
                flag=()
                [ "$p" = default ] || flag=(--precision "$p")
                echo "reference.sh: round $round: madoguchi $p" >&2
                if "$bin" bench --messages "$messages" --skip-cold-train --json "$json" "${flag[@]}" \
                    >"$runs/bench.log" 2>&1; then
                    results+=("$json")
                else
                    echo "reference.sh: madoguchi bench $p failed (skipped):" >&2
                    tail -n 5 "$runs/bench.log" >&2
                fi
            done
        else
            json=$runs/$engine-r$round.json
            echo "reference.sh: round $round: $engine" >&2
            "$py" benches/reference.py run "$engine" --encoder "$encoder" --work "$work" \
                --messages "$messages" --threads "$threads" --out "$json"
            results+=("$json")
        fi
    done
done

cpu_model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
flags=$(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
simd=$(tr ' ' '\n' <<<"$flags" | grep -E '^(avx2|fma|f16c|avx512f|avx512bw|avx512vl|avx512_vnni|avx_vnni|avx512_bf16|amx_bf16|amx_int8|amx_tile)$' | tr '\n' ' ')
mkdir -p "$(dirname "$out")"
{
    echo "Reference benchmark, $(date -u '+%F %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'),"
    echo "$(nproc) CPUs ($cpu_model), $threads threads per engine, $(wc -l <"$messages") messages of $messages."
    echo
    "$py" benches/reference.py table --work "$work" "${results[@]}"
    echo
    echo "SIMD flags: $simd"
    echo
    echo "<details><summary>all CPU flags</summary>"
    echo
    echo "$flags"
    echo
    echo "</details>"
} | tee "$out"
echo "reference.sh: saved $out" >&2

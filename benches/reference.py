"""Reference engines for `benches/reference.sh`: the same encoder, messages, tokenizer and pooling as
`madoguchi bench`, run by PyTorch (fp32, dynamic int8) and ONNX Runtime (fp32, dynamic int8).

    reference.py export --encoder DIR --work DIR        ONNX fp32 (torch.onnx.export) and int8
                                                         (onnxruntime quantize_dynamic, QInt8)
    reference.py run ENGINE --encoder DIR --work DIR --messages FILE --threads N --out FILE.json
    reference.py table --work DIR RESULT.json...        one Markdown table, ratios vs ORT int8

ENGINE is torch-fp32, torch-int8, ort-fp32 or ort-int8; each runs in its own process so that its
peak RSS (ru_maxrss: the interpreter and the runtime's libraries included, as a deployment would
pay) is its own. Timing follows src/cli/bench.rs: "query: " + message, the tokenizer of
tokenizer.json (truncation 512, special tokens in the text not parsed), mask-weighted mean pooling
and L2 normalisation inside the timed region; single messages after a warm-up of 8, one at a time,
sorted for p50/p90; throughput over the 256 messages in file order, 32 per call, padded to the
longest of each call.
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

import numpy as np

ENGINES = ["torch-fp32", "torch-int8", "ort-fp32", "ort-int8"]
PREFIX = "query: "


def load_tokenizer(encoder_dir):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(encoder_dir, "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(512)
    # madoguchi: a customer typing "</s>" gets the characters tokenised, not a special token.
    tok.encode_special_tokens = True
    return tok


def read_messages(path):
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def encode(tok, texts, pad_id):
    encs = tok.encode_batch([PREFIX + t for t in texts])
    width = max(len(e.ids) for e in encs)
    ids = np.full((len(encs), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(encs), width), dtype=np.int64)
    for i, e in enumerate(encs):
        ids[i, : len(e.ids)] = e.ids
        mask[i, : len(e.ids)] = 1
    return ids, mask


def pool(hidden, mask):
    """Mean over real tokens, then L2 normalisation (numpy, float32)."""
    m = mask[:, :, None].astype(np.float32)
    mean = (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
    return mean / np.clip(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12, None)


def load_torch_model(encoder_dir, threads):
    import torch
    from transformers import BertModel

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    model = BertModel.from_pretrained(encoder_dir, add_pooling_layer=False, attn_implementation="eager")
    model.eval()
    return model


def torch_forward(model):
    import torch

    def forward(ids, mask):
        with torch.inference_mode():
            out = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
        return out.last_hidden_state.numpy()

    return forward


def make_engine(name, encoder_dir, work, threads):
    """A function (ids, mask) -> last hidden states, numpy float32."""
    if name == "torch-fp32":
        return torch_forward(load_torch_model(encoder_dir, threads))
    if name == "torch-int8":
        import torch

        model = load_torch_model(encoder_dir, threads)
        quantize_dynamic = getattr(torch.ao.quantization, "quantize_dynamic", None) or torch.quantization.quantize_dynamic
        model = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        return torch_forward(model)
    if name in ("ort-fp32", "ort-int8"):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        path = os.path.join(work, "encoder-fp32.onnx" if name == "ort-fp32" else "encoder-int8.onnx")
        session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])

        def forward(ids, mask):
            return session.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask})[0]

        return forward
    raise SystemExit(f"unknown engine {name} (one of {', '.join(ENGINES)})")


def export(args):
    import torch

    model = load_torch_model(args.encoder, 1)
    tok = load_tokenizer(args.encoder)
    pad_id = model.config.pad_token_id or 0
    ids, mask = encode(tok, ["an example message to trace", "short"], pad_id)
    fp32 = os.path.join(args.work, "encoder-fp32.onnx")
    int8 = os.path.join(args.work, "encoder-int8.onnx")
    os.makedirs(args.work, exist_ok=True)
    export_args = dict(
        input_names=["input_ids", "attention_mask"],
        output_names=["last_hidden_state"],
        opset_version=17,
    )
    axes = {"input_ids": {0: "batch", 1: "len"}, "attention_mask": {0: "batch", 1: "len"},
            "last_hidden_state": {0: "batch", 1: "len"}}
    inputs = (torch.from_numpy(ids), torch.from_numpy(mask))
    try:
        # The TorchScript exporter: dynamic batch and length from `dynamic_axes`.
        torch.onnx.export(model, inputs, fp32, dynamic_axes=axes, dynamo=False, **export_args)
        exporter = "TorchScript"
    except Exception as e:  # noqa: BLE001 - any failure: try the other exporter, say why
        # Newer torch/transformers pairs fail in the TorchScript exporter; torch.export's works
        # (the check below compares its output with PyTorch either way).
        print(f"TorchScript ONNX export failed ({type(e).__name__}: {e}); using torch.export",
              file=sys.stderr)
        torch.onnx.export(model, inputs, fp32, dynamic_axes=axes, dynamo=True, **export_args)
        exporter = "torch.export"
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8)
    # Check the export: same vectors as PyTorch on the tracing inputs.
    import onnxruntime as ort

    want = pool(torch_forward(model)(ids, mask), mask)
    got = pool(ort.InferenceSession(fp32, providers=["CPUExecutionProvider"]).run(
        ["last_hidden_state"], {"input_ids": ids, "attention_mask": mask})[0], mask)
    worst = float((want * got).sum(1).min())
    if worst < 0.9999:
        raise SystemExit(f"ONNX export disagrees with PyTorch: cosine {worst:.6f}")
    print(f"exported {fp32} ({exporter} exporter) and {int8} (export check: cosine {worst:.6f})",
          file=sys.stderr)


def run(args):
    messages = read_messages(args.messages)
    tok = load_tokenizer(args.encoder)
    with open(os.path.join(args.encoder, "config.json")) as f:
        pad_id = json.load(f).get("pad_token_id") or 0
    forward = make_engine(args.engine, args.encoder, args.work, args.threads)

    def embed(texts):
        ids, mask = encode(tok, texts, pad_id)
        return pool(forward(ids, mask), mask)

    for m in messages[:8]:
        embed([m])
    single = []
    for m in messages:
        t = time.perf_counter()
        embed([m])
        single.append((time.perf_counter() - t) * 1000)
    single.sort()
    t = time.perf_counter()
    vectors = [embed(messages[i : i + args.batch]) for i in range(0, len(messages), args.batch)]
    throughput = len(messages) / (time.perf_counter() - t)
    np.save(os.path.join(args.work, f"vectors-{args.engine}.npy"), np.concatenate(vectors))
    result = {
        "engine": args.engine,
        "label": LABELS[args.engine],
        "messages": len(messages),
        "single_p50_ms": percentile(single, 0.5),
        "single_p90_ms": percentile(single, 0.9),
        "batch": args.batch,
        "batch_messages_per_second": throughput,
        # Linux reports ru_maxrss in KiB.
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": args.threads,
    }
    with open(args.out, "w") as f:
        json.dump(result, f)


def percentile(sorted_values, q):
    """The same rule as src/cli/bench.rs: the element at round((n - 1) q)."""
    i = round((len(sorted_values) - 1) * q)
    return sorted_values[min(i, len(sorted_values) - 1)]


LABELS = {
    "torch-fp32": "PyTorch fp32",
    "torch-int8": "PyTorch dynamic int8 (`quantize_dynamic`)",
    "ort-fp32": "ONNX Runtime fp32",
    "ort-int8": "ONNX Runtime dynamic int8 (QInt8)",
}


def from_madoguchi_bench(r, path):
    """A `madoguchi bench --json` report as a row: its precision from the report, else from the file
    name (`madoguchi-<precision>-…json`, written by reference.sh)."""
    name = os.path.basename(path)
    precision = r.get("precision") or (name.split("-")[1] if name.count("-") >= 2 else "default")
    return {
        "engine": "madoguchi",
        "label": f"**madoguchi {precision}** (classify: encoder + head)",
        "single_p50_ms": r["single_p50_ms"],
        "single_p90_ms": r["single_p90_ms"],
        "batch_messages_per_second": r["batch_messages_per_second"],
        "peak_rss_mib": r["peak_rss_inference_mib"],
    }


def table(args):
    """Medians over the rounds (min–max in brackets when there are several), ratios of medians."""
    import onnxruntime
    import torch

    rows = {}
    for path in args.results:
        with open(path) as f:
            r = json.load(f)
        if "engine" not in r:
            r = from_madoguchi_bench(r, path)
        rows.setdefault(r["label"], []).append(r)
    base = rows.get(LABELS["ort-int8"])
    base_p50 = statistics.median(r["single_p50_ms"] for r in base) if base else None
    base_tput = statistics.median(r["batch_messages_per_second"] for r in base) if base else None
    reference = os.path.join(args.work, "vectors-torch-fp32.npy")
    reference = np.load(reference) if os.path.exists(reference) else None

    def cell(values, fmt):
        med = statistics.median(values)
        if len(values) == 1:
            return fmt.format(med)
        return f"{fmt.format(med)} ({fmt.format(min(values))}–{fmt.format(max(values))})"

    print("| engine | one message p50 ms | p90 ms | batch-32 msg/s | peak RSS MiB | "
          "p50 vs ORT int8 | throughput vs ORT int8 | min cosine vs PyTorch fp32 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, rs in rows.items():
        p50 = [r["single_p50_ms"] for r in rs]
        p90 = [r["single_p90_ms"] for r in rs]
        tput = [r["batch_messages_per_second"] for r in rs]
        rss = [r["peak_rss_mib"] for r in rs]
        p50_ratio = f"{statistics.median(p50) / base_p50:.2f}×" if base_p50 else "–"
        tput_ratio = f"{statistics.median(tput) / base_tput:.2f}×" if base_tput else "–"
        cosine = "–"
        engine = rs[0].get("engine")
        vec_path = os.path.join(args.work, f"vectors-{engine}.npy")
        if reference is not None and engine in ENGINES and os.path.exists(vec_path):
            cosine = f"{float((np.load(vec_path) * reference).sum(1).min()):.4f}"
        print(f"| {label} | {cell(p50, '{:.2f}')} | {cell(p90, '{:.2f}')} | {cell(tput, '{:.0f}')} | "
              f"{cell(rss, '{:.0f}')} | {p50_ratio} | {tput_ratio} | {cosine} |")
    print()
    print(f"Rounds: {max(len(rs) for rs in rows.values())}, interleaved; medians (min–max). "
          f"p50 vs ORT int8: < 1 is faster; throughput vs ORT int8: > 1 is faster. "
          f"PyTorch {torch.__version__}, ONNX Runtime {onnxruntime.__version__}.")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("export")
    p.add_argument("--encoder", required=True)
    p.add_argument("--work", required=True)
    p = sub.add_parser("run")
    p.add_argument("engine", choices=ENGINES)
    p.add_argument("--encoder", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--messages", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--out", required=True)
    p = sub.add_parser("table")
    p.add_argument("--work", required=True)
    p.add_argument("results", nargs="+")
    args = parser.parse_args()
    {"export": export, "run": run, "table": table}[args.command](args)


if __name__ == "__main__":
    main()

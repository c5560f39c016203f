#!/usr/bin/env python3
"""ONNX Runtime's time per operator type on the DiT forward, for a side-by-side with
`dydit bench forward --profile`: the model, inputs, export and session options are
bench_engines.py's onnxruntime engine's (dynamo export, ORT_ENABLE_ALL, sequential, --threads
intra-op threads), plus `SessionOptions.enable_profiling`. Prints the median `model_run` and
each operator type's mean time per forward and share of the kernels' time.

    .build/venv-ref/bin/python scripts/profile_onnxruntime.py --model DiT-S/2 --batch 2 --threads 2
"""
import argparse
import collections
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_pytorch import add_model_arguments, forward_case, parse_model  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(p)
    p.add_argument("--batch", type=int, default=2, help="images per forward pass (default 2)")
    p.add_argument("--threads", type=int, default=2, help="intra-op threads (default 2)")
    p.add_argument("--warmup", type=int, default=3, help="unprofiled-in-the-summary warm-up runs (default 3)")
    p.add_argument("--iters", type=int, default=20, help="profiled runs (default 20)")
    args = p.parse_args()
    if parse_model(args.model) is None:
        p.error(f"unknown model {args.model!r}: expected DiT-{{S,B,L,XL}}/{{2,4,8}}")
    if args.iters < 1 or args.warmup < 0 or args.threads < 1 or args.batch < 1:
        p.error("--iters, --threads and --batch must be at least 1, --warmup at least 0")
    import onnxruntime as ort
    import torch

    model, inputs = forward_case(args)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "dit.onnx")
        torch.onnx.export(model, inputs, path, input_names=["x", "t", "y"], output_names=["out"],
                          dynamo=True, external_data=True)
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(d, "ort")
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        feeds = {name: v.numpy() for name, v in zip(["x", "t", "y"], inputs)}
        for _ in range(args.warmup + args.iters):
            sess.run(None, feeds)
        with open(sess.end_profiling()) as f:
            trace = json.load(f)
    # The warm-up runs are in the trace too: keep the last --iters model runs and their nodes.
    runs = sorted((e for e in trace if e.get("name") == "model_run"), key=lambda e: e["ts"])[-args.iters:]
    start = runs[0]["ts"]
    time_by_op, nodes_by_op = collections.Counter(), collections.Counter()
    for e in trace:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= start:
            time_by_op[e["args"]["op_name"]] += e["dur"]
            nodes_by_op[e["args"]["op_name"]] += 1
    n, total = len(runs), sum(time_by_op.values())
    print(f"{args.model} batch {args.batch}, {args.threads} threads, onnxruntime {ort.__version__}: "
          f"{n} profiled runs, model_run median {sorted(r['dur'] for r in runs)[n // 2] / 1e3:.1f} ms")
    for op, us in time_by_op.most_common():
        print(f"  {op:26s} {us / n / 1e3:8.2f} ms {100 * us / total:5.1f}%  ({nodes_by_op[op] // n} nodes)")


if __name__ == "__main__":
    main()

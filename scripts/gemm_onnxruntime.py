#!/usr/bin/env python3
"""Times ONNX Runtime's fp32 product y = x·W + b (one MatMul + Add session: MLAS, its CPU
GEMM) on the shapes of `dydit bench gemm --m M --n N --k K`, to alternate with it in rounds:

    .build/venv-ref/bin/python scripts/gemm_onnxruntime.py --m 512 --n 1536 --k 384 --threads 2
"""
import argparse
import statistics
import time


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--m", type=int, default=256)
    p.add_argument("--n", type=int, default=1152)
    p.add_argument("--k", type=int, default=1152)
    p.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--iters", type=int, default=30, help="timed runs; the median is reported (default 30)")
    args = p.parse_args()
    if min(args.m, args.n, args.k, args.threads, args.iters) < 1 or args.warmup < 0:
        p.error("--m, --n, --k, --threads and --iters must be at least 1, --warmup at least 0")
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = (rng.standard_normal((args.k, args.n)) * 0.05).astype(np.float32)
    b = np.zeros(args.n, np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])], "gemm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [args.m, args.k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [args.m, args.n])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    x = rng.standard_normal((args.m, args.k)).astype(np.float32)
    for _ in range(args.warmup):
        sess.run(None, {"x": x})
    times = []
    for _ in range(args.iters):
        t = time.perf_counter()
        sess.run(None, {"x": x})
        times.append(time.perf_counter() - t)
    ms = statistics.median(times) * 1e3
    print(f"onnxruntime {ort.__version__} gemm {args.m}×{args.n}×{args.k}, {args.threads} thread(s): "
          f"median {ms:.3f} ms, {2 * args.m * args.n * args.k / ms / 1e6:.1f} GFLOP/s")


if __name__ == "__main__":
    main()

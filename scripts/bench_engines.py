#!/usr/bin/env python3
"""DiT forward passes on CPU inference engines, the baselines of scripts/compare_forward.py.

The model and inputs are bench_pytorch.py forward's (scripts/dit_pytorch.py, random weights
from seed 0, eval mode); each engine runs the same model on the same (x, t, y):

    eager           PyTorch eager fp32 under inference_mode (what bench_pytorch.py forward times)
    compile         torch.compile, default (inductor) backend and mode
    compile-freezing  the same with torch._inductor.config.freezing = True (weights folded and
                    prepacked: PyTorch's recommended setting for CPU inference)
    onnxruntime     torch.onnx.export (dynamo exporter) to a temporary file, then onnxruntime's
                    CPUExecutionProvider: intra_op_num_threads = --threads, inter_op 1,
                    sequential, graph optimisations ORT_ENABLE_ALL
    openvino        ov.convert_model from the module with (x, t, y) as example inputs and static
                    shapes, compiled for CPU with INFERENCE_NUM_THREADS = --threads,
                    INFERENCE_PRECISION_HINT f32 (OpenVINO's default on AMX / AVX512-BF16 CPUs is
                    bf16), PERFORMANCE_HINT LATENCY, NUM_STREAMS 1
    openvino-bf16   the same with INFERENCE_PRECISION_HINT bf16
    openvino-int8   NNCF post-training int8 (nncf.quantize, model_type TRANSFORMER) of the
                    OpenVINO model on --calib-samples random inputs of the timed shapes (seed 1,
                    not the timed inputs), compiled as openvino (ops left in float run in f32)

    .build/venv-ref/bin/python scripts/bench_engines.py --engine openvino --model DiT-S/2 \\
        --input-size 32 --in-channels 4 --batch 2 --threads 2 --warmup 3 --iters 20 --json

Each run builds the engine, makes one check forward (which is also the first warm-up call, so
torch.compile's compilation happens there), compares it with eager PyTorch fp32 on the same
inputs, makes --warmup more untimed calls and --iters timed ones, and prints
{"ms": median, "ms_min", "engine", "engine_version", "max_abs_err_vs_eager",
"max_rel_err_vs_eager", "setup_s", "gmacs", "torch", "threads", "model", ...}.
max_rel_err_vs_eager is max|engine - eager| / max|eager|; setup_s is the time to build the
engine (export, conversion, quantisation, compilation) and make the check forward.

The engines are not in PyTorch's wheel; install them into the same venv with
    .build/venv-ref/bin/pip install openvino nncf onnxruntime onnx onnxscript
"""

import argparse
import contextlib
import importlib
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_pytorch import add_model_arguments, dit_macs, forward_case, parse_model, time_calls  # noqa: E402

PIP_LINE = "pip install openvino nncf onnxruntime onnx onnxscript"


def need(module, package=None):
    """Imports `module`, or exits naming the pip command that installs it into this Python."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        sys.exit(f"error: this engine needs the Python package {package or module!r} ({e}). Install the "
                 f"engines with: {sys.executable} -m {PIP_LINE}")


# Each engine: (model, inputs, args) -> (run, info). run() makes one forward and returns the
# output as something numpy can read; info holds "engine_version" and whatever else describes
# how the engine was set up.

def engine_eager(model, inputs, args):
    import torch

    return (lambda: model(*inputs)), {"engine_version": torch.__version__}


def engine_compile(model, inputs, args, freezing=False):
    import torch

    if freezing:
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
    compiled = torch.compile(model)  # inductor, mode "default"; compiles on the first call
    return (lambda: compiled(*inputs)), {"engine_version": torch.__version__, "backend": "inductor",
                                          "freezing": freezing}


def engine_onnxruntime(model, inputs, args):
    import torch

    ort = need("onnxruntime")
    need("onnx")
    need("onnxscript")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "dit.onnx")
        prog = torch.onnx.export(model, inputs, path, input_names=["x", "t", "y"], output_names=["out"],
                                 dynamo=True, external_data=True)
        onnx = need("onnx")
        opset = next((o.version for o in onnx.load(path, load_external_data=False).opset_import
                      if o.domain in ("", "ai.onnx")), None)
        del prog
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # The session reads the weights (and any external data file) now; the folder can go after.
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    feeds = {name: v.numpy() for name, v in zip(["x", "t", "y"], inputs)}
    return (lambda: sess.run(None, feeds)[0]), {
        "engine_version": ort.__version__, "export": f"torch.onnx.export dynamo, opset {opset}",
        "providers": sess.get_providers(), "intra_op_num_threads": args.threads, "inter_op_num_threads": 1,
        "graph_optimization_level": "ORT_ENABLE_ALL"}


def ov_convert(model, inputs):
    ov = need("openvino")
    types = {"torch.float32": ov.Type.f32, "torch.int64": ov.Type.i64}
    shapes = [(ov.PartialShape(list(v.shape)), types[str(v.dtype)]) for v in inputs]
    return ov.convert_model(model, example_input=inputs, input=shapes)


def ov_compile(ov_model, inputs, args, precision, info):
    ov = need("openvino")
    config = {"INFERENCE_NUM_THREADS": args.threads, "INFERENCE_PRECISION_HINT": precision,
              "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
    compiled = ov.Core().compile_model(ov_model, "CPU", config)
    req = compiled.create_infer_request()
    feeds = {i: v.numpy() for i, v in enumerate(inputs)}
    info.update({"engine_version": ov.get_version(), "precision_hint": precision,
                 # what the plugin took: on a CPU without bf16 a bf16 hint falls back to f32
                 "inference_precision": compiled.get_property("INFERENCE_PRECISION_HINT").to_string(),
                 "inference_num_threads": compiled.get_property("INFERENCE_NUM_THREADS")})
    return (lambda: req.infer(feeds, share_inputs=True)[0]), info


def engine_openvino(model, inputs, args, precision="f32"):
    return ov_compile(ov_convert(model, inputs), inputs, args, precision, {"convert": "ov.convert_model"})


def engine_openvino_int8(model, inputs, args):
    import torch

    nncf = need("nncf")
    ov_model = ov_convert(model, inputs)
    x, t, y = inputs
    g = torch.Generator().manual_seed(1)
    samples = [{0: torch.randn(x.shape, generator=g).numpy(),
                1: torch.randint(0, 1000, t.shape, generator=g).numpy(),
                2: torch.randint(0, args.num_classes, y.shape, generator=g).numpy()}
               for _ in range(args.calib_samples)]
    q = nncf.quantize(ov_model, nncf.Dataset(samples), subset_size=len(samples),
                      model_type=nncf.ModelType.TRANSFORMER)
    run, info = ov_compile(q, inputs, args, "f32", {
        "quantize": f"nncf.quantize, ModelType.TRANSFORMER, {len(samples)} random calibration samples"})
    info["engine_version"] = f"openvino {info['engine_version']}, nncf {nncf.__version__}"
    return run, info


# The packages each engine imports beyond torch, checked before the model is built.
REQUIRES = {"onnxruntime": ["onnxruntime", "onnx", "onnxscript"], "openvino": ["openvino"],
            "openvino-bf16": ["openvino"], "openvino-int8": ["openvino", "nncf"]}

ENGINES = {
    "eager": engine_eager,
    "compile": engine_compile,
    "compile-freezing": lambda m, i, a: engine_compile(m, i, a, freezing=True),
    "onnxruntime": engine_onnxruntime,
    "openvino": engine_openvino,
    "openvino-bf16": lambda m, i, a: engine_openvino(m, i, a, precision="bf16"),
    "openvino-int8": engine_openvino_int8,
}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--engine", choices=list(ENGINES), default="eager", help="(default eager)")
    add_model_arguments(p)
    p.add_argument("--batch", type=int, default=2, help="images per forward pass (default 2)")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls after the check forward (default 3)")
    p.add_argument("--iters", type=int, default=20, help="timed calls; the median is reported (default 20)")
    p.add_argument("--calib-samples", type=int, default=16, help="openvino-int8's calibration inputs (default 16)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args()
    if parse_model(args.model) is None:
        p.error(f"unknown model {args.model!r}: expected DiT-{{S,B,L,XL}}/{{2,4,8}}")
    if args.iters < 1 or args.warmup < 0 or args.threads < 1 or args.batch < 1 or args.num_classes < 1 \
            or args.calib_samples < 1:
        p.error("--iters, --threads, --batch, --num-classes and --calib-samples must be at least 1, "
                "--warmup at least 0")

    for module in REQUIRES.get(args.engine, []):
        need(module)

    import numpy as np
    import torch

    depth, hidden, heads, patch = parse_model(args.model)
    model, inputs = forward_case(args)  # sets torch's thread count to --threads
    with torch.inference_mode():
        ref = model(*inputs).numpy()

    t0 = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # exporters' and NNCF's progress lines; stdout is the result
        run, info = ENGINES[args.engine](model, inputs, args)
    with torch.inference_mode():
        out = np.asarray(run(), dtype=np.float64)  # the check forward, and the first warm-up call
        setup_s = time.perf_counter() - t0
        if out.shape != ref.shape:
            sys.exit(f"error: {args.engine} returned shape {out.shape}, eager {ref.shape}")
        abs_err = float(np.max(np.abs(out - ref)))
        ms, ms_min = time_calls(run, args.warmup, args.iters)
    rel_err = abs_err / float(np.max(np.abs(ref)))

    gmacs = dit_macs(depth, hidden, patch, args.input_size, args.in_channels, args.learn_sigma) / 1e9
    result = {"ms": ms, "ms_min": ms_min, "engine": args.engine, "engine_version": info.pop("engine_version"),
              "max_abs_err_vs_eager": abs_err, "max_rel_err_vs_eager": rel_err, "setup_s": round(setup_s, 2),
              "gmacs": gmacs, "torch": torch.__version__, "threads": args.threads, "model": args.model,
              "batch": args.batch, "input_size": args.input_size, "in_channels": args.in_channels, **info}
    if args.json:
        print(json.dumps(result))
    else:
        rate = 2 * gmacs * args.batch / (ms / 1e3)
        print(f"{args.model} {args.input_size}x{args.input_size}x{args.in_channels} batch {args.batch}, "
              f"{args.threads} threads, {args.engine} {result['engine_version']}: median {ms:.2f} ms "
              f"(min {ms_min:.2f}), {rate:.1f} GFLOP/s; vs eager fp32 max abs err {abs_err:.3g}, "
              f"rel {rel_err:.3g}; setup {setup_s:.1f} s")


if __name__ == "__main__":
    main()

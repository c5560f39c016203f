#!/usr/bin/env python3
"""Writes the fuzzers' seed corpus (Fuzz/corpus/<target>/): a few valid inputs for the
fuzzer to mutate, and every hostile input of issue 13 §3 as a file, so each fuzz run starts
by replaying them. Run from the repository root; the committed files are its output.
"""
import gzip
import json
import os
import shutil
import struct
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# spec: the committed experiments, and the specs that escaped, trapped or hung.
for folder in ("Experiments", "Notebooks"):
    for name in sorted(os.listdir(folder)):
        if name.endswith(".json"):
            shutil.copy(os.path.join(folder, name), os.path.join(ROOT, "spec", name))
put("spec", "name-dotdot.json", '{"name": ".."}')
put("spec", "name-slash.json", '{"name": "a/b", "sweep": {"grid": {"name": ["..", "x"]}}}')
put("spec", "mlp-ratio-1e19.json",
    '{"name": "x", "backbone": {"config": {"hidden_size": 64, "depth": 2, "num_heads": 4, "patch_size": 2, "mlp_ratio": 1e19}}}')
put("spec", "hidden-262144.json",
    '{"name": "x", "backbone": {"config": {"hidden_size": 262144, "depth": 2000, "num_heads": 16, "patch_size": 2}}}')
put("spec", "mlp-ratio-1e12.json",
    '{"name": "x", "backbone": {"config": {"hidden_size": 64, "depth": 2, "num_heads": 4, "patch_size": 2, "mlp_ratio": 1e12}}}')
put("spec", "input-4096.json", '{"name": "x", "backbone": {"model": "DiT-S/2", "input_size": 4096}}')
put("spec", "threads-100000.json", '{"name": "x", "compute": {"threads": 100000}}')
values = list(range(1000))
put("spec", "sweep-1e6.json", json.dumps({"name": "x", "sweep": {"grid": {"seed": values, "sampler.steps": values}}}))
put("spec", "duplicate-keys.json", '{"name": "x", "sampler": {"steps": 20, "st\\u0065ps": 50}}')
put("spec", "many-keys.json", "{" + ", ".join(f'"k{i}": {i}' for i in range(2000)) + ', "name": "x"}')
put("spec", "train.json", '{"name": "t", "backbone": {"type": "dydit", "model": "DiT-S/4", "input_size": 32, '
    '"in_channels": 1, "num_classes": 10}, "train": {"steps": 10, "batch": 4, "lambda": 0.5}}')


# safetensors: a tiny valid DiT, and the headers that trapped or were last-one-wins.
def safetensors(tensors, metadata=None):
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def floats(n, value=0.01):
    return struct.pack(f"<{n}f", *([value] * n))


def tiny_dit(value=0.01, ratio=4):
    d, c, p, n_classes, depth, size = 8, 1, 2, 2, 1, 4
    h = int(d * ratio)
    tokens = (size // p) ** 2
    shapes = {"x_embedder.proj.weight": [d, c, p, p], "x_embedder.proj.bias": [d],
              "t_embedder.mlp.0.weight": [d, 256], "t_embedder.mlp.0.bias": [d],
              "t_embedder.mlp.2.weight": [d, d], "t_embedder.mlp.2.bias": [d],
              "y_embedder.embedding_table.weight": [n_classes + 1, d], "pos_embed": [1, tokens, d]}
    for i in range(depth):
        b = f"blocks.{i}."
        shapes.update({b + "attn.qkv.weight": [3 * d, d], b + "attn.qkv.bias": [3 * d],
                       b + "attn.proj.weight": [d, d], b + "attn.proj.bias": [d],
                       b + "mlp.fc1.weight": [h, d], b + "mlp.fc1.bias": [h],
                       b + "mlp.fc2.weight": [d, h], b + "mlp.fc2.bias": [d],
                       b + "adaLN_modulation.1.weight": [6 * d, d], b + "adaLN_modulation.1.bias": [6 * d]})
    shapes.update({"final_layer.adaLN_modulation.1.weight": [2 * d, d], "final_layer.adaLN_modulation.1.bias": [2 * d],
                   "final_layer.linear.weight": [p * p * 2 * c, d], "final_layer.linear.bias": [p * p * 2 * c]})
    tensors = {}
    for name, shape in shapes.items():
        count = 1
        for s in shape:
            count *= s
        tensors[name] = ("F32", shape, floats(count, value))
    config = {"input_size": size, "patch_size": p, "in_channels": c, "hidden_size": d, "depth": depth,
              "num_heads": 2, "num_classes": n_classes, "learn_sigma": True, "mlp_ratio": ratio}
    return tensors, config


tensors, config = tiny_dit()
put("safetensors", "tiny-dit.safetensors", safetensors(tensors, {"config": json.dumps(config)}))
nan_tensors, _ = tiny_dit(value=float("nan"))
put("safetensors", "nan-weights.safetensors", safetensors(nan_tensors, {"config": json.dumps(config)}))
put("safetensors", "mlp-ratio-1e19.safetensors",
    safetensors({"x": ("F32", [1], floats(1))}, {"config": json.dumps(dict(config, mlp_ratio=1e19))}))
put("safetensors", "every-dtype.safetensors", safetensors({
    "f64": ("F64", [2], struct.pack("<2d", 1.5, -2)), "f16": ("F16", [2], struct.pack("<2e", 0.5, 65504)),
    "bf16": ("BF16", [1], b"\xc0\x3f"), "i64": ("I64", [1], struct.pack("<q", -5)),
    "i32": ("I32", [1], struct.pack("<i", 7)), "i16": ("I16", [1], struct.pack("<h", -3)),
    "i8": ("I8", [1], b"\xff"), "u8": ("U8", [2], b"\x01\x02"), "bool": ("BOOL", [1], b"\x01"),
    "scalar": ("F32", [], floats(1)), "empty": ("F32", [0, 3], b"")}))


def raw_safetensors(header, data=b""):
    return struct.pack("<Q", len(header)) + header.encode() + data


put("safetensors", "overflow-shape.safetensors",
    raw_safetensors('{"t":{"dtype":"F32","shape":[2147483646,2147483646,2],"data_offsets":[0,4]}}', b"\0" * 4))
put("safetensors", "duplicate-key.safetensors", raw_safetensors(
    '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', b"\0" * 8))
put("safetensors", "many-entries.safetensors", raw_safetensors(
    "{" + ",".join(f'"t{i}":{{"dtype":"U8","shape":[1],"data_offsets":[{i},{i + 1}]}}' for i in range(500)) + "}", b"\7" * 500))


# idx: valid image and label files, plain and gzip, and the headers that trapped.
def idx(shape, data=b""):
    return bytes([0, 0, 8, len(shape)]) + b"".join(struct.pack(">I", d) for d in shape) + data


put("idx", "images-plain.idx", idx([2, 3, 2], bytes(range(12))))
put("idx", "labels.idx.gz", gzip.compress(idx([3], b"\0\1\2"), mtime=0))
put("idx", "huge-dimensions.idx", idx([0xFFFFFFFF] * 4))
put("idx", "zero-by-zero.idx", idx([5, 0, 0]))
put("idx", "claims-a-gigabyte.idx", idx([1000, 1000, 1000], b"\1\2\3"))
put("idx", "truncated.idx.gz", gzip.compress(idx([4, 4, 4], bytes(64)), mtime=0)[:30])


# png: small valid images, and headers claiming more pixels than the file can hold.
def png(width, height, color_type=0, rows=None):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    idat = zlib.compress(rows) if rows is not None else bytes([0x78, 0x9C, 0x63, 0, 0, 0, 1, 0, 1, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


put("png", "gray-3x2.png", png(3, 2, 0, b"\0\1\2\3\0\4\5\6"))
put("png", "rgb-2x2.png", png(2, 2, 2, b"\0" + bytes(range(6)) + b"\1" + bytes(range(6))))
put("png", "terabyte-69-bytes.png", png(1_000_000, 1_000_000))
put("png", "16000-squared.png", png(16000, 16000))

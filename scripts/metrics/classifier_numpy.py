#!/usr/bin/env python3
"""The Fashion-MNIST classifier's forward pass in numpy, from its weights file read as the
PyTorch state dict it is (conv `[out, in, 3, 3]`, padding 1, ReLU; flatten of NCHW; fc1 + ReLU
= the features; fc2 = the logits): an independent check that `dydit features` computes what
the file describes, and a way to use the features outside Swift.

    python3 scripts/metrics/classifier_numpy.py WEIGHTS FEATURES.safetensors [--data DIR]

FEATURES is what `dydit features fashion-mnist:test:N --out FEATURES` wrote; its images are
re-read here from the IDX files, pushed through the numpy model, and compared. Exit 1 if
features or logits differ by more than 1e-4 of their largest magnitude.
"""
import argparse
import gzip
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from metrics_reference import read_safetensors  # noqa: E402


def read_idx_images(path):
    raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
    n, rows, cols = np.frombuffer(raw[4:16], dtype=">u4")
    return np.frombuffer(raw[16:16 + n * rows * cols], dtype=np.uint8).reshape(n, rows, cols)


def conv3x3(x, w, b, stride):
    """x [N, C, H, W], w [O, C, 3, 3], padding 1 → [N, O, H', W']."""
    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ho, wo = (h - 1) // stride + 1, (wd - 1) // stride + 1
    cols = np.empty((n, c, 3, 3, ho, wo), dtype=np.float64)
    for ky in range(3):
        for kx in range(3):
            cols[:, :, ky, kx] = xp[:, :, ky:ky + stride * (ho - 1) + 1:stride, kx:kx + stride * (wo - 1) + 1:stride]
    return np.einsum("nckluv,ockl->nouv", cols, w) + b[None, :, None, None]


def forward(weights, meta, images):
    arch = json.loads(meta["classifier"])
    x = images.astype(np.float64)[:, None] / 127.5 - 1
    for i, (_, _, stride) in enumerate(arch["convs"]):
        x = np.maximum(conv3x3(x, weights[f"conv{i + 1}.weight"].astype(np.float64),
                               weights[f"conv{i + 1}.bias"].astype(np.float64), stride), 0)
    flat = x.reshape(x.shape[0], -1)
    h = np.maximum(flat @ weights["fc1.weight"].T.astype(np.float64) + weights["fc1.bias"], 0)
    return h, h @ weights["fc2.weight"].T.astype(np.float64) + weights["fc2.bias"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("weights")
    p.add_argument("features")
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    args = p.parse_args()
    raw = open(args.weights, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    meta = json.loads(raw[8:8 + n])["__metadata__"]
    weights = read_safetensors(args.weights)
    got = read_safetensors(args.features)
    count = got["features"].shape[0]
    images = read_idx_images(os.path.join(args.data, "t10k-images-idx3-ubyte.gz"))[:count]
    h, logits = forward(weights, meta, images)
    ok = True
    for name, want in (("features", h), ("logits", logits)):
        err = np.abs(got[name] - want).max() / np.abs(want).max()
        print(f"numpy classifier vs dydit features: {name} max|a-b|/max|b| = {err:.2e} ({count} images)")
        ok &= bool(err <= 1e-4)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

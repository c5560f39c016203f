#!/usr/bin/env python3
"""Writes Tests/Fixtures/metrics/metric_cases.safetensors: feature sets and the metrics that
numpy/scipy (and mpmath, where scipy's sqrtm is unreliable) compute on them, for
Tests/EvaluationTests. Run once; the output is committed and CI only reads it.

    /usr/bin/python3 scripts/metrics/make_metric_cases.py

Cases (each `<case>/x [n, d]`, `<case>/y [m, d]` F64; results F64 scalars):
  full_rank      n = m = 600, d = 32, non-negative ReLU-like features: fd (scipy), kid (whole sets),
                 precision/recall (k = 3, brute force)
  wide           n = 40, m = 50, d = 64: rank-deficient covariances (fewer samples than features);
                 fd in 50-digit arithmetic (mpmath) of tr(A) + tr(B) − 2 tr((A^½ B A^½)^½)
  ill            n = m = 300, d = 16, feature scales spanning 1e-4…1e2 (condition ~1e12): fd (scipy)
  identical      x = y: fd 0 up to rounding
"""
import json
import os
import struct
import sys

import mpmath
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from metrics_reference import frechet_distance, mmd_polynomial, precision_recall  # noqa: E402


def write_safetensors(path, tensors, metadata):
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a, dtype=np.float64)
        header[name] = {"dtype": "F64", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        blobs.append(a.tobytes())
        offset += a.nbytes
    header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def fd_mpmath(x, y, digits=50):
    mpmath.mp.dps = digits
    def moments(z):
        mu = z.mean(0)
        c = np.cov(z, rowvar=False)
        return mu, mpmath.matrix(c.tolist())
    mu1, a = moments(x)
    mu2, b = moments(y)
    ea, ua = mpmath.eigsy(a)
    roots = mpmath.diag([mpmath.sqrt(max(v, 0)) for v in ea])
    ra = ua * roots * ua.T
    m = ra * b * ra
    m = (m + m.T) / 2
    em, _ = mpmath.eigsy(m)
    tr = sum(mpmath.sqrt(max(v, 0)) for v in em)
    diff = mu1 - mu2
    val = mpmath.mpf(float(diff.dot(diff))) + sum(a[i, i] for i in range(a.rows)) + sum(b[i, i] for i in range(b.rows)) - 2 * tr
    return float(val)


def main():
    rng = np.random.default_rng(20261130)
    tensors, meta = {}, {}

    x = np.maximum(rng.normal(0.3, 1, (600, 32)) @ rng.normal(0, 0.5, (32, 32)), 0)
    y = np.maximum(rng.normal(0.2, 1, (600, 32)) @ rng.normal(0, 0.5, (32, 32)), 0)
    p, r = precision_recall(y, x)
    tensors.update({"full_rank/x": x, "full_rank/y": y, "full_rank/fd": np.array([frechet_distance(x, y)]),
                    "full_rank/kid": np.array([mmd_polynomial(x, y)]), "full_rank/precision": np.array([p]),
                    "full_rank/recall": np.array([r])})

    x = rng.normal(0, 1, (40, 64)) @ rng.normal(0, 1, (64, 64))
    y = rng.normal(0.1, 1, (50, 64)) @ rng.normal(0, 1, (64, 64))
    tensors.update({"wide/x": x, "wide/y": y, "wide/fd": np.array([fd_mpmath(x, y)])})

    scales = np.logspace(-4, 2, 16)
    x = rng.normal(0, 1, (300, 16)) * scales
    y = rng.normal(0.01, 1, (300, 16)) * scales * 1.01
    tensors.update({"ill/x": x, "ill/y": y, "ill/fd": np.array([frechet_distance(x, y)])})

    x = rng.normal(0, 1, (200, 24))
    tensors.update({"identical/x": x, "identical/y": x.copy(), "identical/fd": np.array([0.0])})

    meta["note"] = "made by scripts/metrics/make_metric_cases.py with numpy %s, scipy %s, mpmath %s" % (
        np.__version__, __import__("scipy").__version__, mpmath.__version__)
    out = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "metrics", "metric_cases.safetensors")
    write_safetensors(os.path.normpath(out), tensors, meta)
    for k, v in tensors.items():
        if v.size == 1:
            print(k, float(v[0]))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The distribution metrics in numpy/scipy, independent of the Swift code: the reference that
`dydit metrics` is checked against (scripts/test.sh, Tests/Fixtures/metrics/).

    python3 scripts/metrics/metrics_reference.py SAMPLES_FEATURES REFERENCE_FEATURES [--kid-full]

Both files are what `dydit features` writes (F32 `features [N, D]`, optional I64 `classes`,
F32 `logits`). Prints one JSON object: n, fd (scipy.linalg.sqrtm, as pytorch-fid computes
it), kid and kid_std (torch-fidelity's formula on the whole sets when --kid-full: the subset
is every image, which needs equally many images in both sets), precision and recall
(Kynkäänniemi et al., k = 3, brute force) and class_accuracy (argmax of the logits against
the classes). Needs python3 with numpy and scipy (Debian: python3-numpy python3-scipy).
"""
import argparse
import json
import struct
import sys

import numpy as np
import scipy.linalg


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    dtypes = {"F32": np.float32, "F64": np.float64, "I64": np.int64}
    out = {}
    for name, e in header.items():
        a, b = e["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=dtypes[e["dtype"]]).reshape(e["shape"])
    return out


def frechet_distance(x, y):
    """pytorch-fid's calculate_frechet_distance, on float64 moments (np.cov: ddof 1)."""
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean, _ = scipy.linalg.sqrtm(s1.dot(s2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * 1e-6
        covmean = scipy.linalg.sqrtm((s1 + offset).dot(s2 + offset))
    covmean = covmean.real
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def mmd_polynomial(x, y):
    """torch-fidelity's unbiased MMD² with k(a, b) = (aᵀb/d + 1)³, on two equally large sets."""
    d = x.shape[1]
    m = x.shape[0]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    a = kxx.sum() - np.diag(kxx).sum() + kyy.sum() - np.diag(kyy).sum()
    return float(a / (m * (m - 1)) - 2 * kxy.sum() / (m * m))


def precision_recall(real, fake, k=3):
    def sq_dist(a, b):
        return np.maximum((a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None, :], 0)
    r_real = np.sort(sq_dist(real, real), axis=1)[:, k]
    r_fake = np.sort(sq_dist(fake, fake), axis=1)[:, k]
    d = sq_dist(real, fake)  # [real, fake]
    precision = float((d <= r_real[:, None]).any(axis=0).mean())
    recall = float((d <= r_fake[None, :]).any(axis=1).mean())
    return precision, recall


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("samples")
    p.add_argument("reference")
    p.add_argument("--kid-full", action="store_true", help="KID on the whole sets (they must be equally large)")
    args = p.parse_args()
    s, r = read_safetensors(args.samples), read_safetensors(args.reference)
    x, y = s["features"].astype(np.float64), r["features"].astype(np.float64)
    out = {"n": int(x.shape[0]), "fd": frechet_distance(x, y)}
    if args.kid_full:
        if x.shape[0] != y.shape[0]:
            sys.exit("--kid-full needs equally many images in both sets")
        out["kid"] = mmd_polynomial(x, y)
    out["precision"], out["recall"] = precision_recall(y, x)
    if "classes" in s and "logits" in s:
        out["class_accuracy"] = float((s["logits"].argmax(1) == s["classes"]).mean())
    print(json.dumps(out))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Floors and sanity checks of the quality metrics, written to Experiments/results/metric-floors/:

- real against real: the first N, second N and third N training images against the whole test
  split (N = 1k, 2k, 5k, 10k): the metrics' bias with the sample count, and its spread;
- degraded real images: the first N test images (the reference's own images) and the first N
  training images (independent of it), blurred with a Gaussian of σ = 0.5, 1, 2 pixels
  (scipy.ndimage.gaussian_filter, reflect, truncate 4σ) or with additive Gaussian noise of σ =
  0.05, 0.1, 0.2 (in [-1, 1] units, clamped): FD must grow with the damage.

    python3 scripts/metrics/floors.py [--dydit .build/release/dydit] [--threads 2]

Writes floors.csv, README.md (the tables) and degraded.png (one example per damage). Needs
python3 with numpy and scipy; the metrics themselves come from `dydit metrics`.
"""
import argparse
import csv
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np
from scipy.ndimage import gaussian_filter

DATA = "/usr/share/datasets/fashion-mnist"
OUT = os.path.join("Experiments", "results", "metric-floors")


def idx(name):
    raw = gzip.open(os.path.join(DATA, name)).read()
    dims = int(raw[3])
    shape = np.frombuffer(raw[4:4 + 4 * dims], dtype=">u4").astype(int)
    return np.frombuffer(raw[4 + 4 * dims:4 + 4 * dims + int(np.prod(shape))], dtype=np.uint8).reshape(shape)


def write_samples(path, images, classes):
    """images [N, 28, 28] float in [-1, 1] and their labels → the samples file `dydit metrics` reads."""
    a = np.ascontiguousarray(images[:, None], dtype=np.float32)
    c = np.ascontiguousarray(classes, dtype=np.int64)
    header = {"samples": {"dtype": "F32", "shape": list(a.shape), "data_offsets": [0, a.nbytes]},
              "classes": {"dtype": "I64", "shape": [len(c)], "data_offsets": [a.nbytes, a.nbytes + c.nbytes]}}
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + a.tobytes() + c.tobytes())


def write_png(path, gray):
    """8-bit gray PNG, by hand (zlib + CRCs), so no imaging library is needed."""
    h, w = gray.shape
    rows = b"".join(b"\x00" + gray[y].tobytes() for y in range(h))
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")
    open(path, "wb").write(png)


def damage(images, kind, amount, rng):
    x = images.astype(np.float64) / 127.5 - 1
    if kind == "blur":
        x = np.stack([gaussian_filter(im, sigma=amount, mode="reflect", truncate=4.0) for im in x])
    elif kind == "noise":
        x = x + rng.normal(0, amount, x.shape)
    return np.clip(x, -1, 1)


def metrics(dydit, path, threads):
    out = subprocess.run([dydit, "metrics", path, "--json", "--threads", str(threads)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dydit", default=".build/release/dydit")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    os.makedirs(OUT, exist_ok=True)
    train, test = idx("train-images-idx3-ubyte.gz"), idx("t10k-images-idx3-ubyte.gz")
    labels = {"train": idx("train-labels-idx1-ubyte.gz"), "test": idx("t10k-labels-idx1-ubyte.gz")}
    rng = np.random.default_rng(0)
    rows = []
    tmp = tempfile.mkdtemp()
    def score(label, kind, amount, source, n, images, first=0):
        path = os.path.join(tmp, "s.safetensors")
        write_samples(path, images, labels[source][first:first + n])
        m = metrics(args.dydit, path, args.threads)
        row = {"set": label, "damage": kind, "amount": amount, "source": source, "n": n}
        row.update({k: m.get(k) for k in ("fd", "kid", "kid_std", "precision", "recall", "class_accuracy")})
        rows.append(row)
        print(f"{label:28s} {kind:6s} {amount:<5} {source:6s} N={n:5d}  FD {m['fd']:.4f}  KID {m['kid']:.5f}  "
              f"P {m['precision']:.3f} R {m['recall']:.3f}", flush=True)
    for n in (1000, 2000, 5000, 10000):
        for k in range(3):
            score(f"train[{k * n}:{(k + 1) * n}]", "none", 0, "train", n, train[k * n:(k + 1) * n] / 127.5 - 1, first=k * n)
    examples = []
    for kind, amounts in (("blur", (0.5, 1.0, 2.0)), ("noise", (0.05, 0.1, 0.2))):
        for amount in amounts:
            for source, images in (("test", test), ("train", train)):
                for n in (1000, 5000, 10000):
                    score(f"{source}[:{n}] {kind} {amount}", kind, amount, source, n, damage(images[:n], kind, amount, rng))
            examples.append(damage(test[:8], kind, amount, rng))
    with open(os.path.join(OUT, "floors.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    # One row of 8 test images per damage, the originals first.
    pic = np.concatenate([np.concatenate(list(r), axis=1) for r in np.stack([test[:8] / 127.5 - 1] + examples)], axis=0)
    write_png(os.path.join(OUT, "degraded.png"), ((pic + 1) * 127.5).round().astype(np.uint8))
    print(f"wrote {OUT}/floors.csv and degraded.png ({len(rows)} rows)")


if __name__ == "__main__":
    main()

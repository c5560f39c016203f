#!/usr/bin/env python3
"""The σ = 0.5 px blur anchor (issue 15's quality goal) at any sample count N: the first N test
images and the first N training images blurred as scripts/metrics/floors.py blurs them, scored
by `dydit metrics` against the test split. floors.py records N = 1000, 5000 and 10 000; a
result at another N (the guidance sweep's 2000) is compared with the anchor at its own N.

    python3 scripts/metrics/blur_anchor.py 2000 [--sigma 0.5] [--dydit .build/release/dydit] [--threads 2]
"""
import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import floors  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("n", type=int, help="images per set")
    p.add_argument("--sigma", type=float, default=0.5, help="blur σ in pixels (default 0.5)")
    p.add_argument("--dydit", default=".build/release/dydit")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    rng = np.random.default_rng(0)  # unused by blur; floors.damage takes one
    path = os.path.join(tempfile.mkdtemp(), "blurred.safetensors")
    for source, images, labels in (("test", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
                                   ("train", "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")):
        x, y = floors.idx(images)[:a.n], floors.idx(labels)[:a.n]
        floors.write_samples(path, floors.damage(x, "blur", a.sigma, rng), y)
        m = floors.metrics(a.dydit, path, a.threads)
        print(f"{source}[:{a.n}] blur {a.sigma}: FD {m['fd']:.2f}  KID {m['kid']:.4f}  precision {m['precision']:.3f}  "
              f"recall {m['recall']:.3f}  class accuracy {m['class_accuracy']:.3f}")


if __name__ == "__main__":
    main()

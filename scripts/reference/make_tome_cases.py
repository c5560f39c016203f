"""ToMe's bipartite soft matching as tomesd computes it: the parity cases of
`TokenMergingTests` (Tests/ModelTests).

`tomesd` 0.1.3 (PyPI), `merge.bipartite_soft_matching_random2d` with `no_rand=True` (the
top-left token of each window is the destination; the random choice draws from torch's
generator, which the Swift side does not reproduce). Per case: the metric (the block's input
`h`, what `compute_merge` passes), the tensor merged (the modulated input, another width),
and `unmerge(merge(x))`: every token's row after the round trip (unmerged sources unchanged,
each destination and its merged sources the group's mean), which fixes the matching and the
averaging whatever order the merged rows are kept in.

Usage: .build/venv-ref/bin/pip install tomesd==0.1.3 --no-deps
       .build/venv-ref/bin/python scripts/reference/make_tome_cases.py -o Tests/Fixtures/reference-extra/tome.safetensors
"""
import argparse
import json

import numpy as np
import tomesd
import torch
from safetensors.numpy import save_file
from tomesd.merge import bipartite_soft_matching_random2d

CASES = {
    # name: (grid side, sx, sy, ratio, batch, metric width, merged width)
    "side8_2x2_r0.5": (8, 2, 2, 0.5, 3, 16, 24),
    "side4_2x2_r0.25": (4, 2, 2, 0.25, 2, 8, 8),
    "side6_4x4_r0.5": (6, 4, 4, 0.5, 2, 12, 5),
    "side8_4x2_r0.6": (8, 4, 2, 0.6, 4, 16, 16),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--out", required=True)
    args = parser.parse_args()
    tensors, metadata = {}, {}
    for seed, (name, (side, sx, sy, ratio, batch, cm, cx)) in enumerate(sorted(CASES.items())):
        g = torch.Generator().manual_seed(5000 + seed)
        n = side * side
        metric = torch.randn(batch, n, cm, generator=g)
        x = torch.randn(batch, n, cx, generator=g)
        r = int(n * ratio)  # compute_merge's r
        merge, unmerge = bipartite_soft_matching_random2d(metric, side, side, sx, sy, r, no_rand=True)
        merged = merge(x)
        tensors[f"{name}/metric"] = metric.numpy()
        tensors[f"{name}/x"] = x.numpy()
        tensors[f"{name}/roundtrip"] = unmerge(merged).numpy()
        metadata[name] = json.dumps({"side": side, "sx": sx, "sy": sy, "ratio": ratio, "kept": merged.shape[1]})
        print(f"{name}: {n} tokens → {merged.shape[1]}")
    metadata["generator"] = json.dumps({"script": "scripts/reference/make_tome_cases.py", "tomesd": tomesd.__version__ if hasattr(tomesd, "__version__") else "0.1.3",
                                        "torch": torch.__version__})
    save_file(tensors, args.out, metadata=metadata)
    print(f"{len(CASES)} cases → {args.out}")


if __name__ == "__main__":
    main()

"""FID and KID of folders of results against the true photos, as sets of patches, through a feature
network the user has on disk (`restore.benchmarks.fid`; nothing is downloaded).

    python -m lab.fid_patches TRUTH RESULTS [RESULTS ...] --extractor NET.pt [--patch 64]
        [--subsets 100] [--subset-size 1000] [--seed 0]

TRUTH: a folder of the true photos (e.g. DATA_ROOT/natural/val); RESULTS: folders of restored
images (e.g. the OUT/CONFIG folders of `lab.whole_photo --save`). Each image is cut into
non-overlapping PATCH x PATCH tiles (`patches`), every set goes through the network in float32
(N, 3, PATCH, PATCH) on [0, 1] (`features`), and each RESULTS folder gets FID and KID (x 1e3, its
subsets drawn from --seed) against TRUTH's tiles, as a markdown table on stdout. Patch sets of a
few photos: the numbers rank methods on one network and patch size and are not comparable to
published FID or KID (module docstring of restore.benchmarks.fid).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SUFFIXES = (".png", ".jpg", ".jpeg")


def tiles(folder: Path, size: int) -> np.ndarray:
    """The tiles of every image in `folder` (sorted by name), (N, 3, size, size) on [0, 1]."""
    from PIL import Image

    from restore.benchmarks.fid import patches

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES) if folder.is_dir() else []
    if not files:
        raise SystemExit(f"{folder}: no images ({', '.join(SUFFIXES)})")
    return patches([np.asarray(Image.open(f).convert("RGB"), np.float32) / 255 for f in files], size)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("truth", type=Path)
    ap.add_argument("results", nargs="+", type=Path)
    ap.add_argument("--extractor", type=Path, required=True, help="The feature network: a TorchScript file, or "
                    "an exported program (.pt2) with a dynamic batch; (N, 3, H, W) on [0, 1] -> (N, d).")
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--subsets", type=int, default=100)
    ap.add_argument("--subset-size", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=64)
    a = ap.parse_args(argv)
    import torch

    from restore.benchmarks.fid import features, fid, kid, load_extractor

    try:
        net = load_extractor(a.extractor)
    except ValueError as e:
        raise SystemExit(str(e)) from None
    ref = features(net, tiles(a.truth, a.patch), a.batch)
    lines = ["| results | patches | FID | KID x1e3 |", "|---|---|---|---|"]
    for folder in a.results:
        f = features(net, tiles(folder, a.patch), a.batch)
        k = kid(f, ref, a.subsets, a.subset_size, torch.Generator().manual_seed(a.seed))
        lines.append(f"| {folder.name} | {len(f)} | {fid(f, ref):.2f} | {1e3 * k:.2f} |")
    print("\n".join(lines) + f"\n\n{len(ref)} true patches of {a.patch} px; feature network {a.extractor.name}.")


if __name__ == "__main__":
    main()

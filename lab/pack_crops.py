"""Pack training crops from a folder of photos into one uint8 .npz that `restore train` reads
(priors/data.py: an (N, H, W, 3) uint8 array under the key `images`), small enough to carry to a
lent GPU machine (at most 64 MB of carried files in all; default well under 20 MB).

    python -m lab.pack_crops ../shared/data/natural/train crops.npz              # 2,000 random 64x64, 18.5 MB
    python -m lab.pack_crops ../shared/data/natural/val val.npz --center 128     # one central crop each
    python -m lab.pack_crops ../shared/data/natural/train photos --whole          # whole photos, 20 MB

Whole mode: copies the photo files themselves (a seeded random order) into the folder OUT until the
next would pass --max-mb; `restore train` reads the folder. The training photos are JPEGs already,
so for the same megabytes this carries about 5x the pixels of the random crops (natural/train: 266
of the 400 photos, 41 MP, against 8 MP in 2,000 crops of 64x64) with no loss beyond their own.

Random mode: `--per-image` crops of side `--size` from each photo at uniform positions (seeded;
the photos in sorted order), shuffled. 64x64 crops keep the shipped natural recipe's scale views
(`--scales 2`: a crop of side 32..64 area-resized to 32) possible. Centre mode: one central crop
per photo (validation for `restore eval`, whose own central crop and --scale then apply).
Written with np.savez_compressed; refuses to exceed --max-mb.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

from restore.io import IMAGE_SUFFIXES, read_image


def _photo_files(src) -> list[Path]:
    files = sorted(p for p in Path(src).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{src}: no images found")
    return files


def pack(src, out, *, size: int = 64, per_image: int = 5, center: int = 0, seed: int = 0,
         max_mb: float = 20.0) -> dict:
    files = _photo_files(src)
    rng = np.random.default_rng(seed)
    crops, skipped = [], 0
    for f in files:
        a = np.asarray(read_image(f, "RGB"), dtype=np.uint8)
        h, w = a.shape[:2]
        side = center or size
        if min(h, w) < side:
            skipped += 1
            continue
        if center:
            y, x = (h - side) // 2, (w - side) // 2
            crops.append(a[y:y + side, x:x + side])
            continue
        for _ in range(per_image):
            y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
            crops.append(a[y:y + side, x:x + side])
    if not crops:
        raise ValueError(f"{src}: every image is smaller than {center or size} px")
    arr = np.stack(crops)
    if not center:
        arr = arr[rng.permutation(len(arr))]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(tmp, images=np.ascontiguousarray(arr))
    mb = tmp.stat().st_size / 1e6
    if mb > max_mb:
        tmp.unlink()
        raise ValueError(f"{out}: {mb:.1f} MB is over --max-mb {max_mb}; lower --per-image or --size")
    tmp.replace(out)
    return {"path": str(out), "images": len(files), "skipped": skipped, "crops": len(arr),
            "shape": list(arr.shape), "mb": round(mb, 2)}


def pack_whole(src, out, *, seed: int = 0, max_mb: float = 20.0) -> dict:
    files = _photo_files(src)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out}: not an empty folder")
    out.mkdir(parents=True, exist_ok=True)
    total, kept = 0, []
    for i in np.random.default_rng(seed).permutation(len(files)):
        f = files[int(i)]
        size = f.stat().st_size
        if total + size > max_mb * 1e6:
            break
        name = f"{len(kept):04d}_{f.name}"  # sorted names keep the seeded order
        shutil.copyfile(f, out / name)
        kept.append(name)
        total += size
    if not kept:
        raise ValueError(f"{out}: the first photo alone is over --max-mb {max_mb}")
    return {"path": str(out), "images": len(files), "kept": len(kept), "mb": round(total / 1e6, 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", help="Folder of photos (searched recursively).")
    ap.add_argument("out", help="Output .npz.")
    ap.add_argument("--size", type=int, default=64, help="Side of the random crops (default 64).")
    ap.add_argument("--per-image", type=int, default=5, help="Random crops per photo (default 5).")
    ap.add_argument("--center", type=int, default=0, help="One central crop of this side per photo instead.")
    ap.add_argument("--whole", action="store_true", help="Copy whole photo files into the folder OUT instead.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-mb", type=float, default=20.0, help="Refuse a larger file (default 20).")
    a = ap.parse_args(argv)
    try:
        if a.whole:
            r = pack_whole(a.src, a.out, seed=a.seed, max_mb=a.max_mb)
            print(f"{r['path']}: {r['kept']} of {r['images']} photos, {r['mb']} MB")
            return 0
        r = pack(a.src, a.out, size=a.size, per_image=a.per_image, center=a.center, seed=a.seed, max_mb=a.max_mb)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{r['path']}: {r['crops']} crops {tuple(r['shape'])} from {r['images']} photos "
          f"({r['skipped']} too small), {r['mb']} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

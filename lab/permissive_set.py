"""The permissively licensed photographs at hand: those scikit-image ships (issue 35 item 5).

    python -m lab.permissive_set OUT

Writes each photo of scikit-image's bundled data whose docstring states public domain or CC0 as
OUT/NAME.png (RGB; grey photos repeated on the three channels) and OUT/LICENCES.md with the
statement it carries. scikit-image is already a dependency, so nothing is downloaded. Left out:
medical and microscope pictures (retina, immunohistochemistry), the Hubble deep field, drawings,
text and photos without a stated licence (moon, coins, page, motorcycle).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image

# scikit-image loader -> the licence its docstring states
PHOTOS = {
    "astronaut": "NASA, no known copyright restrictions",
    "chelsea": "CC0 (Stefan van der Walt)",
    "coffee": "CC0 (Rachel Michetti)",
    "rocket": "public domain (SpaceX)",
    "camera": "CC0 (Lav Varshney)",
    "brick": "CC0 (CC0Textures)",
    "grass": "CC0 (DeviantArt, linolafett)",
    "gravel": "CC0 (CC0Textures)",
}


def write(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    files, lines = [], ["# Permissively licensed photos (scikit-image's bundled data)", ""]
    for name, licence in PHOTOS.items():
        a = np.asarray(getattr(skimage.data, name)())
        if a.ndim == 2:
            a = np.repeat(a[..., None], 3, axis=2)
        f = out / f"{name}.png"
        Image.fromarray(a[..., :3].astype(np.uint8)).save(f)
        files.append(f)
        lines.append(f"- {f.name}: {a.shape[1]}x{a.shape[0]}, skimage.data.{name}: {licence}")
    (out / "LICENCES.md").write_text("\n".join(lines) + "\n")
    return files


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    a = ap.parse_args(argv)
    files = write(a.out)
    mp = sum(np.prod(Image.open(f).size) for f in files) / 1e6
    print(f"{len(files)} photos, {mp:.2f} MP -> {a.out}")


if __name__ == "__main__":
    main()

"""The perception-distortion plane (Blau & Michaeli, CVPR 2018) of whole-photo rows: PSNR against a
perceptual distance, one point per configuration, as a markdown table and a PNG.

    python -m lab.plane ROWS [ROWS ...] -o OUT.png [--ref CONFIG] [--configs A,B,...]
        [--label CONFIG=NAME ...] [--measure swd_hole] [--title TEXT]

ROWS: rows.csv files (or folders holding one) of `lab.whole_photo`, one task and split; rows of
one (image, configuration) found twice keep the first. Only the images every shown configuration
has are counted. The table gives each configuration's mean PSNR (inside the holes for a fill,
the whole photo otherwise), the perceptual distance (default: the sliced Wasserstein distance of
Laplacian-pyramid patches to the truth, x 1e3, lower is more like the photo), texture ratio
(median), NIQE and s/MP, and the paired 95 % intervals of PSNR and distance against --ref. The
plot puts distortion (PSNR, better to the right) against perception (distance, better down).
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from restore.benchmarks.metrics import interval

COLUMNS = {"swd_hole": "SWD x1e3", "niqe": "NIQE", "texture_hole": "texture ratio"}


def read_rows(paths: list[Path]) -> dict[str, dict[str, dict]]:
    """config -> image -> row, from rows.csv files or folders holding one."""
    by: dict[str, dict[str, dict]] = {}
    for p in paths:
        p = p / "rows.csv" if p.is_dir() else p
        for r in csv.DictReader(p.open()):
            by.setdefault(r["config"], {}).setdefault(r["image"], r)
    return by


def points(by: dict, configs: list[str], measure: str) -> tuple[list[str], list[dict]]:
    """The images every config has, and per config its means over them."""
    have = [c for c in configs if c in by and all(by[c][i].get(measure) not in (None, "") for i in by[c])]
    if not have:
        raise SystemExit(f"no configuration has the column {measure!r}")
    images = sorted(set.intersection(*(set(by[c]) for c in have)))
    out = []
    for c in have:
        rs = [by[c][i] for i in images]
        col = lambda k: np.array([float(r[k]) for r in rs if r.get(k) not in (None, "")])
        out.append({"config": c, "psnr": col("psnr_hole"), "measure": col(measure),
                    "texture": float(np.median(col("texture_hole"))) if len(col("texture_hole")) else float("nan"),
                    "niqe": float(col("niqe").mean()) if len(col("niqe")) else float("nan"),
                    "s_mp": float(col("seconds").sum() / col("megapixels").sum())})
    return images, out


def table(pts: list[dict], ref: str, labels: dict, measure: str, n: int) -> str:
    r = next((p for p in pts if p["config"] == ref), pts[0])
    fmt = lambda c: f"{c[0]:+.2f} ({c[1]:+.2f}, {c[2]:+.2f})"
    lines = [f"| result | configuration | PSNR | vs {labels.get(r['config'], r['config'])} | {COLUMNS.get(measure, measure)} "
             f"| vs {labels.get(r['config'], r['config'])} | texture ratio (median) | NIQE | s/MP |",
             "|---|---|---|---|---|---|---|---|---|"]
    for p in pts:
        same = p is r
        lines.append(f"| {labels.get(p['config'], p['config'])} | `{p['config']}` | {p['psnr'].mean():.2f} "
                     f"| {'' if same else fmt(interval(p['psnr'] - r['psnr']))} | {p['measure'].mean():.1f} "
                     f"| {'' if same else fmt(interval(p['measure'] - r['measure']))} | {p['texture']:.2f} "
                     f"| {p['niqe']:.2f} | {p['s_mp']:.0f} |")
    return "\n".join(lines) + f"\n\n{n} photos; intervals: paired 95 % t over the photos."


def plot(pts: list[dict], labels: dict, measure: str, path: Path, title: str = "") -> None:
    """A scatter of mean PSNR (x) against the mean distance (y) with PIL: no plotting library."""
    from PIL import Image, ImageDraw

    W, H, m = 760, 520, 70
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    xs = np.array([p["psnr"].mean() for p in pts])
    ys = np.array([p["measure"].mean() for p in pts])
    pad = lambda a: (a.min() - 0.08 * (np.ptp(a) or 1), a.max() + 0.08 * (np.ptp(a) or 1))
    (x0, x1), (y0, y1) = pad(xs), pad(ys)
    X = lambda v: m + (v - x0) / (x1 - x0) * (W - 2 * m)
    Y = lambda v: H - m - (v - y0) / (y1 - y0) * (H - 2 * m)
    d.rectangle([m, m, W - m, H - m], outline="black")
    for k in range(5):
        vx, vy = x0 + (x1 - x0) * k / 4, y0 + (y1 - y0) * k / 4
        d.line([X(vx), H - m, X(vx), H - m + 5], fill="black")
        d.text((X(vx) - 14, H - m + 8), f"{vx:.2f}", fill="black")
        d.line([m - 5, Y(vy), m, Y(vy)], fill="black")
        d.text((8, Y(vy) - 6), f"{vy:.1f}", fill="black")
    d.text((W / 2 - 120, H - 30), "PSNR, dB (distortion: better to the right)", fill="black")
    d.text((8, m - 40), f"{COLUMNS.get(measure, measure)} to the photo (perception: better down)", fill="black")
    d.text((m, 10), title, fill="black")
    for p, x, y in zip(pts, xs, ys):
        d.ellipse([X(x) - 5, Y(y) - 5, X(x) + 5, Y(y) + 5], fill="#1f77b4")
        d.text((X(x) + 8, Y(y) - 6), labels.get(p["config"], p["config"]), fill="black")
    img.save(path)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rows", nargs="+", type=Path)
    ap.add_argument("-o", "--out", type=Path, required=True, help="The plot (PNG); the table goes to stdout.")
    ap.add_argument("--configs", default=None, help="The configurations shown, in order [default: all].")
    ap.add_argument("--ref", default=None, help="The configuration the intervals are taken against [default: the first].")
    ap.add_argument("--label", action="append", default=[], help="CONFIG=NAME: a point's name.")
    ap.add_argument("--measure", default="swd_hole", choices=sorted(COLUMNS))
    ap.add_argument("--title", default="")
    a = ap.parse_args(argv)
    by = read_rows(a.rows)
    configs = a.configs.split(",") if a.configs else list(by)
    labels = dict(s.rsplit("=", 1) for s in a.label)
    images, pts = points(by, configs, a.measure)
    print(table(pts, a.ref or pts[0]["config"], labels, a.measure, len(images)))
    plot(pts, labels, a.measure, a.out, a.title)


if __name__ == "__main__":
    main()

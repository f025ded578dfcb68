"""The benchmark's outputs: the CSV of rows, the markdown tables made from it, the picture grids.

The markdown is always regenerated from the whole CSV, so a suite run in pieces (or resumed after
an interruption) gives one report. Tables show mean +- standard deviation over the images of a cell.
The per-cell summary lists the highest-scoring rows of a folder: on a val folder that is what
`choose_and_report choose` picks from; on test it is not a published margin (the best of several rows on
the images it is scored on is selection-biased, issue 22): published margins come from
`choose_and_report report` (chosen on val, each with its paired interval). `short` is what a bench run
writes into RESULTS.md's marked section: the command and a link to the folder's results.md.
"""
from __future__ import annotations

import csv
import math
import os
import platform
import re
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = ["FIELDS", "read_rows", "ensure_csv", "append_row", "markdown", "write_grid", "update_section", "machine",
           "short"]

FIELDS = ["suite", "prior", "data", "split", "task", "sigma_y", "size", "image", "method", "kind", "steps",
          "draws", "params", "psnr", "ssim", "psnr_y", "ssim_y", "nfe", "seconds", "peak_mb", "seed", "note"]


def read_rows(path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def ensure_csv(path) -> None:
    """Create the CSV with its header when missing (at once, so that pieces of a suite started
    together into one folder do not both write a header)."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        with open(path, "a", newline="") as f:
            if f.tell() == 0:
                csv.DictWriter(f, FIELDS).writeheader()


def append_row(path, row: dict) -> None:
    path = Path(path)
    new = not path.is_file() or path.stat().st_size == 0
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        if new:
            w.writeheader()
        w.writerow({k: _fmt(row.get(k, "")) for k in FIELDS})


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
        if names:
            cpu = f"{names[0]} ({len(names)} logical cores)"
    except OSError:
        pass
    return (f"{cpu}, {platform.system()} {platform.release()}, Python {platform.python_version()}, "
            f"torch {torch.__version__}, {torch.get_num_threads()} torch thread(s)")


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _stats(vals) -> tuple[float, float]:
    a = np.array([v for v in vals if not math.isnan(v)], dtype=float)
    if not len(a):
        return math.nan, math.nan
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def _pm(m: float, s: float, digits: int = 2) -> str:
    if math.isnan(m):
        return ""
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def _cells(rows: list[dict]) -> dict:
    """{(prior, split, task, sigma_y): {method: [rows]}} in first-seen order."""
    cells: dict = {}
    for r in rows:
        key = (r["prior"], r["split"], r["task"], r["sigma_y"])
        cells.setdefault(key, {}).setdefault(r["method"], []).append(r)
    return cells


def _summary(methods: dict) -> list[dict]:
    out = []
    for name, rs in methods.items():
        p, ps = _stats([_num(r["psnr"]) for r in rs])
        s, ss = _stats([_num(r["ssim"]) for r in rs])
        py, pys = _stats([_num(r["psnr_y"]) for r in rs])
        sy, sys_ = _stats([_num(r["ssim_y"]) for r in rs])
        failed = sum(1 for r in rs if r.get("note", "").startswith("failed"))
        out.append({"method": name, "kind": rs[0]["kind"], "n": len(rs), "failed": failed, "psnr": p, "psnr_sd": ps, "ssim": s,
                    "ssim_sd": ss, "psnr_y": py, "psnr_y_sd": pys, "ssim_y": sy, "ssim_y_sd": sys_,
                    "nfe": _stats([_num(r["nfe"]) for r in rs])[0],
                    "seconds": _stats([_num(r["seconds"]) for r in rs])[0],
                    "peak_mb": max((_num(r["peak_mb"]) for r in rs), default=math.nan),
                    "params": rs[0]["params"], "size": rs[0]["size"]})
    return out


def _costs(rows: list[dict]) -> str:
    """Network evaluations and summed solve time of rows; a draw that is part of an N-draw batch is
    counted through its mean row only."""
    counted = [r for r in rows if r["kind"] != "diffusion" or "mean" in r["method"] or _num(r["draws"]) == 1]
    nfe = sum(_num(r["nfe"]) for r in counted if r["kind"] == "diffusion" and not math.isnan(_num(r["nfe"])))
    secs = sum(_num(r["seconds"]) for r in counted if not math.isnan(_num(r["seconds"])))
    return f"network evaluations (all draws, all images): {nfe:.0f}; summed solve time: {secs / 60:.1f} min"


def markdown(rows: list[dict], *, title: str, command: str, date: str, grids: dict | None = None,
             link_base: Path | None = None, notes: str = "") -> str:
    """The report: header, per prior a summary (best diffusion vs best classical per cell) and the
    full tables; grids {cell key: path} are linked relative to link_base."""
    lines = [f"### {title}", "", "```", command, "```", "", f"Machine: {machine()}. Date: {date}.", ""]
    if notes:
        lines += [notes, ""]
    lines += [f"Rows: {len(rows)}; {_costs(rows)}.", ""]
    cells = _cells(rows)
    priors = list(dict.fromkeys(k[0] for k in cells))
    for prior in priors:
        keys = [k for k in cells if k[0] == prior]
        lines += [f"#### {prior}: the highest-scoring diffusion and classical rows of each cell", "",
                  f"{prior}: {_costs([r for r in rows if r['prior'] == prior])}.", "",
                  "| task | sigma_y | size | images | top diffusion row | PSNR | SSIM | top classical row | PSNR | SSIM | Δ PSNR |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for k in keys:
            summ = _summary(cells[k])
            n = max((s["n"] for s in summ), default=0)
            # only methods scored on every image of the cell compete: a mean over fewer images (a run
            # still going) is not comparable with one over all of them
            whole = [s for s in summ if s["n"] == n and not math.isnan(s["psnr"])]
            diff = [s for s in whole if s["kind"] == "diffusion" and not s["failed"]]
            clas = [s for s in whole if s["kind"] == "classical"]
            bd = max(diff, key=lambda s: s["psnr"], default=None)
            bc = max(clas, key=lambda s: s["psnr"], default=None)
            delta = bd["psnr"] - bc["psnr"] if bd and bc else math.nan
            lines.append(f"| {k[2]} | {k[3]} | {summ[0]['size'] if summ else ''} | {n} | "
                         f"{bd['method'] if bd else ''} | {_pm(bd['psnr'], bd['psnr_sd']) if bd else ''} | "
                         f"{_pm(bd['ssim'], bd['ssim_sd'], 3) if bd else ''} | {bc['method'] if bc else ''} | "
                         f"{_pm(bc['psnr'], bc['psnr_sd']) if bc else ''} | {_pm(bc['ssim'], bc['ssim_sd'], 3) if bc else ''} | "
                         f"{'' if math.isnan(delta) else f'{delta:+.2f}'} |")
        lines += ["", "The top rows of a cell are picked on the images shown: on a test folder this is not a "
                  "published margin (selection bias); see `python -m restore.benchmarks.choose_and_report report`, which "
                  "chooses on val and gives each margin its paired 95 % interval.", ""]
        for k in keys:
            summ = _summary(cells[k])
            n = max(s["n"] for s in summ)
            sr = any(not math.isnan(s["psnr_y"]) for s in summ)
            head = "| method | kind | PSNR (dB) | SSIM |" + (" PSNR Y (dB) | SSIM Y |" if sr else "") + \
                   " NFE | s / image | peak MB | params |"
            lines += [f"##### {prior} / {k[2]} / sigma_y {k[3]} ({k[1]} split, {summ[0]['size']} px, "
                      f"{n} images)", "", head,
                      "|" + "---|" * (head.count("|") - 1)]
            for s in sorted(summ, key=lambda s: (s["kind"] != "diffusion", -(s["psnr"] if not math.isnan(s["psnr"]) else -1e9))):
                nfe = "" if math.isnan(s["nfe"]) else f"{s['nfe']:.0f}"
                mb = "" if math.isnan(s["peak_mb"]) else f"{s['peak_mb']:.0f}"
                secs = "" if math.isnan(s["seconds"]) else f"{s['seconds']:.2f}"
                ys = f" {_pm(s['psnr_y'], s['psnr_y_sd'])} | {_pm(s['ssim_y'], s['ssim_y_sd'], 3)} |" if sr else ""
                psnr_text = _pm(s['psnr'], s['psnr_sd']) + (f" ({s['failed']} of {s['n']} failed: NaN/inf)" if s["failed"] else "") \
                    + (f" ({s['n']} of {n} images)" if s["n"] < n else "")
                lines.append(f"| {s['method']} | {s['kind']} | {psnr_text} | "
                             f"{_pm(s['ssim'], s['ssim_sd'], 3)} |{ys} {nfe} | {secs} | {mb} | {s['params']} |")
            if grids and k in grids and Path(grids[k]).is_file():
                rel = os.path.relpath(grids[k], link_base) if link_base else str(grids[k])
                lines += ["", f"![{prior} {k[2]} sigma_y {k[3]}]({rel})"]
            lines.append("")
    return "\n".join(lines)


def short(title: str, command: str, date: str, rows: list[dict], link: str) -> str:
    """The few lines a bench run writes into RESULTS.md: what ran, how many rows, where the tables are."""
    return "\n".join([f"{title}: `{command}` ({date}; {len(rows)} rows; {_costs(rows)}). Tables: [{link}]({link}).", ""])


def update_section(path, key: str, text: str) -> Path:
    """Replace the text between `<!-- bench:KEY begin -->` and `<!-- bench:KEY end -->` in the file
    `path` (appended at the end when the markers are absent); the rest of the file is kept."""
    path = Path(path)
    begin, end = f"<!-- bench:{key} begin -->", f"<!-- bench:{key} end -->"
    old = path.read_text() if path.is_file() else ""
    block = f"{begin}\n{text.rstrip()}\n{end}"
    pat = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    new = pat.sub(lambda _: block, old) if pat.search(old) else (old.rstrip() + "\n\n" + block + "\n").lstrip()
    path.write_text(new if new.endswith("\n") else new + "\n")
    return path


def _label_strip(labels: list[str], w: int, pad: int, height: int = 14) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    width = len(labels) * (w + pad) + pad
    im = Image.new("L", (width, height), 255)
    d = ImageDraw.Draw(im)
    font = ImageFont.load_default()
    for i, lab in enumerate(labels):
        text = lab
        while text and d.textlength(text, font=font) > w:
            text = text[:-1]
        d.text((pad + i * (w + pad), 2), text, fill=0, font=font)
    return np.asarray(im, dtype=np.float32) / 255


def write_grid(path, rows: list[list[Tensor]], labels: list[str], pad: int = 2, min_side: int = 96) -> Path:
    """A PNG grid: one row per image, one column per label (observation, methods, ground truth),
    images (1, C, H, W) on [0, 1] enlarged by pixel repetition to at least min_side, labels on top."""
    from PIL import Image

    first = rows[0][0]
    h, w = first.shape[-2:]
    f = max(1, math.ceil(min_side / max(h, w)))
    H, W = h * f, w * f
    ncol = len(labels)
    grid = np.ones((3, len(rows) * (H + pad) + pad, ncol * (W + pad) + pad), dtype=np.float32)
    for r, row in enumerate(rows):
        for c, im in enumerate(row):
            if im is None:
                continue
            a = im[0].float().clamp(0, 1)
            a = a.expand(3, *a.shape[-2:]) if a.shape[0] == 1 else a
            a = a.repeat_interleave(f, -2).repeat_interleave(f, -1).numpy()
            grid[:, pad + r * (H + pad): pad + r * (H + pad) + H, pad + c * (W + pad): pad + c * (W + pad) + W] = a[:, :H, :W]
    strip = _label_strip(labels, W, pad)
    full = np.concatenate([np.broadcast_to(strip, (3, *strip.shape)), grid], 1)
    img = Image.fromarray((full.transpose(1, 2, 0) * 255).round().astype(np.uint8))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path

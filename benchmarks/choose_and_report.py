"""Choose on val, report on test (issue 22): the protocol behind every published margin.

    python -m restore.benchmarks.choose_and_report choose VAL_DIR
    python -m restore.benchmarks.choose_and_report run VAL_DIR -o TEST_DIR --prior digits [--data ../shared/data] [--images 8]
    python -m restore.benchmarks.choose_and_report report VAL_DIR TEST_DIR [--results benchmarks/RESULTS.md]

1. `restore bench ... --split val -o VAL_DIR` scores the candidate configurations on the val split
   (baselines tuned on val too).
2. `choose` reads VAL_DIR/rows.csv and picks, per cell (prior, task, sigma_y), by mean PSNR over
   the val images: one configuration per method family (a solver, whatever its steps, number of
   draws or options: `family`), the best classical baseline (with its val-tuned parameter), and
   "best": the family winner with the best val PSNR. A configuration competes only if it was
   scored on every image of the cell without a failure. The command line's default for the task
   (`methods.default_spec`) is reported whatever its val score.
3. `run` scores exactly those configurations on the test split into TEST_DIR (one `restore bench`
   per cell, the baselines tuned on val again: the same grid, the same chosen value).
4. `report` writes per prior the headline table (`headline`: the defaults, the best val-chosen
   configuration, the val-chosen classical baseline, each margin with its paired per-image 95 %
   t interval, seconds per megapixel) and the per-family table (`family_table`) to
   TEST_DIR/../results.md (beside the val and test folders), and the headline alone into RESULTS.md's `<!-- bench:headline-PRIOR -->`
   section with `--results`. A target (issue 7: >= 1 dB over the best classical method, >= 0 dB
   on box inpainting) counts as met only when the interval's lower end meets it.

Nothing here looks at a test score to choose anything: the test rows are only read by `report`,
after the choice, for the configurations the choice named.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from . import report
from .metrics import interval
from .methods import default_spec, parse_method, spec_text

__all__ = ["family", "label_spec", "choose", "headline", "family_table", "target", "run_chosen"]

TARGETS = {"box": 0.0}  # issue 7: match the best classical method on box holes, >= 1 dB elsewhere
TARGET = 1.0


def family(method: str, kind: str) -> str:
    """A row's method family: "classical" for a baseline, the solver's name for a diffusion row
    (`ddrm-50 mean8` and `ddrm-15 strength=0.1` are both "ddrm")."""
    if kind != "diffusion":
        return "classical" if kind == "classical" else kind
    return method.split("-", 1)[0]


def label_spec(label: str) -> str:
    """The spec text that runs a diffusion row's configuration: `ddrm-50 mean8` -> `ddrm:50:mean8`,
    `ddrm-15 strength=0.1` -> `ddrm:15:strength=0.1`."""
    name, _, rest = label.partition("-")
    steps, *more = rest.split(" ")
    parts = [name, steps] + [m for m in more if "=" in m] + [m for m in more if m.startswith("mean")]
    return spec_text(parse_method(":".join(parts)))


def _cells(rows: list[dict]) -> dict:
    cells: dict = {}
    for r in rows:
        cells.setdefault((r["prior"], r["task"], r["sigma_y"]), {}).setdefault(r["method"], []).append(r)
    return cells


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _complete(methods: dict) -> dict:
    """{method: mean PSNR} of the methods scored on every image of the cell without a failure."""
    images = {r["image"] for rs in methods.values() for r in rs}
    out = {}
    for m, rs in methods.items():
        vals = [_num(r["psnr"]) for r in rs]
        if {r["image"] for r in rs} == images and not any(math.isnan(v) for v in vals) \
                and not any(str(r.get("note", "")).startswith("failed") for r in rs):
            out[m] = float(np.mean(vals))
    return out


def choose(val_rows: list[dict]) -> dict:
    """{(prior, task, sigma_y): {"families": {family: method}, "best": method or None,
    "classical": method or None, "default": spec text, "val": {method: mean val PSNR}}} (module
    docstring). Ties go to the label that sorts first, so the choice is deterministic."""
    out = {}
    for key, methods in _cells(val_rows).items():
        kinds = {m: rs[0]["kind"] for m, rs in methods.items()}
        means = _complete(methods)
        fams: dict = {}
        for m in sorted(means):
            if kinds[m] not in ("diffusion", "classical"):
                continue
            f = family(m, kinds[m])
            if f not in fams or means[m] > means[fams[f]]:
                fams[f] = m
        classical = fams.pop("classical", None)
        best = max(sorted(fams.values()), key=lambda m: means[m], default=None)
        out[key] = {"families": fams, "best": best, "classical": classical, "default": default_spec(key[1], key[0]),
                    "val": means}
    return out


def target(task: str, lower: float) -> str:
    """Whether a margin's interval (its lower end) meets the task's target."""
    t = TARGETS.get(task, TARGET)
    if math.isnan(lower):
        return "n/a"
    return f"met (lower end >= {t:g} dB)" if lower >= t else f"not met (lower end < {t:g} dB)"


def _test_stats(methods: dict, method: str | None) -> dict | None:
    """{psnr: {image: value}, seconds, mp} of a method's test rows (None when absent or failed)."""
    rs = methods.get(method or "", [])
    if not rs or any(str(r.get("note", "")).startswith("failed") or math.isnan(_num(r["psnr"])) for r in rs):
        return None
    h, w = (int(v) for v in rs[0]["size"].split("x"))
    secs = [_num(r["seconds"]) for r in rs]
    return {"psnr": {r["image"]: _num(r["psnr"]) for r in rs}, "seconds": float(np.nanmean(secs)),
            "mp": h * w / 1e6, "params": rs[0].get("params", "")}


def _margin(a: dict, b: dict) -> tuple[float, float, float, int]:
    common = sorted(set(a["psnr"]) & set(b["psnr"]))
    m, lo, hi = interval([a["psnr"][i] - b["psnr"][i] for i in common])
    return m, lo, hi, len(common)


def _fmt_margin(m) -> str:
    if m is None or math.isnan(m[0]):
        return ""
    if math.isnan(m[1]):
        return f"{m[0]:+.2f}"
    return f"{m[0]:+.2f} ({m[1]:+.2f}, {m[2]:+.2f})"


def _spmp(s: dict | None) -> str:
    return "" if s is None else f"{s['seconds'] / s['mp']:.0f}"


def _mean(s: dict | None) -> str:
    return "" if s is None else f"{np.mean(list(s['psnr'].values())):.2f}"


def headline(choices: dict, test_rows: list[dict], prior: str) -> str:
    """The headline table of one prior (module docstring): one line per cell of `choices`."""
    cells = _cells(test_rows)
    lines = ["| task | sigma_y | images | default: config | PSNR | margin (95 % CI) | best val-chosen: config | PSNR "
             "| margin (95 % CI) | target | best classical (val-chosen) | PSNR | s/MP default | s/MP best |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, ch in choices.items():
        if key[0] != prior:
            continue
        methods = cells.get(key, {})
        default = parse_method(ch["default"]).labels()[-1]
        d, b, c = (_test_stats(methods, m) for m in (default, ch["best"], ch["classical"]))
        if c is None and d is None and b is None:
            continue
        md = _margin(d, c) if d and c else None
        mb = _margin(b, c) if b and c else None
        n = max((len(s["psnr"]) for s in (d, b, c) if s), default=0)
        cparams = f" ({c['params']})" if c and c["params"] else ""
        lines.append(f"| {key[1]} | {key[2]} | {n} | {ch['default']} | {_mean(d)} | {_fmt_margin(md)} | "
                     f"{label_spec(ch['best']) if ch['best'] else ''} | {_mean(b)} | {_fmt_margin(mb)} | "
                     f"{target(key[1], mb[1]) if mb else ''} | {ch['classical'] or ''}{cparams} | {_mean(c)} | "
                     f"{_spmp(d)} | {_spmp(b)} |")
    return "\n".join(lines)


def family_table(choices: dict, test_rows: list[dict], prior: str) -> str:
    """Per cell, each family's val-chosen configuration: its val PSNR, its test PSNR and its margin
    over the val-chosen classical baseline on test (95 % CI)."""
    cells = _cells(test_rows)
    lines = ["| task | sigma_y | family | config (chosen on val) | val PSNR | test PSNR | margin over classical (95 % CI) | s/MP |",
             "|---|---|---|---|---|---|---|---|"]
    for key, ch in choices.items():
        if key[0] != prior:
            continue
        methods = cells.get(key, {})
        if not methods:  # a cell chosen on val but not (yet) scored on test
            continue
        c = _test_stats(methods, ch["classical"])
        default = parse_method(ch["default"]).labels()[-1]
        entries = [("default", default)] + sorted(ch["families"].items()) + [("classical", ch["classical"])]
        for fam, m in entries:
            if m is None:
                continue
            s = _test_stats(methods, m)
            val = ch["val"].get(m)
            mg = _margin(s, c) if s and c and fam != "classical" else None
            config = label_spec(m) if fam != "classical" else m + (f" ({s['params']})" if s and s["params"] else "")
            lines.append(f"| {key[1]} | {key[2]} | {fam} | {config} | {'' if val is None else f'{val:.2f}'} | "
                         f"{_mean(s) if s else 'not run'} | {_fmt_margin(mg)} | {_spmp(s)} |")
    return "\n".join(lines)


def run_chosen(choices: dict, prior: str, data_root, out, *, images: int = 8, threads: int = 1, source=None,
               echo=print) -> None:
    """Score the chosen configurations of `prior`'s cells on the test split into `out` (rows already
    there are skipped): per cell the default, each family's choice and the chosen classical baseline."""
    import torch

    from .bench import PriorEntry, run_bench

    torch.set_num_threads(int(threads))
    entry = PriorEntry(prior, source or prior, prior)
    for (p, task, sigma), ch in choices.items():
        if p != prior:
            continue
        specs = [ch["default"]] + [label_spec(m) for m in ch["families"].values()]
        specs = list(dict.fromkeys(specs)) + ([ch["classical"]] if ch["classical"] else [])
        echo(f"{prior} {task} sigma_y={sigma}: {', '.join(specs)}")
        run_bench("full", data_root, out, priors=[entry], tasks=[task], sigmas=[float(sigma)], methods=specs,
                  images=images, split="test", echo=echo, command="python -m restore.benchmarks.choose_and_report run ...")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("choose", help="print the configurations chosen on val")
    c.add_argument("val", type=Path)
    r = sub.add_parser("run", help="score the chosen configurations on test")
    r.add_argument("val", type=Path)
    r.add_argument("-o", "--out", type=Path, required=True)
    r.add_argument("--prior", required=True, help="the prior NAME of the val rows (natural, faces, digits)")
    r.add_argument("--source", default=None, help="what load_prior takes [default: NAME]")
    r.add_argument("--data", default="../shared/data")
    r.add_argument("--images", type=int, default=8)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--cells", default=None, help="only these cells, TASK:SIGMA,... (e.g. box:0.025,denoise:0.1)")
    p = sub.add_parser("report", help="headline and per-family tables from val and test rows")
    p.add_argument("val", type=Path)
    p.add_argument("test", type=Path)
    p.add_argument("-o", "--out", type=Path, default=None, help="the report [default: TEST/../results.md]")
    p.add_argument("--results", type=Path, default=None, help="also write the headline into this file's marked section")
    a = ap.parse_args(argv)
    rows = report.read_rows(a.val / "rows.csv")
    if not rows:
        raise SystemExit(f"{a.val / 'rows.csv'}: no val rows")
    choices = choose(rows)
    if a.cmd == "choose":
        for key, ch in choices.items():
            print(" ".join(key), "| default", ch["default"], "| best", ch["best"], "| classical", ch["classical"], "|",
                  ", ".join(f"{f}: {m}" for f, m in sorted(ch["families"].items())))
        return
    if a.cmd == "run":
        if a.cells:
            want = {tuple(c.split(":")) for c in a.cells.split(",")}
            choices = {k: v for k, v in choices.items() if (k[1], k[2]) in want}
        run_chosen(choices, a.prior, a.data, a.out, images=a.images, threads=a.threads, source=a.source)
        return
    test = report.read_rows(a.test / "rows.csv")
    priors = list(dict.fromkeys(k[0] for k in choices))
    cmd = f"python -m restore.benchmarks.choose_and_report report {a.val} {a.test}" + (f" -o {a.out}" if a.out else "")
    md = [f"# Chosen on val ({a.val}), reported on test ({a.test})", "", "```", cmd, "```", ""]
    for prior in priors:
        md += [f"## {prior}: headline", "", headline(choices, test, prior), "",
               f"## {prior}: each family's val-chosen configuration on test", "", family_table(choices, test, prior), ""]
    out = a.out or a.test.parent / "results.md"
    out.write_text("\n".join(md))
    print(out)
    if a.results:
        for prior in priors:
            report.update_section(a.results, f"headline-{prior}",
                                  f"```\n{cmd} --results {a.results}\n```\n\n" + headline(choices, test, prior))


if __name__ == "__main__":
    main()

"""Time of a restoration per megapixel and per network evaluation (NFE), with any prior, through
the same path as the command line (restore.denoise / deblur / super_resolve / inpaint with the
prior loaded by name or path; a patch prior runs by tiles on a larger photo), and the resulting
time for a 12-megapixel photo at the command's default steps.

    python -m lab.large_photo --prior natural [--command denoise] [--megapixels 1]

The photo is scikit-image's astronaut resized to the given megapixels (4:3) and degraded for the
command. Each command runs with --steps-a and --steps-b steps, alternately, --repeats times each
(the fastest time of each is kept: other load on the machine only adds); the NFE are counted by the
solver's callback (once per network evaluation; DPS and Pi-GDM also take a backward pass per
step, which this time includes). seconds per NFE = (t_b - t_a) / (nfe_b - nfe_a) (the marginal
cost, without the fixed cost of loading and converting), overhead = t_a - nfe_a x that. Both scale
with the pixel count (a convolutional network or tiles), so per megapixel:
    s_per_mp_nfe = seconds per NFE / MP,   t(12 MP) = 12 x (overhead / MP + s_per_mp_nfe x NFE_default)
where NFE_default is counted by running the default number of steps' schedule on a tiny image.
Peak resident memory of the process is reported too. Prints a JSON line per command.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import time

import numpy as np
import torch

COMMANDS = ("denoise", "deblur", "sr", "inpaint")


def astronaut(width: int, height: int) -> np.ndarray:
    """scikit-image's astronaut resized to width x height (bicubic), uint8 RGB."""
    from PIL import Image
    from skimage import data

    return np.asarray(Image.fromarray(data.astronaut()).resize((width, height), Image.BICUBIC))


def photo(megapixels: float) -> np.ndarray:
    """The astronaut at about `megapixels`, 4:3."""
    h = int(round((megapixels * 1e6 * 3 / 4) ** 0.5))
    return astronaut(int(round(h * 4 / 3)), h)


def observation(command: str, clean: np.ndarray, seed: int = 0) -> tuple[np.ndarray, dict]:
    """The degraded photo the command gets, and its keyword arguments (sigma_y 0.05)."""
    from restore.operators import Blur, Downsample, add_noise, gaussian_kernel

    x = torch.from_numpy(clean.astype(np.float64) / 255).permute(2, 0, 1)[None]
    g = torch.Generator().manual_seed(seed)
    kw: dict = {"sigma_y": 0.05}
    if command == "deblur":
        x = Blur(gaussian_kernel(19, 3.0)).A(x)
    elif command == "sr":
        x = Downsample(2, "bicubic").A(x[..., : x.shape[-2] // 2 * 2, : x.shape[-1] // 2 * 2])
        kw["scale"] = 2
    elif command == "inpaint":
        mask = np.zeros(clean.shape[:2], bool)
        mask[mask.shape[0] // 3: mask.shape[0] // 2, mask.shape[1] // 3: mask.shape[1] // 2] = True
        kw["mask"] = mask
    y = add_noise(x, 0.05, g).clamp(0, 1)
    return np.round(y[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8), kw


def _call(command: str, y: np.ndarray, prior, steps: int | None, kw: dict, **options) -> tuple[float, int]:
    """(seconds, network evaluations) of one restoration: one draw of a chain from noise by
    default (the cost per evaluation), the command's defaults with `default=True`."""
    import restore

    nfe = [0]
    fn = {"denoise": restore.denoise, "deblur": restore.deblur, "sr": restore.super_resolve,
          "inpaint": restore.inpaint}[command]
    args = (y, kw["mask"]) if command == "inpaint" else (y,)
    extra = {k: v for k, v in kw.items() if k != "mask"}
    workers = options.pop("workers", None)  # the command line's tile workers (a TileWorkers pool)
    options = {} if options.pop("default", False) else {"strength": 1.0, "samples": 1, **options}
    options["workers"] = workers
    t0 = time.perf_counter()
    fn(*args, prior=prior, steps=steps, callback=lambda info: nfe.__setitem__(0, nfe[0] + 1), **extra, **options)
    return time.perf_counter() - t0, nfe[0]


def default_nfe(command: str, prior, workers=None) -> int:
    """NFE of the command at its defaults for a photo (steps, warm start, draws), counted on a small
    one (the count does not depend on the size, as long as the prior runs by tiles)."""
    y, kw = observation(command, photo(0.005))  # about 70 x 70: larger than a patch prior's 32
    return _call(command, y, prior, None, kw, default=True, workers=workers)[1]


def measure(command: str, prior, megapixels: float, steps_a: int, steps_b: int, target_mp: float,
            repeats: int = 2, workers=None) -> dict:
    from restore.defaults import default

    d = default(command, True)  # a photo: the prior runs by tiles
    y, kw = observation(command, photo(megapixels))
    out_mp = y.shape[0] * y.shape[1] * (kw.get("scale", 1) ** 2) / 1e6  # the restored image's size
    runs = [(_call(command, y, prior, steps_a, kw, workers=workers), _call(command, y, prior, steps_b, kw, workers=workers))
            for _ in range(repeats)]
    ta, na = min(r[0] for r in runs)
    tb, nb = min(r[1] for r in runs)
    per_nfe = (tb - ta) / (nb - na)
    overhead = max(0.0, ta - na * per_nfe)
    n_default = default_nfe(command, prior, workers)
    s_mp_nfe = per_nfe / out_mp
    return {"command": command, "method": d.method, "default_steps": d.steps,
            "default_nfe": n_default, "megapixels": round(out_mp, 3), "runs": [[steps_a, na, round(ta, 2)],
                                                                             [steps_b, nb, round(tb, 2)]],
            "s_per_mp_nfe": round(s_mp_nfe, 4), "overhead_s_per_mp": round(overhead / out_mp, 3),
            f"predicted_s_{target_mp:g}mp": round(target_mp * (overhead / out_mp + s_mp_nfe * n_default), 1),
            "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9, 2)}


def main(argv=None):
    from restore.pipeline import load_prior as _prior
    from restore.priors.parallel import TileWorkers, default_workers

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prior", default="natural", help="shipped prior name or checkpoint path")
    ap.add_argument("--command", default="denoise", choices=[*COMMANDS, "all"])
    ap.add_argument("--megapixels", type=float, default=1.0, help="size of the restored photo measured")
    ap.add_argument("--steps-a", type=int, default=2)
    ap.add_argument("--steps-b", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2, help="runs of each step count (the fastest is kept)")
    ap.add_argument("--target-megapixels", type=float, default=12.0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    prior = _prior(a.prior, a.device)
    print(json.dumps({"prior": a.prior, "device": str(prior.device), "threads": a.threads,
                      "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}",
                      "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}))
    with TileWorkers(prior, default_workers(prior.device)) as workers:  # as the command line: every core, forked once
        for command in (COMMANDS if a.command == "all" else (a.command,)):
            print(json.dumps(measure(command, prior, a.megapixels, a.steps_a, a.steps_b, a.target_megapixels, a.repeats,
                                     workers)), flush=True)


if __name__ == "__main__":
    main()

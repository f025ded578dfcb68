"""The train / sample / eval commands on real image files."""
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from PIL import Image
from skimage import data as skdata

from restore.cli import main

TINY = ["--size", "8", "--channels", "1", "--width", "8", "--mults", "1,2", "--res-blocks", "1", "--batch", "8",
        "--steps", "4", "--ckpt-every", "2", "--sample-every", "4", "--device", "cpu"]


@pytest.fixture
def image_folder(tmp_path):
    """Real photographs bundled with scikit-image, saved as PNG and JPEG files of several sizes."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(skdata.camera()[::16, ::16]).save(folder / "camera.png")
    Image.fromarray(skdata.astronaut()[::20, ::20]).save(folder / "astronaut.jpg")
    Image.fromarray(skdata.coffee()[::15, ::15]).save(folder / "coffee.png")
    return folder


def test_train_sample_eval(image_folder, tmp_path):
    r = CliRunner().invoke(main, ["train", str(image_folder), "-o", str(tmp_path / "run"), *TINY])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "run/checkpoints/step-000000004/ema.safetensors").is_file()
    assert (tmp_path / "run/samples/step-000000004.png").is_file()
    r = CliRunner().invoke(main, ["sample", str(tmp_path / "run"), "--num", "4", "--steps", "5", "-o", str(tmp_path / "g.png")])
    assert r.exit_code == 0, r.output
    assert Image.open(tmp_path / "g.png").size == (2 + 2 * 10, 2 + 2 * 10)
    r = CliRunner().invoke(main, ["sample", str(tmp_path / "run"), "--num", "2", "--steps", "5", "--sampler", "ddpm",
                                  "--variance", "0.3", "-o", str(tmp_path / "g2.png")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["eval", str(tmp_path / "run"), str(image_folder), "--strata", "5"])
    assert r.exit_code == 0, r.output
    assert "bits/dim" in r.output and "1-100" in r.output
    from lab.prior_evals import rows, table  # the model cards' table over training

    rs = rows(image_folder, [tmp_path / "run", tmp_path / "run/checkpoints/step-000000002"], strata=3)
    assert [r["step"] for r in rs] == [2, 4] and rs[0]["images_seen"] < rs[1]["images_seen"]
    assert len(table(rs).splitlines()) == 4 and all(r["bpd"] > 0 for r in rs)


@pytest.mark.parametrize("args, message", [
    (["train", "nowhere", "-o", "x"], "not a folder of images"),
    (["sample", "missing.safetensors", "-o", "g.png"], "no such checkpoint"),
    (["sample", "RUN", "-o", "no/such/dir/g.png", "--steps", "2"], "output folder does not exist"),
    (["sample", "RUN", "-o", "g.png", "--steps", "5000"], "--steps must be in"),
])
def test_bad_input_one_line_exit_2(args, message, image_folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if "RUN" in args:
        CliRunner().invoke(main, ["train", str(image_folder), "-o", "RUN", *TINY])
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "g.png").exists()


def test_train_options_are_the_config_fields(monkeypatch):
    """`restore train`'s options are declared once, as TrainConfig's fields: each reaches its field,
    as the field's type, and the defaults are the dataclass's."""
    from dataclasses import MISSING, asdict, fields

    import restore.priors.train as training

    runs = []
    monkeypatch.setattr(training, "train", lambda cfg, **kw: runs.append((cfg, kw)) or "run")
    args = ["--size", "28", "--channels", "1", "--subset", "0:10", "--scales", "2", "--rot90", "--no-flip",
            "--width", "8", "--mults", "1,2", "--res-blocks", "1", "--attn", "1", "--dropout", "0.1",
            "--norm-groups", "4", "--schedule", "cosine", "--weighting", "min-snr", "--batch", "4", "--lr", "1e-3",
            "--warmup", "3", "--ema", "0.9", "--steps", "7", "--seed", "2", "--ckpt-every", "3", "--sample-every", "0",
            "--log-every", "2", "--channels-last", "--compile", "--precision", "bf16", "--device", "cpu",
            "--init", "digits", "--resume", "--minutes", "1.5"]
    for given in ([], args):
        r = CliRunner().invoke(main, ["train", "DATA", "-o", "OUT", *given])
        assert r.exit_code == 0, r.output
    (default, kw0), (cfg, kw) = runs
    want = {f.name: f.default for f in fields(training.TrainConfig) if f.default is not MISSING}
    assert asdict(default) == {"data": "DATA", "out": "OUT", **want} and kw0 == {"resume": False, "minutes": None}
    assert asdict(cfg) == {**want, "data": "DATA", "out": "OUT", "size": 28, "channels": 1, "subset": "0:10",
                           "scales": 2.0, "rot90": True, "flip": False, "width": 8, "mults": (1, 2), "res_blocks": 1,
                           "attn_levels": (1,), "dropout": 0.1, "norm_groups": 4, "schedule": "cosine",
                           "weighting": "min-snr", "batch": 4, "lr": 1e-3, "warmup": 3, "ema": 0.9, "steps": 7,
                           "seed": 2, "ckpt_every": 3, "sample_every": 0, "log_every": 2, "channels_last": True,
                           "compile": True, "precision": "bf16", "device": "cpu", "init": "digits"}
    assert type(cfg.channels) is int and kw == {"resume": True, "minutes": 1.5}
    help_text = CliRunner().invoke(main, ["train", "--help"], terminal_width=200).output
    params = {p.name for p in main.commands["train"].params}  # every field but T and grad_clip
    assert params == {f.name for f in fields(training.TrainConfig)} - {"T", "grad_clip"} | {"resume", "minutes"}
    assert "--attn TEXT" in help_text and '[default: 1,2,2]' in help_text and "-o, --out PATH" in help_text


def test_help_and_version():
    r = CliRunner().invoke(main, [])
    assert r.exit_code == 0 and "Examples" in r.output and "train" in r.output
    r = subprocess.run([sys.executable, "-m", "restore.cli", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and "restore, version" in r.stdout


def test_export_fp16_prior(image_folder, tmp_path):
    import torch

    from restore.priors import load_prior
    from restore.priors.checkpoint import read_config

    assert CliRunner().invoke(main, ["train", str(image_folder), "-o", str(tmp_path / "run"), *TINY]).exit_code == 0
    out = tmp_path / "p.safetensors"
    args = ["export", str(tmp_path / "run"), "-o", str(out), "--data", "three photos", "--licence", "BSD"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    card = read_config(out)["card"]
    assert card["data"] == "three photos" and card["licence"] == "BSD"
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # a plain new file's mode (safetensors writes 0600)
    a, b = load_prior(tmp_path / "run"), load_prior(out)
    x = torch.randn(2, 1, 8, 8)
    assert torch.allclose(a.eps(x, 300), b.eps(x, 300), atol=1e-2)
    r = CliRunner().invoke(main, args)  # never overwrite silently
    assert r.exit_code == 2 and "exists" in r.output

"""Help in plain words (restore/cli_common.py, restore/cli_options.py): the user's commands first and
the research commands apart, photo examples only, no jargon in the restoration commands' options,
every number's range checked in one line, warnings in one line, `restore priors` without local
paths."""
import re

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from restore.cli import main
from restore.priors import UNet, UNetConfig, linear_schedule, save_prior

USER = ["inpaint", "deblur", "sr", "denoise", "priors"]
RESEARCH = ["train", "sample", "eval", "export", "bench"]
JARGON = ["posterior", "tweedie", "harmonic", "strength x t", "chain", "e[x", "svd", "tikhonov", "by tiles",
          "network evaluations", "draws"]


def _help(*args):
    r = CliRunner().invoke(main, [*args, "--help"], terminal_width=200)
    assert r.exit_code == 0, r.output
    return r.output


def test_top_level_help_lists_the_users_commands_first():
    text = _help()
    commands, research = text.index("Commands:"), text.index("Research commands:")
    assert commands < research
    listed = re.findall(r"^  (\w+) ", text[commands:text.index("Examples:")], re.M)
    assert listed[:5] == USER and listed[5:10] == RESEARCH, listed
    for name in USER:
        assert commands < text.index(f"  {name} ") < research
    examples = text[text.index("Examples:"):]
    assert "photo" in examples and not any(w in examples.lower() for w in ("mnist", "train", "runs/", "eval"))
    assert "restore inpaint photo.png " in examples  # the transparency path, no mask, no -o


@pytest.mark.parametrize("command", ["inpaint", "deblur", "sr", "denoise"])
def test_restoration_options_are_in_plain_words(command):
    text = " ".join(_help(command).lower().split())
    found = [w for w in JARGON if w in text]
    assert not found, found
    assert "-o, --out path" in text and "[default: name_restored.ext beside each input]" in text
    assert "[required]" not in text


def _prior(tmp_path):
    torch.manual_seed(0)
    save_prior(tmp_path / "tiny.safetensors", UNet(UNetConfig(channels=3, width=8, mults=(1, 2), num_res_blocks=1)),
               linear_schedule(), 8)
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(tmp_path / "p.png")
    return ["--prior", str(tmp_path / "tiny.safetensors"), "--steps", "1"]


@pytest.mark.parametrize("args,message", [
    (["denoise", "--sigma-y", "5"], "sigma_y must be at most 0.5"),
    (["denoise", "--sigma-y", "-0.1"], "sigma_y must be >= 0"),
    (["denoise", "--sigma-y", "nan"], "sigma_y must be at most 0.5"),
    (["deblur", "--kernel", "gaussian:-2"], "STD must be > 0"),
    (["deblur", "--kernel", "gaussian:0"], "STD must be > 0"),
    (["deblur", "--kernel", "gaussian:1:4"], "SIZE must be a positive odd integer"),
    (["deblur", "--kernel", "gaussian:1:-3"], "SIZE must be a positive odd integer"),
    (["deblur", "--kernel", "uniform:0"], "SIZE must be a positive integer"),
    (["deblur", "--kernel", "uniform:"], "expected uniform:SIZE"),
    (["deblur", "--kernel", "motion:2"], "INTENSITY must be on [0, 1]"),
    (["deblur", "--kernel", "motion:-0.5"], "INTENSITY must be on [0, 1]"),
    (["deblur", "--kernel", "gaussian:x"], "STD must be a number"),
    (["sr", "--scale", "1"], "scale must be an integer in 2..16"),
    (["denoise", "--max-pixels", "0"], "--max-pixels"),
    (["inpaint", "--grow", "-1"], "--grow"),
])
def test_numbers_out_of_range_are_one_line_exit_2(tmp_path, args, message):
    r = CliRunner().invoke(main, [args[0], str(tmp_path / "p.png"), *args[1:], *_prior(tmp_path)])
    assert r.exit_code == 2 and message in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output and "size -11" not in r.output
    assert not list(tmp_path.glob("p_restored*"))


def test_warnings_are_one_line_without_a_source_path(tmp_path):
    """A JPEG mask (grey values at the stroke's edges) warns in one line, with no Python file and line."""
    opts = _prior(tmp_path)
    mask = np.zeros((16, 16), np.uint8)
    mask[4:9, 3:11] = 255
    Image.fromarray(mask).save(tmp_path / "m.jpg", quality=70)
    r = CliRunner().invoke(main, ["inpaint", str(tmp_path / "p.png"), str(tmp_path / "m.jpg"), *opts])
    assert r.exit_code == 0, r.output
    warnings = [line for line in r.stderr.splitlines() if "warning" in line.lower()]
    assert warnings == [f"warning: mask {tmp_path / 'm.jpg'} has grey values; thresholded at half brightness"], r.stderr
    assert ".py" not in r.stderr and "UserWarning" not in r.stderr


def test_priors_name_their_data_sets_without_local_paths():
    r = CliRunner().invoke(main, ["priors"])
    assert r.exit_code == 0, r.output
    assert "../" not in r.output and "shared/data" not in r.output
    lines = {line.split()[0]: line for line in r.output.splitlines()}
    assert "data: BSDS500" in lines["natural"] and "data: UTKFace" in lines["faces"] and "data: MNIST" in lines["digits"]
    assert all("licence: " in line for line in lines.values())

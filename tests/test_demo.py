"""`restore demo`: the sample photo's before/after PNGs, written with a tiny random prior."""
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from restore.cli import main
from restore.demo import DEMO_NOISE, demo_inputs


@pytest.fixture(scope="module")
def prior_file(tmp_path_factory, tiny_prior):
    from restore.priors import save_prior

    path = tmp_path_factory.mktemp("prior") / "tiny.safetensors"
    save_prior(path, tiny_prior.net, tiny_prior.schedule, tiny_prior.image_size)
    return str(path)


def test_demo_writes_before_and_after_and_refuses_to_overwrite(tmp_path, prior_file):
    out = tmp_path / "new" / "demo"
    r = CliRunner().invoke(main, ["demo", "-o", str(out), "--prior", prior_file, "--workers", "1"])
    assert r.exit_code == 0, r.output
    names = ["inpaint_before", "inpaint_mask", "inpaint_after", "denoise_before", "denoise_after"]
    assert sorted(p.stem for p in out.iterdir()) == sorted(names)
    for n in names:
        assert f"wrote {out / n}.png" in r.output
    im = {n: np.asarray(Image.open(out / f"{n}.png")) for n in names}
    x = demo_inputs(0)
    fill = im["inpaint_mask"] > 127
    assert np.array_equal(im["inpaint_before"], x["inpaint_before"]) and 0 < fill.mean() < 0.5
    assert np.array_equal(im["inpaint_after"][~fill], x["inpaint_clean"][~fill])  # only the box is restored
    assert (im["inpaint_after"][fill] != 255).any()  # the white box was filled
    assert im["denoise_after"].shape == im["denoise_before"].shape == x["denoise_clean"].shape
    assert not np.array_equal(im["denoise_after"], im["denoise_before"])
    again = CliRunner().invoke(main, ["demo", "-o", str(out), "--prior", prior_file, "--workers", "1"])
    assert again.exit_code == 2 and "exists; pass --overwrite" in again.output
    assert len(again.output.strip().splitlines()) == 1


def test_demo_inputs_are_the_same_for_a_seed():
    a, b, c = demo_inputs(0), demo_inputs(0), demo_inputs(1)
    assert np.array_equal(a["denoise_before"], b["denoise_before"])
    assert not np.array_equal(a["denoise_before"], c["denoise_before"])
    noise = a["denoise_before"].astype(float) - a["denoise_clean"]
    assert abs(noise.std() / 255 - DEMO_NOISE) < 0.02  # the noise it says it adds (clipped at 0 and 255)
    box = a["inpaint_mask"] > 0
    assert (a["inpaint_before"][box] == 255).all()
    assert np.array_equal(a["inpaint_before"][~box], a["inpaint_clean"][~box])

"""lab/pack_crops.py on a tiny synthetic folder, and lab/gpu_session.sh: its fail-fast check and
(slow) a whole toy dry run on CPU (RESTORE_DEVICE=cpu RESTORE_TOY=1)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lab.pack_crops import pack, pack_whole
from restore.priors.data import load_images

ROOT = Path(__file__).resolve().parents[1]


def _photos(folder: Path, n=5, shape=(40, 50)):
    rng = np.random.default_rng(0)
    folder.mkdir()
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (*shape, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(folder / "small.png")  # skipped
    return folder


def test_pack_random_crops_load_as_training_data(tmp_path):
    src = _photos(tmp_path / "photos")
    r = pack(src, tmp_path / "c.npz", size=16, per_image=3, seed=1)
    assert r["crops"] == 15 and r["skipped"] == 1 and r["shape"] == [15, 16, 16, 3]
    ims = load_images(tmp_path / "c.npz", 3)
    assert len(ims) == 15 and ims[0].shape == (3, 16, 16) and ims[0].dtype.__str__() == "torch.uint8"
    again = pack(src, tmp_path / "d.npz", size=16, per_image=3, seed=1)
    assert again["crops"] == 15
    a, b = (np.load(tmp_path / f)["images"] for f in ("c.npz", "d.npz"))
    assert np.array_equal(a, b)  # seeded


def test_pack_center_and_size_limit(tmp_path):
    src = _photos(tmp_path / "photos")
    r = pack(src, tmp_path / "v.npz", center=32)
    full = np.asarray(Image.open(src / "0.png"))
    assert np.array_equal(np.load(tmp_path / "v.npz")["images"][0], full[4:36, 9:41])
    assert r["crops"] == 5
    with pytest.raises(ValueError, match="max-mb"):
        pack(src, tmp_path / "big.npz", size=16, per_image=3, max_mb=1e-6)
    assert not (tmp_path / "big.npz").exists()


def test_pack_whole_copies_photos_under_the_budget(tmp_path):
    src = _photos(tmp_path / "photos")
    sizes = sorted(f.stat().st_size for f in src.iterdir())
    budget = (sum(sizes) - 1) / 1e6  # every file but not all of them
    r = pack_whole(src, tmp_path / "w", seed=3, max_mb=budget)
    kept = sorted((tmp_path / "w").iterdir())
    assert 0 < r["kept"] == len(kept) < 6 and sum(f.stat().st_size for f in kept) <= budget * 1e6
    for f in kept:  # byte-identical copies, named in the seeded order
        assert f.read_bytes() == (src / f.name.split("_", 1)[1]).read_bytes()
    assert len(load_images(tmp_path / "w", 3)) == r["kept"]
    again = pack_whole(src, tmp_path / "w2", seed=3, max_mb=budget)
    assert [f.name for f in sorted((tmp_path / "w2").iterdir())] == [f.name for f in kept]
    with pytest.raises(ValueError, match="empty folder"):
        pack_whole(src, tmp_path / "w", seed=3, max_mb=budget)
    with pytest.raises(ValueError, match="max-mb"):
        pack_whole(src, tmp_path / "w3", max_mb=1e-6)


def test_session_fails_fast_without_crops(tmp_path):
    p = subprocess.run(["bash", "lab/gpu_session.sh", str(tmp_path / "none.npz")], cwd=ROOT, capture_output=True,
                       text=True, env={**os.environ, "OUT": str(tmp_path / "out")}, timeout=30)
    assert p.returncode != 0 and "no crops file" in p.stderr


@pytest.mark.slow
def test_session_toy_dry_run_on_cpu(tmp_path):
    """The whole script at toy size (about a minute on one core): smoke, two resumed train chunks,
    export, sample grid, eval of both priors."""
    src = _photos(tmp_path / "photos", n=8, shape=(70, 70))
    (src / "small.png").unlink()  # smaller than the training size
    pack_whole(src, tmp_path / "c")  # the training photos as the documented command packs them
    pack(src, tmp_path / "v.npz", center=64)
    env = {**os.environ, "OUT": str(tmp_path / "out"), "RESTORE_DEVICE": "cpu", "RESTORE_TOY": "1",
           "RESTORE_CHUNK_MIN": "0.05", "RESTORE_WORK": str(tmp_path / "work"), "RESTORE_PY": sys.executable,
           "OMP_NUM_THREADS": "1"}
    p = subprocess.run(["bash", "lab/gpu_session.sh", str(tmp_path / "c"), "0.1", str(tmp_path / "v.npz")],
                       cwd=ROOT, capture_output=True, text=True, env=env, timeout=400)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    out = tmp_path / "out"
    assert {f.name for f in out.iterdir()} == {"times.txt", "log.jsonl", "natural-gpu.safetensors", "samples.png",
                                               "eval.txt"}
    times = (out / "times.txt").read_text()
    assert "train 2/2" in times and "FAILED" not in times
    assert (out / "eval.txt").read_text().count("bound:") == 2

"""lab/prior_pairs.py: two priors' bench rows paired per image."""
import csv

import pytest

from lab.prior_pairs import pairs


def test_pairs_match_images_and_skip_other_kinds(tmp_path):
    f = tmp_path / "rows.csv"
    rows = [("shipped", "a", 20.0), ("shipped", "b", 22.0), ("shipped", "c", 30.0),
            ("new", "a", 21.0), ("new", "b", 22.5)]
    with f.open("w", newline="") as fh:
        w = csv.DictWriter(fh, ["prior", "task", "method", "kind", "image", "psnr"])
        w.writeheader()
        for prior, image, p in rows:
            w.writerow(dict(prior=prior, task="box", method="ddrm-15", kind="diffusion", image=image, psnr=p))
        w.writerow(dict(prior="new", task="box", method="observation", kind="input", image="a", psnr=1.0))
    [(task, method, n, ref_mean, m, lo, hi)] = pairs(f, "new", "shipped")
    assert (task, method, n) == ("box", "ddrm-15", 2)  # only the images both have
    assert ref_mean == pytest.approx(21.0) and m == pytest.approx(0.75) and lo < m < hi

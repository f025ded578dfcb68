"""lab.plane: the perception-distortion table and plot from whole-photo rows."""
import csv

from PIL import Image


def _rows(path, rows):
    fields = ["image", "config", "psnr_hole", "texture_hole", "swd_hole", "niqe", "seconds", "megapixels"]
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fields)
        w.writeheader()
        w.writerows(rows)


def test_plane_pairs_the_shared_images_and_draws_every_point(tmp_path, capsys):
    from lab.plane import main

    rows = []
    for i, img in enumerate(["a.jpg", "b.jpg", "c.jpg"]):
        rows.append(dict(image=img, config="mean", psnr_hole=20 + i, texture_hole=0.1, swd_hole=200 + i, niqe=4,
                         seconds=1, megapixels=0.5))
        rows.append(dict(image=img, config="draw", psnr_hole=19 + i, texture_hole=0.9, swd_hole=100 + 2 * i, niqe=3,
                         seconds=1, megapixels=0.5))
    rows.append(dict(image="d.jpg", config="mean", psnr_hole=99, texture_hole=0.1, swd_hole=1, niqe=4, seconds=1,
                     megapixels=0.5))  # only one config has d: left out of both means
    _rows(tmp_path / "rows.csv", rows)
    out = tmp_path / "plane.png"
    main([str(tmp_path), "-o", str(out), "--label", "draw=one draw", "--ref", "mean"])
    text = capsys.readouterr().out
    assert "| mean | `mean` | 21.00 |" in text and "3 photos" in text
    assert "| one draw | `draw` | 20.00 | -1.00 (-1.00, -1.00) | 102.0 | -99.00 (" in text
    assert "| 0.90 | 3.00 | 2 |" in text
    im = Image.open(out)
    assert im.size == (760, 520) and len(im.getcolors(maxcolors=1 << 16) or ()) > 2

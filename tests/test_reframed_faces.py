"""The re-framed faces benchmark's re-framing (benchmarks/reframed_faces.py): no data needed."""
import numpy as np

from lab.reframed_faces import area_matrix, reframe, shift_of


def _face(seed=0, size=64):
    return np.random.default_rng(seed).uniform(0, 1, (size, size, 3))


def test_reframe_zoom_1_shift_0_is_the_identity():
    x = _face()
    assert np.array_equal(area_matrix(64, 64), np.eye(64))
    assert np.allclose(reframe(x, 1.0, (0, 0)), x, atol=1e-12)


def test_reframe_keeps_the_shape_and_is_deterministic():
    x = _face(1)
    s = shift_of("1_0_0_2017.jpg", 3)
    assert s == shift_of("1_0_0_2017.jpg", 3) and all(-3 <= v <= 3 for v in s)
    assert {shift_of(f"{i}.jpg", 3) for i in range(20)} != {s}  # the names draw different shifts
    a, b = reframe(x, 1.25, s), reframe(x, 1.25, s)
    assert a.shape == x.shape and a.dtype == x.dtype and np.array_equal(a, b)
    assert 0 <= a.min() and a.max() <= 1


def test_reframe_zooms_out_by_area_and_shifts_with_reflect():
    m = area_matrix(80, 64)
    assert np.allclose(m.sum(1), 1) and np.allclose(m.sum(0), 64 / 80)  # every input pixel's area once
    x = np.zeros((64, 64, 1))
    x[24:40, 24:40] = 1  # a 16-px square in the middle
    z = reframe(x, 1.25)
    assert abs(z.sum() - 16 * 16 / 1.25**2) < 1e-9  # the square's area shrinks by 1.25^2
    assert np.allclose(z, z[::-1]) and np.allclose(z, z[:, ::-1])  # still centred
    moved = reframe(x, 1.25, (2, -3))
    assert np.allclose(moved[10:54, 10:54], z[8:52, 13:57])  # down 2, left 3: moved[i, j] = z[i - 2, j + 3]
    edge = np.zeros((64, 64, 1))
    edge[:, 1] = 1  # moved right by 2: columns -2..1 of the face, -1 mirrored from column 1
    assert reframe(edge, 1.0, (0, 2))[:, :4, 0].tolist() == [[0, 1, 0, 1]] * 64


def test_write_saves_the_first_faces_reframed(tmp_path):
    """`--write DIR` (for `restore eval` on re-framed faces): the first --images faces of the split,
    each `reframe`d with its name's shift and saved as 8 bits; nothing else runs."""
    from PIL import Image

    from lab.reframed_faces import main, shift_of

    val = tmp_path / "data" / "faces" / "val"
    val.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(val / f"f{i}.png")
    main([str(tmp_path / "data"), "-o", str(tmp_path / "unused"), "--images", "3", "--tune-images", "2",
          "--write", str(tmp_path / "w")])
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["f0.png", "f1.png", "f2.png"]
    assert not (tmp_path / "unused").exists()
    x = np.asarray(Image.open(val / "f1.png")).astype(np.float64) / 255
    want = np.round(reframe(x, 1.25, shift_of("f1.png", 3)) * 255).clip(0, 255).astype(np.uint8)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "w" / "f1.png")), want)


def test_paired_rows_differences_over_common_images(tmp_path, capsys):
    """lab.paired_rows: B - A per (task, method, framing) over the images both files hold."""
    from lab.paired_rows import main

    head = "image,framing,shift,task,method,param,psnr,psnr_hole,seconds\n"
    (tmp_path / "a.csv").write_text(head + "x,utkface,0,box,default,,20,,1\ny,utkface,0,box,default,,22,,1\n"
                                    "x,utkface,0,box,tv_inpaint,40,10,,1\n")
    (tmp_path / "b.csv").write_text(head + "x,utkface,0,box,default,,21,,1\ny,utkface,0,box,default,,25,,1\n"
                                    "z,utkface,0,box,default,,99,,1\n")
    main([str(tmp_path / "a.csv"), str(tmp_path / "b.csv")])
    out = capsys.readouterr().out
    assert "| box | default | utkface | 2 | +2.00 (" in out and "tv_inpaint" not in out
    head = "image,config,psnr_hole,ssim_hole,lowpass_hole,psnr_whole,seconds,megapixels\n"
    (tmp_path / "c.csv").write_text(head + "p,ddrm:6:0.2:2,20.5,0,0,0,1,0.15\nq,ddrm:6:0.2:2,21.0,0,0,0,1,0.15\n")
    (tmp_path / "d.csv").write_text(head + "p,ddrm:6:0.2:2,20.501,0,0,0,1,0.15\nq,ddrm:6:0.2:2,21.003,0,0,0,1,0.15\n")
    main([str(tmp_path / "c.csv"), str(tmp_path / "d.csv"), "--digits", "3"])
    assert "| - | ddrm:6:0.2:2 |  | 2 | +0.002 (" in capsys.readouterr().out


def test_paired_rows_two_priors_of_one_bench_run(tmp_path, capsys):
    """lab.paired_rows --priors A,B: one bench rows.csv, B's rows against A's, over the images both
    priors have; input rows are not compared."""
    import csv

    from lab.paired_rows import main

    f = tmp_path / "rows.csv"
    rows = [("shipped", "a", 20.0), ("shipped", "b", 22.0), ("shipped", "c", 30.0),
            ("new", "a", 21.0), ("new", "b", 22.5)]
    with f.open("w", newline="") as fh:
        w = csv.DictWriter(fh, ["prior", "task", "method", "kind", "image", "psnr"])
        w.writeheader()
        for prior, image, p in rows:
            w.writerow(dict(prior=prior, task="box", method="ddrm-15", kind="diffusion", image=image, psnr=p))
        w.writerow(dict(prior="new", task="box", method="observation", kind="input", image="a", psnr=1.0))
    main([str(f), str(f), "--priors", "shipped,new"])
    out = capsys.readouterr().out
    assert "| box | ddrm-15 |  | 2 | +0.75 (" in out and "observation" not in out  # only the images both have

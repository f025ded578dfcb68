"""Files that keep what they carry (restore/paths.py, restore/save.py, restore/files.py): default
output names, output folders made on demand, folders as inputs, EXIF/XMP/ICC kept with the
orientation applied, --quality, the lossy-inpainting note, and the batch progress line."""
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image, ImageCms
from skimage import data as skdata

from restore.cli import main
from restore.priors import UNet, UNetConfig, linear_schedule, save_prior


@pytest.fixture
def files(tmp_path):
    torch.manual_seed(0)
    save_prior(tmp_path / "tiny.safetensors", UNet(UNetConfig(channels=3, width=8, mults=(1, 2), num_res_blocks=1)),
               linear_schedule(), 8)
    shots = tmp_path / "shots"
    shots.mkdir()
    Image.fromarray(skdata.astronaut()[::16, ::16]).save(shots / "b.png")
    Image.fromarray(skdata.coffee()[::16, ::16][:24, :32]).save(shots / "a.JPG", quality=95)
    return tmp_path


def run(files, *args):
    return CliRunner().invoke(main, [*args, "--prior", str(files / "tiny.safetensors"), "--steps", "1",
                                     "--samples", "1", "--sigma-y", "0.02"])


def test_default_outputs_go_beside_each_input(files):
    (files / "other").mkdir()
    Image.fromarray(skdata.camera()[::16, ::16]).save(files / "other" / "c.tif")
    r = run(files, "denoise", str(files / "shots" / "a.JPG"), str(files / "other" / "c.tif"))
    assert r.exit_code == 0, r.output
    assert (files / "shots" / "a_restored.JPG").is_file() and (files / "other" / "c_restored.tif").is_file()
    assert Image.open(files / "shots" / "a_restored.JPG").format == "JPEG"
    r = run(files, "denoise", str(files / "shots" / "a.JPG"))  # a rerun never replaces a result silently
    assert r.exit_code == 2 and "a_restored.JPG exists" in r.output and len(r.output.strip().splitlines()) == 1


@pytest.mark.parametrize("how", ["slash", "several"])
def test_output_folders_are_made_on_demand(files, how):
    inputs = [str(files / "shots" / "b.png")] + ([str(files / "shots" / "a.JPG")] if how == "several" else [])
    out = files / "new" / "clean"
    r = run(files, "denoise", *inputs, "-o", str(out) + ("/" if how == "slash" else ""))
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == sorted(p.split("/")[-1] for p in inputs)
    # a file in a missing folder is still refused, with nothing made
    r = run(files, "denoise", str(files / "shots" / "b.png"), "-o", str(files / "nodir" / "o.png"))
    assert r.exit_code == 2 and "does not exist" in r.output and not (files / "nodir").exists()


def test_a_folder_as_input_means_the_images_in_it(files):
    shots = files / "shots"
    (shots / "sub").mkdir()
    Image.fromarray(skdata.camera()[::16, ::16]).save(shots / "sub" / "deeper.png")  # not recursive
    (shots / "notes.txt").write_text("not an image")
    Image.fromarray(skdata.camera()[::16, ::16]).save(shots / ".hidden.png")  # e.g. an interrupted write
    Image.fromarray(skdata.camera()[::16, ::16]).save(shots / "b_restored.png")  # an earlier result of b.png
    r = run(files, "denoise", str(shots), "-o", str(files / "out") + "/")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (files / "out").iterdir()) == ["a.JPG", "b.png"]
    lines = [line for line in r.output.splitlines() if line.startswith("[")]
    assert lines[0].startswith("[1/2") and "a.JPG" in lines[0] and lines[1].startswith("[2/2]") and "b.png" in lines[1]
    (files / "empty").mkdir()
    r = run(files, "denoise", str(files / "empty"))
    assert r.exit_code == 2 and "no images in this folder" in r.output and len(r.output.strip().splitlines()) == 1


def test_progress_reports_the_file_and_the_time_left(files):
    from restore.files import restore_files

    seen = []
    restore_files("denoise", [str(files / "shots")], str(files / "o") + "/", prior=str(files / "tiny.safetensors"),
                  steps=1, samples=1, sigma_y=0.02, workers=1, echo=lambda m: None, progress=seen.append)
    assert [d["file"] for d in seen] == [1, 2] and {d["files"] for d in seen} == {2}
    assert seen[0]["left"] is None and seen[1]["left"] >= 0


def test_exif_xmp_and_icc_are_kept_and_the_orientation_applied(files):
    """A camera JPEG stored sideways (EXIF orientation 6): the result is upright, its EXIF says
    orientation 1 and keeps the camera and the date, and the ICC profile and XMP come along."""
    a = np.full((24, 40, 3), 60, np.uint8)
    a[:6, :10] = 250  # a bright block at the stored image's top-left corner
    exif = Image.Exif()
    exif[0x0112], exif[0x010F], exif[0x0110] = 6, "Canon", "EOS R"
    exif.get_ifd(0x8769)[0x9003] = "2021:05:06 07:08:09"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="someone"/></rdf:RDF></x:xmpmeta>')
    Image.fromarray(a).save(files / "cam.jpg", exif=exif, icc_profile=icc, xmp=xmp, quality=95)
    for name in ("cam_restored.jpg", "cam.png", "cam.webp"):
        args = ["-o", str(files / name)] if name != "cam_restored.jpg" else []
        r = run(files, "denoise", str(files / "cam.jpg"), *args)
        assert r.exit_code == 0, r.output
        out = Image.open(files / name)
        e = out.getexif()
        assert out.size == (24, 40), name  # turned upright: 24 wide, 40 high
        assert e.get(0x0112) == 1 and e.get(0x010F) == "Canon" and e.get(0x0110) == "EOS R", name
        assert e.get_ifd(0x8769).get(0x9003) == "2021:05:06 07:08:09", name
        assert out.info.get("icc_profile") == icc and b"someone" in bytes(out.info.get("xmp", b"")), name
        px = np.asarray(out.convert("L"), dtype=float)
        assert px[:10, -6:].mean() > px[-10:, :6].mean() + 100, name  # orientation 6: the block is now top-right


def test_quality_of_jpeg_and_webp(files):
    src = files / "big.png"
    Image.fromarray(skdata.astronaut()[::8, ::8]).save(src)  # 64x64: detail that compression shows
    sizes = {}
    for q in ("30", "95"):
        for ext in ("jpg", "webp"):
            r = run(files, "denoise", str(src), "--quality", q, "-o", str(files / f"q{q}.{ext}"))
            assert r.exit_code == 0, r.output
            sizes[q, ext] = (files / f"q{q}.{ext}").stat().st_size
    assert sizes["30", "jpg"] < sizes["95", "jpg"] and sizes["30", "webp"] < sizes["95", "webp"]
    r = run(files, "denoise", str(src), "-o", str(files / "d.jpg"))  # the default is 95
    assert r.exit_code == 0 and (files / "d.jpg").read_bytes() == (files / "q95.jpg").read_bytes()
    for bad in ("0", "101", "x"):
        r = run(files, "denoise", str(src), "--quality", bad, "-o", str(files / "bad.jpg"))
        assert r.exit_code == 2 and "--quality" in r.output and len(r.output.strip().splitlines()) == 1
    help_text = " ".join(CliRunner().invoke(main, ["denoise", "--help"]).output.split())
    assert "--quality INTEGER RANGE JPEG and WebP quality of the output (1-100). [default: 95" in help_text


def test_a_lossy_inpainting_output_says_so_once(files):
    photo = files / "shots" / "b.png"
    for out, warned in (("f.jpg", True), ("f.webp", True), ("f.png", False)):
        r = CliRunner().invoke(main, ["inpaint", str(photo), "--box", "4,4,6,6", "--prior", str(files / "tiny.safetensors"),
                                      "--steps", "1", "-o", str(files / out)])
        assert r.exit_code == 0, r.output
        notes = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
        assert len(notes) == warned and (not warned or ("PNG" in notes[0] and "bit-identical" in notes[0])), r.stderr
        assert ".py" not in r.stderr

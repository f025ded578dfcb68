"""`restore app` in a real browser: Debian's Chromium (/usr/bin/chromium) driven by Playwright opens
the page, loads a photo, paints a stroke with the mouse, runs inpaint, and downloads a result whose
pixels outside the stroke are the photo's. Skipped where Playwright or Chromium is missing (the
`browser` extra and `apt-get install chromium`); .ci/run installs both and checks they are there."""
import shutil
import threading

import numpy as np
import pytest
from PIL import Image

from restore.cli import main

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium)")

# as the machine's notes advise: no background connections (the network is closed), no GPU
FLAGS = ["--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-quic", "--no-first-run"]
H, W = 40, 48
BRUSH = 6  # px of the image
STROKE = ((10.0, 14.0), (34.0, 22.0))  # image coordinates (x, y) of the stroke's ends
SR_SCALE = next(p.default for p in main.commands["sr"].params if p.name == "scale")


@pytest.fixture(scope="module")
def url(tiny_prior):
    from restore.app import create_app, make_server

    server = make_server(create_app(tiny_prior, main.commands), 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


def distance_to_stroke(shape) -> np.ndarray:
    """Each pixel centre's distance (image px) to the stroke's segment."""
    (x0, y0), (x1, y1) = STROKE
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]] + 0.5
    d = np.array([x1 - x0, y1 - y0])
    s = np.clip(((xx - x0) * d[0] + (yy - y0) * d[1]) / (d @ d), 0, 1)
    return np.hypot(xx - (x0 + s * d[0]), yy - (y0 + s * d[1]))


def test_paint_a_stroke_and_inpaint_in_a_real_browser(url, tmp_path):
    rng = np.random.default_rng(1)
    photo = (rng.random((H, W, 3)) * 255).astype(np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 800})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url)
            page.wait_for_selector("body[data-ready='1']")
            assert page.locator("#command").input_value() == "inpaint"
            page.set_input_files("#file", str(tmp_path / "photo.png"))
            page.wait_for_selector("#stage:not([hidden])")
            page.eval_on_selector("#brush", f"b => {{ b.value = {BRUSH}; b.dispatchEvent(new Event('input')); }}")
            page.fill("input[name=samples]", "2")
            page.fill("input[name=steps]", "2")
            box = page.locator("#mask").bounding_box()
            assert box["width"] > W * 2  # shown larger than the photo: the stroke is in image pixels below
            screen = [(box["x"] + x * box["width"] / W, box["y"] + y * box["height"] / H) for x, y in STROKE]
            page.mouse.move(*screen[0])
            page.mouse.down()
            page.mouse.move(*screen[1], steps=12)
            page.mouse.up()
            page.click("#run")
            page.wait_for_selector("#result:not([hidden])", timeout=60_000)
            assert page.locator("#status").inner_text().startswith("done")
            assert page.locator("#std-figure").is_visible()  # two draws: an uncertainty map
            page.eval_on_selector("#slider", "s => { s.value = 20; s.dispatchEvent(new Event('input')); }")
            assert page.eval_on_selector("#compare", "c => c.style.getPropertyValue('--cut')") == "20%"
            with page.expect_download() as download:
                page.click("#download")
            assert download.value.suggested_filename == "photo_inpaint.png"
            out = np.asarray(Image.open(download.value.path()))
            page.select_option("#command", "sr")  # its options are the command line's, with its defaults
            assert page.locator("#brush-tools").is_hidden()
            assert page.locator("input[name=scale]").input_value() == str(SR_SCALE)
            assert not errors, errors
        finally:
            browser.close()
    d = distance_to_stroke(photo.shape[:2])
    assert out.shape == photo.shape
    outside = d > BRUSH / 2 + 1.5
    assert np.array_equal(out[outside], photo[outside])  # every pixel away from the stroke is the photo's
    assert (out[d < BRUSH / 2 - 1] != photo[d < BRUSH / 2 - 1]).any(axis=-1).mean() > 0.9  # the stroke is filled

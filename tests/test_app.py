"""`restore app` without a browser (Flask's test client, tiny random prior): every endpoint's result,
its 4xx answers, the job runner, the limits, and the server on 127.0.0.1 only."""
import io
import json
import socket
import threading
import urllib.request

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from restore.app import HOST, create_app, make_server
from restore.app_forms import PLAIN
from restore.app_jobs import Busy, Jobs
from restore.cli import main
from restore.cli_options import MAX_SAMPLES

H, W = 20, 24


def png(a: np.ndarray) -> io.BytesIO:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    buf.seek(0)
    return buf


@pytest.fixture(scope="module")
def photo():
    return (np.random.default_rng(0).random((H, W, 3)) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def fill():
    m = np.zeros((H, W), bool)
    m[6:12, 8:17] = True
    return m


@pytest.fixture(scope="module")
def client(tiny_prior):
    return create_app(tiny_prior, main.commands).test_client()


def post(client, path, photo, mask=None, **fields):
    data = {"image": (png(photo), "photo.png"), **{k: str(v) for k, v in fields.items()}}
    if mask is not None:
        data["mask"] = (png(mask.astype(np.uint8) * 255), "mask.png")
    return client.post(path, data=data, content_type="multipart/form-data")


def image_of(response) -> np.ndarray:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.data)))


def test_inpaint_changes_only_the_pixels_of_the_mask(client, photo, fill):
    r = post(client, "/api/inpaint", photo, fill, steps=2, seed=1)
    out = image_of(r)
    assert out.shape == photo.shape and np.array_equal(out[~fill], photo[~fill])
    assert (out[fill] != photo[fill]).any()
    assert "photo_inpaint.png" in r.headers["Content-Disposition"]


@pytest.mark.parametrize("path, fields, size", [("/api/deblur", {"kernel": "gaussian:1.0"}, (H, W)),
                                                ("/api/sr", {"scale": 2}, (2 * H, 2 * W)),
                                                ("/api/denoise", {"sigma_y": 0.05}, (H, W))])
def test_each_command_answers_a_png_of_its_size(client, photo, path, fields, size):
    out = image_of(post(client, path, photo, steps=2, strength=1, **fields))
    assert out.shape == (*size, 3) and out.dtype == np.uint8
    gray = image_of(post(client, path, photo[..., 0], steps=2, strength=1, **fields))
    assert gray.shape == size  # gray stays gray


def test_a_job_reports_its_progress_and_uncertainty_map(tiny_prior, photo, fill):
    app = create_app(tiny_prior, main.commands)
    client = app.test_client()
    r = client.post("/api/jobs", data={"command": "inpaint", "image": (png(photo), "p.png"), "samples": "2",
                                       "steps": "3", "mask": (png(fill.astype(np.uint8) * 255), "m.png")})
    assert r.status_code == 202
    job_id = r.json["id"]
    app.extensions["restore"]["jobs"].get(job_id).thread.join()
    status = client.get(f"/api/jobs/{job_id}").json
    assert status["state"] == "done" and status["step"] == status["steps"] == 3 and status["pass"] >= 2
    out = image_of(client.get(status["result"]))
    assert np.array_equal(out[~fill], photo[~fill])
    heat = image_of(client.get(status["std"]))  # zero std, black, where the pixels are kept
    assert heat.shape == (H, W, 3) and not heat[~fill].any() and heat[fill].any()


def test_one_draw_has_no_uncertainty_map_and_a_failed_job_says_why(tiny_prior, photo):
    app = create_app(tiny_prior, main.commands)
    client, jobs = app.test_client(), app.extensions["restore"]["jobs"]
    job_id = client.post("/api/jobs", data={"command": "denoise", "image": (png(photo), "p.png"), "samples": "1",
                                            "sigma_y": "0.05"}).json["id"]
    jobs.get(job_id).thread.join()
    assert client.get(f"/api/jobs/{job_id}").json["std"] is None
    r = client.get(f"/api/jobs/{job_id}/std.png")
    assert r.status_code == 404 and "samples >= 2" in r.json["error"]
    job_id = client.post("/api/jobs", data={"command": "sr", "image": (png(photo), "p.png"),
                                            "method": "x"}).json  # not a plain option: refused up front
    assert "takes no field 'method'" in job_id["error"]


def _cases():
    ok = np.zeros((H, W), bool)
    ok[2:5, 2:5] = True
    return [
        ("/api/denoise", {"image": (io.BytesIO(b"not an image"), "x.png")}, 400, "cannot read image"),
        ("/api/inpaint", {"mask": (png(np.zeros((H + 1, W), np.uint8)), "m.png")}, 400, "mask size"),
        ("/api/inpaint", {"mask": (png(np.zeros((H, W), np.uint8)), "m.png")}, 400, "nothing to fill"),
        ("/api/inpaint", {}, 400, "no 'mask' file"),
        ("/api/denoise", {"mask": (png(ok.astype(np.uint8)), "m.png")}, 400, "takes no file 'mask'"),
        ("/api/restyle", {}, 404, "unknown command 'restyle'"),
        ("/api/denoise", {"samples": "0"}, 400, "samples:"),
        ("/api/denoise", {"samples": "two"}, 400, "samples:"),
        ("/api/denoise", {"samples": str(MAX_SAMPLES + 1)}, 400, "samples:"),
        ("/api/denoise", {"sigma_y": "-1"}, 400, "sigma_y"),
        ("/api/denoise", {"sigma_y": "nan"}, 400, "sigma_y"),
        ("/api/denoise", {"strength": "2"}, 400, "strength"),
        ("/api/denoise", {"scale": "2"}, 400, "takes no field 'scale'"),
        ("/api/sr", {"scale": "1"}, 400, "scale must be an integer in 2..16"),
        ("/api/sr", {"scale": "x"}, 400, "scale:"),
        ("/api/deblur", {"kernel": "blur:3"}, 400, "kernel"),
        ("/api/jobs", {"command": "nope"}, 404, "unknown command 'nope'"),
    ]


@pytest.mark.parametrize("path, fields, code, message", _cases())
def test_a_bad_request_gets_a_4xx_and_one_line(client, photo, path, fields, code, message):
    data = {"image": (png(photo), "p.png"), **fields}
    r = client.post(path, data=data, content_type="multipart/form-data")
    assert r.status_code == code and r.is_json, r.get_data(as_text=True)
    error = r.json["error"]
    assert message in error and "\n" not in error and "Traceback" not in error


def test_no_image_and_the_wrong_method(client):
    r = client.post("/api/denoise", data={"sigma_y": "0.1"}, content_type="multipart/form-data")
    assert r.status_code == 400 and "no 'image' file" in r.json["error"]
    assert client.get("/api/denoise").status_code == 405 and client.get("/api/jobs/nope").status_code == 404


def test_uploads_over_the_limits_are_refused(tiny_prior, photo):
    small = create_app(tiny_prior, main.commands, max_bytes=500).test_client()
    r = post(small, "/api/denoise", photo)
    assert r.status_code == 413 and "limit" in r.json["error"]
    few = create_app(tiny_prior, main.commands, max_pixels=H * W * 3).test_client()
    r = post(few, "/api/denoise", np.zeros((H * 2, W * 2, 3), np.uint8))
    assert r.status_code == 400 and "pixel limit" in r.json["error"]
    r = post(few, "/api/sr", photo, scale=2)  # a result of 4 x the pixels
    assert r.status_code == 400 and "result would be" in r.json["error"]


def test_one_restoration_at_a_time(tiny_prior, photo):
    jobs, release = Jobs(), threading.Event()
    client = create_app(tiny_prior, main.commands, jobs=jobs).test_client()
    blocking = jobs.submit("denoise", lambda progress: release.wait(10))
    r = post(client, "/api/denoise", photo, sigma_y=0.1)
    assert r.status_code == 409 and "another restoration is running" in r.json["error"]
    release.set()
    blocking.thread.join()
    assert post(client, "/api/denoise", photo, sigma_y=0.1, steps=1).status_code == 200


def test_the_job_runner_counts_chains_and_keeps_errors_to_one_line():
    jobs = Jobs(keep=2)
    job = jobs.submit("x", lambda progress: [progress({"i": i, "steps": 3}) for _ in range(2) for i in (2, 1, 0)])
    job.thread.join()
    assert (job.state, job.passes, job.step, job.steps) == ("done", 2, 3, 3)
    release = threading.Event()
    slow = jobs.submit("x", lambda progress: release.wait(10))
    with pytest.raises(Busy):
        jobs.submit("x", lambda progress: None)
    release.set()
    slow.thread.join()
    bad = jobs.submit("x", lambda progress: (_ for _ in ()).throw(ValueError("bad value")))
    bad.thread.join()
    assert (bad.state, bad.error, bad.bad_input) == ("failed", "bad value", True)
    assert jobs.get(job.id) is None  # only the last 2 are kept
    broken = jobs.submit("x", lambda progress: 1 / 0)
    broken.thread.join()
    assert not broken.bad_input and "ZeroDivisionError" in broken.error and "\n" not in broken.error


def test_only_this_machine_and_same_origin(client, photo):
    assert client.get("/api/commands", headers={"Host": "example.com"}).status_code == 400
    r = client.post("/api/denoise", data={"image": (png(photo), "p.png")}, headers={"Origin": "http://example.com"})
    assert r.status_code == 403 and "another origin" in r.json["error"]
    r = client.post("/api/denoise", data={"image": (png(photo), "p.png"), "sigma_y": "0.1", "steps": "1"},
                    headers={"Origin": "http://localhost"})
    assert r.status_code == 200


def test_the_page_and_its_options_are_the_command_lines(client):
    assert b"/static/app.js" in client.get("/").data
    for name in ("app.js", "app.css"):
        assert client.get(f"/static/{name}").status_code == 200
    info = client.get("/api/commands").json
    assert set(info["commands"]) == {"inpaint", "deblur", "sr", "denoise"}
    for name, cmd in info["commands"].items():
        params = {p.name: p for p in main.commands[name].params}
        assert {o["name"] for o in cmd["options"]} == set(PLAIN) & set(params)
        for o in cmd["options"]:
            assert o["flag"] == params[o["name"]].opts[0] and o["help"] == params[o["name"]].help
            assert o["default"] == params[o["name"]].default
    assert cmd_option(info, "sr", "scale")["default"] == 4 and cmd_option(info, "deblur", "kernel")["default"]
    assert cmd_option(info, "denoise", "samples")["max"] == MAX_SAMPLES
    assert info["commands"]["inpaint"]["files"] == ["image", "mask"]


def cmd_option(info, command, name):
    return next(o for o in info["commands"][command]["options"] if o["name"] == name)


def test_the_server_listens_on_loopback_only(tiny_prior):
    server = make_server(create_app(tiny_prior, main.commands), 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert HOST == "127.0.0.1" and server.server_address[0] == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/api/commands", timeout=10) as r:
            assert r.status == 200 and "inpaint" in json.loads(r.read())["commands"]
    finally:
        server.shutdown()
        server.server_close()
    assert "--host" not in CliRunner().invoke(main, ["app", "--help"]).output


def test_restore_app_on_a_busy_port_is_one_line(tmp_path, tiny_prior):
    from restore.priors import save_prior

    save_prior(tmp_path / "tiny.safetensors", tiny_prior.net, tiny_prior.schedule, tiny_prior.image_size)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        r = CliRunner().invoke(main, ["app", "--port", str(taken.getsockname()[1]), "--workers", "1",
                                      "--prior", str(tmp_path / "tiny.safetensors")])
    assert r.exit_code == 2 and r.output.startswith("error:") and len(r.output.strip().splitlines()) == 1, r.output

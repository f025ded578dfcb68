"""`restore app`: a local web page to restore a photo, and endpoints for scripts beside it.

Flask, served by Werkzeug's threaded server on 127.0.0.1 only (`serve`; one local user). The page
(restore/static/: HTML, JS and CSS, no build step, nothing fetched from elsewhere) reads the
commands and their options from /api/commands, which gives the command line's own options (types,
defaults, help: `restore.app_forms`), and runs a restoration as a job (`restore.app_jobs`: one at a
time, in a thread) whose progress it polls. The prior is loaded once per server.

  GET  /                         the page
  GET  /api/commands             the commands, their plain options and the upload limits
  POST /api/inpaint|deblur|sr|denoise
                                 multipart `image` (inpaint: and `mask`, white = fill, the image's
                                 size) and option fields (`kernel`, `scale`, `samples`, `steps`,
                                 `strength`, `sigma_y`, `seed`: the CLI's); answers the result (PNG)
  POST /api/jobs                 the same with a `command` field; answers 202 {"id", ...}
  GET  /api/jobs/ID              {"state": running|done|failed, "step", "steps", "pass", "error", ...}
  GET  /api/jobs/ID/result.png   the result; /api/jobs/ID/std.png: the draws' per-pixel standard
                                 deviation as a heat map (samples >= 2)

Errors are JSON {"error": one line}: 400 for a bad request, 404 for an unknown command or job, 409
while another restoration runs, 413 for an upload over the size limit, 500 when the restoration
itself fails. Requests must name this machine as their host (127.0.0.1 or localhost), and a POST
from a page of another origin is refused (403).
"""
from __future__ import annotations

import contextlib
import io
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, jsonify, request, send_file
from werkzeug.exceptions import Forbidden, HTTPException, NotFound, RequestEntityTooLarge
from werkzeug.serving import WSGIRequestHandler
from werkzeug.utils import secure_filename

from .api import COMMANDS as API
from .app_forms import FILES, decode, describe, encode_png, parse
from .app_jobs import BAD_INPUT, Busy, Jobs
from .io import MAX_PIXELS

__all__ = ["HOST", "MAX_UPLOAD", "create_app", "make_server", "serve"]

HOST = "127.0.0.1"  # loopback only: the page is for the person at this machine
LOCAL_NAMES = ("127.0.0.1", "localhost")
MAX_UPLOAD = 50 * 2**20  # bytes in one request (the image and the mask)
STATIC = Path(__file__).with_name("static")
STD_MIN_SAMPLES = 2  # a standard deviation needs two draws (restore.plan.make_plan)


def _error(message: str, code: int):
    return jsonify(error=" ".join(str(message).split())), code


def _channels_first(std):
    """A standard deviation in the image's kind (a tensor, a PIL image of mode F, an HW(C) array) as (C, H, W)."""
    import numpy as np
    import torch

    if isinstance(std, torch.Tensor):
        return std
    a = np.asarray(std, dtype=np.float32)
    return torch.from_numpy((a[None] if a.ndim == 2 else a.transpose(2, 0, 1)).copy())


def _restoration(command: str, image, mask, options: dict, prior, workers):
    """The job: the API call (restore.inpaint, ...) with the server's prior, the PNGs it gives."""
    std = options.get("samples", 0) >= STD_MIN_SAMPLES

    def run(progress):
        from .save import heat_map  # the command line's --uncertainty heat map

        args = (image, mask) if command == "inpaint" else (image,)
        out = API[command](*args, prior=prior, workers=workers, callback=progress, return_std=std, **options)
        result, sd = out if std else (out, None)
        return encode_png(result), (encode_png(heat_map(_channels_first(sd))) if sd is not None else None)

    return run


def create_app(prior, commands: dict, *, workers=None, max_bytes: int = MAX_UPLOAD, max_pixels: int = MAX_PIXELS,
               jobs: Jobs | None = None) -> Flask:
    """The web app restoring with `prior` (a loaded prior: `restore.load_prior`). commands: the
    command line's click commands by name (`restore.cli.main.commands`), whose options the page and
    the endpoints take; workers: the API's `workers` for every call (an open TileWorkers pool)."""
    cli = {name: commands[name] for name in API}
    app = Flask(__name__, static_folder=str(STATIC), static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = int(max_bytes)
    app.json.sort_keys = False  # the commands in the command line's order
    jobs = jobs if jobs is not None else Jobs()
    app.extensions["restore"] = {"jobs": jobs, "prior": prior}

    @app.before_request
    def local_only():
        host = urlsplit(f"//{request.host}").hostname or ""
        if host not in LOCAL_NAMES:
            return _error(f"this server answers for 127.0.0.1 only, not for host {request.host!r}", 400)
        origin = request.headers.get("Origin")
        if request.method == "POST" and origin and urlsplit(origin).netloc != request.host:
            raise Forbidden(f"requests from a page of another origin ({origin}) are refused")
        return None

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        if isinstance(e, RequestEntityTooLarge):
            return _error(f"the upload is larger than the limit of {max_bytes / 2**20:g} MB", 413)
        return _error(e.description or e.name, e.code or 500)

    def bad_input(e):
        return _error(str(e), 400)

    for kind in BAD_INPUT:
        app.register_error_handler(kind, bad_input)

    @app.errorhandler(Busy)
    def busy(e):
        return _error(str(e), 409)

    def start(command: str):
        if command not in cli:
            raise NotFound(f"unknown command {command!r}: use one of {', '.join(cli)}")
        wanted = FILES.get(command, ("image",))
        extra = [name for name in request.files if name not in wanted]
        if extra:
            raise ValueError(f"{command} takes no file {extra[0]!r} (it takes {', '.join(wanted)})")
        options = parse(cli[command], request.form)  # before decoding: a bad value is found at once
        image = decode(request.files.get("image"), "image", max_pixels)
        mask = decode(request.files.get("mask"), "mask", max_pixels) if "mask" in wanted else None
        scale = options.get("scale", 1) if command == "sr" else 1
        if image.width * image.height * scale**2 > max_pixels:
            raise ValueError(f"the {image.width * scale}x{image.height * scale} result would be more than the "
                             f"limit of {max_pixels} pixels")
        stem = secure_filename(Path(request.files["image"].filename or "").stem) or "image"
        run = _restoration(command, image, mask, options, prior, workers)
        return jobs.submit(command, run, f"{stem}_{command}.png")

    def failed(job):
        return _error(job.error, 400 if job.bad_input else 500)

    @app.get("/")
    def page():
        return app.send_static_file("index.html")

    @app.get("/api/commands")
    def list_commands():
        return jsonify(commands={name: describe(c) for name, c in cli.items()}, std_min_samples=STD_MIN_SAMPLES,
                       limits={"max_bytes": int(max_bytes), "max_pixels": int(max_pixels)})

    @app.post("/api/<command>")
    def restore_now(command: str):
        job = start(command)
        job.thread.join()
        if job.state != "done":
            return failed(job)
        return send_file(io.BytesIO(job.result[0]), mimetype="image/png", download_name=job.name)

    @app.post("/api/jobs")
    def start_job():
        job = start(request.form.get("command", ""))
        return jsonify(id=job.id, status=f"/api/jobs/{job.id}"), 202

    def find(job_id: str):
        job = jobs.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id!r} (a server keeps its last {jobs.keep})")
        return job

    @app.get("/api/jobs/<job_id>")
    def job_status(job_id: str):
        job = find(job_id)
        done = job.state == "done"
        return jsonify(**job.status(), result=f"/api/jobs/{job.id}/result.png" if done else None,
                       std=f"/api/jobs/{job.id}/std.png" if done and job.result[1] else None)

    @app.get("/api/jobs/<job_id>/<which>.png")
    def job_file(job_id: str, which: str):
        job = find(job_id)
        if which not in ("result", "std"):
            raise NotFound(f"no file {which!r}.png: use result.png or std.png")
        if job.state == "running":
            return _error("the restoration is still running", 409)
        if job.state == "failed":
            return failed(job)
        data = job.result[0 if which == "result" else 1]
        if data is None:
            raise NotFound(f"no uncertainty map: it needs samples >= {STD_MIN_SAMPLES}")
        name = job.name if which == "result" else job.name.replace(".png", "_std.png")
        return send_file(io.BytesIO(data), mimetype="image/png", download_name=name)

    return app


class _QuietHandler(WSGIRequestHandler):
    """Logs only the requests that failed (the page polls its job several times a second)."""

    def log_request(self, code="-", size="-"):
        if str(code)[:1] in ("4", "5"):
            super().log_request(code, size)


def make_server(app: Flask, port: int = 0):
    """A threaded Werkzeug server of `app` bound to 127.0.0.1:port (0: any free port), not started."""
    import socket

    from werkzeug.serving import make_server as werkzeug_server

    with socket.socket() as probe:  # Werkzeug would print two lines and exit on a port in use
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as its server does
        try:
            probe.bind((HOST, int(port)))
        except OSError as e:
            raise ValueError(f"cannot listen on {HOST}:{port} ({e.strerror or e}): pick another --port") from None
    return werkzeug_server(HOST, int(port), app, threaded=True, request_handler=_QuietHandler)


def serve(port: int, prior=None, *, commands: dict, device: str = "auto", precision: str | None = None,
          workers: int = 0, echo=print) -> None:
    """Load `prior` (a name or path, `restore.load_prior`) once and serve the page on
    http://127.0.0.1:port/ until Ctrl+C. workers: tile processes for every restoration (0: every
    core of a CPU, as the command line), one pool opened before the server starts."""
    from restore.priors.parallel import TileWorkers, default_workers

    from .defaults import DEFAULT_PRIOR
    from .pipeline import load_prior

    p = load_prior(prior, device, precision)
    n = default_workers(p.device) if int(workers) == 0 else int(workers)
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(TileWorkers(p, n)) if n > 1 else None
        server = make_server(create_app(p, commands, workers=pool), port)
        echo(f"restore app: http://{HOST}:{server.server_port}/ (prior {prior or DEFAULT_PRIOR}; Ctrl+C stops it)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            echo("restore app: stopped")
        finally:
            server.server_close()

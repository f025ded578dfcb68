"""The web page's job runner (`restore app`): one restoration at a time, in a background thread,
with an id the page polls for its progress.

A job is a function of one argument, the progress callback it hands the library (`callback`: one
call per network evaluation, with the chain's length in info["steps"]); its result, or its error
in one line, is kept with the job. The last KEEP jobs are kept (a result is a PNG or two).
"""
from __future__ import annotations

import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

__all__ = ["BAD_INPUT", "Busy", "Job", "Jobs"]

KEEP = 4
# the errors that mean the request was bad (the library's one-line refusals), not the server
BAD_INPUT = (ValueError, NotImplementedError)


class Busy(RuntimeError):
    """Another restoration is running."""


@dataclass
class Job:
    """A restoration's state: running | done | failed; progress in the current chain (step of
    steps, network evaluations) and chains started so far (passes: draws, the holes' boxes)."""

    id: str
    command: str
    name: str = "result.png"
    state: str = "running"
    step: int = 0
    steps: int = 0
    passes: int = 0
    result: object = None
    error: str | None = None
    bad_input: bool = False
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    thread: threading.Thread | None = field(default=None, repr=False)

    def progress(self, info: dict) -> None:
        """The library's callback: one network evaluation done."""
        if self.passes == 0 or self.step >= self.steps:  # a new chain starts
            self.passes, self.step = self.passes + 1, 0
        self.steps = int(info.get("steps") or 0)
        self.step += 1

    def status(self) -> dict:
        end = self.finished if self.finished is not None else time.monotonic()
        return {"id": self.id, "command": self.command, "name": self.name, "state": self.state, "step": self.step,
                "steps": self.steps, "pass": self.passes, "error": self.error,
                "seconds": round(end - self.started, 2)}


class Jobs:
    """The jobs of one server: `submit` starts one in a thread (Busy while another runs)."""

    def __init__(self, keep: int = KEEP):
        self.keep = int(keep)
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}

    def submit(self, command: str, fn: Callable, name: str = "result.png") -> Job:
        with self._lock:
            if any(j.state == "running" for j in self._jobs.values()):
                raise Busy("another restoration is running: wait for it to finish")
            job = Job(uuid.uuid4().hex[:16], command, name)
            self._jobs[job.id] = job
            for old in list(self._jobs)[:-self.keep]:  # the oldest results go (none is running)
                del self._jobs[old]
            job.thread = threading.Thread(target=self._run, args=(job, fn), name=f"restore-job-{job.id}", daemon=True)
        job.thread.start()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    @staticmethod
    def _run(job: Job, fn: Callable) -> None:
        try:
            job.result = fn(job.progress)
            job.state = "done"
        except BAD_INPUT as e:
            job.error, job.bad_input, job.state = str(e) or type(e).__name__, True, "failed"
        except Exception as e:  # noqa: BLE001 - reported to the page in one line, logged here
            first = str(e).splitlines()[0] if str(e) else ""
            job.error, job.state = f"the restoration failed ({type(e).__name__}: {first})", "failed"
            print(f"restore app: job {job.id}: {job.error}", file=sys.stderr)
        finally:
            job.finished = time.monotonic()

"""Run batch files on this machine: one thread (``jobs=1``) or ``jobs`` worker processes.

Conventions (shared with :mod:`vidiff.jobs.ray_runner`): a runner has ``capacity`` (files at
once), ``start(task, device) -> handle``, ``wait(handles, timeout) -> [(handle, Outcome)]``,
``progress() -> [(task_id, done, total)]``, ``cancel(handles)`` (ask running files to stop; they
return ``cancelled`` and remove their temporaries) and ``close()``.

With ``jobs > 1`` each worker is a process started with ``spawn`` (safe with torch and CUDA),
gets ``cores // jobs`` torch/OpenCV threads and ignores SIGINT (the parent cancels it). One
file's decode and encode then overlap with another's model work. A worker that dies (killed,
out of memory) fails only the files it was running; the pool is rebuilt for the rest.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import queue
import threading

from .batch_worker import FileTask, Outcome, attach, convert_file, init_worker


class LocalRunner:
    def __init__(self, jobs: int = 1):
        self.capacity = max(1, int(jobs))
        self.processes = self.capacity > 1
        self._pool = None
        if self.processes:
            import multiprocessing as mp

            self._ctx = mp.get_context("spawn")
            self._stop = self._ctx.Event()
            self._queue = self._ctx.Queue()
            self.threads = max(1, (os.cpu_count() or 1) // self.capacity)
        else:
            self._stop = threading.Event()
            self._queue = queue.Queue()
            attach(self._stop, self._queue)

    def _executor(self):
        if self._pool is None:
            if self.processes:
                self._pool = cf.ProcessPoolExecutor(
                    self.capacity, mp_context=self._ctx, initializer=init_worker,
                    initargs=(self._stop, self._queue, self.threads, os.getpid()),
                )
            else:
                self._pool = cf.ThreadPoolExecutor(1, thread_name_prefix="vidiff-batch")
        return self._pool

    per_file_progress = True

    def start(self, task: FileTask, device: str | None):
        return self._executor().submit(convert_file, task, device)

    def wait(self, handles, timeout: float):
        done, _ = cf.wait(handles, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        finished = []
        for future in done:
            try:
                outcome = future.result()
            except cf.process.BrokenProcessPool:
                outcome = Outcome(
                    "failed", error="the worker process died (killed, or out of memory)"
                )
                self._discard_pool()
            except Exception as exc:  # pickling or pool errors: report, never stop the batch
                outcome = Outcome("failed", error=f"{type(exc).__name__}: {exc}")
            finished.append((future, outcome))
        return finished

    def _discard_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def progress(self):
        events = []
        while True:
            try:
                events.append(self._queue.get_nowait())
            except (queue.Empty, OSError, ValueError):
                return events

    def cancel(self, handles) -> None:
        self._stop.set()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if not self.processes:
            attach(None, None)

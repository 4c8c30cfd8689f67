"""One batch file, run where the work happens: a thread, a worker process or a Ray task.

Conventions
- :func:`convert_file` takes a :class:`FileTask` (plain data, picklable) and a device name and
  always returns an :class:`Outcome`; it never raises for a problem with the file. Outcome
  statuses: ``done``, ``invalid`` (the input itself was rejected: :class:`InputError`),
  ``failed`` (anything else, may pass on a retry), ``cancelled``; ``fatal`` marks an option
  or weights mistake that would fail every file alike (the batch stops).
- Output goes through :func:`vidiff.interpolate_video`, whose writer renames the finished file
  into place and removes its temporary on any exception, so a cancelled file leaves nothing.
- Cancellation is cooperative: the job's progress callback, called once per output frame,
  raises :class:`Cancelled` when the run's stop flag is set, or when this worker's parent
  process has died (a parent killed with SIGKILL takes its files in progress with it).
- Progress goes to the parent as ``(task_id, done, total)`` tuples on a queue, at most ten a
  second per file. Module state (stop flag, queue) is set by :func:`init_worker` (processes)
  or :func:`attach` (threads in the parent).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass, field

_STOP = None  # threading.Event or multiprocessing.Event
_PROGRESS = None  # queue.Queue or multiprocessing.Queue
_PARENT: int | None = None  # pid of the batch process (worker processes only)
_BUSY = threading.Event()


class Cancelled(Exception):
    """Raised inside a job to stop it: the batch was interrupted."""


@dataclass(frozen=True)
class FileTask:
    id: int
    rel: str  # input path relative to INPUT_DIR
    source: str  # absolute input path
    output: str  # absolute output path
    kwargs: dict = field(default_factory=dict)  # interpolate_video keywords (no progress)
    attempt: int = 1


@dataclass
class Outcome:
    status: str  # done | failed | invalid | cancelled
    error: str | None = None
    fatal: bool = False
    fps: str | None = None
    frames_in: int | None = None
    frames_out: int | None = None
    output_size: int | None = None
    seconds: float = 0.0
    device: str | None = None
    host: str = field(default_factory=socket.gethostname)


def attach(stop, progress) -> None:
    """Use ``stop`` and ``progress`` in this process (the threads of a ``--jobs 1`` run)."""
    global _STOP, _PROGRESS
    _STOP, _PROGRESS = stop, progress


def init_worker(stop, progress, threads: int, parent_pid: int | None = None) -> None:
    """Initializer of a worker process: parent watchdog, thread budget, signals, stop flag.

    ``parent_pid`` is the batch process, given by it: a worker whose parent is killed while it
    starts must not mistake its new parent (PID 1) for the batch and wait for work forever.
    """
    import signal

    global _PARENT
    _PARENT = parent_pid if parent_pid is not None else os.getppid()
    threading.Thread(target=_watch_parent, daemon=True, name="vidiff-parent-watch").start()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C stops
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    torch.set_num_threads(threads)
    try:
        import cv2

        cv2.setNumThreads(threads)
    except Exception:  # OpenCV is optional here: only the thread budget is lost
        pass
    attach(stop, progress)


ORPHAN_GRACE = 10.0  # seconds a busy orphan gets to cancel its file (and remove its temp)


def _parent_gone() -> bool:
    return _PARENT is not None and os.getppid() != _PARENT


def _watch_parent() -> None:
    """Exit when the parent is gone: at once when idle; when busy, after the running file has
    been cancelled (its next progress report raises) or ``ORPHAN_GRACE`` seconds at most."""
    gone_since = None
    while True:
        time.sleep(0.25)
        if not _parent_gone():
            continue
        gone_since = gone_since if gone_since is not None else time.monotonic()
        if not _BUSY.is_set() or time.monotonic() - gone_since > ORPHAN_GRACE:
            os._exit(1)


def _reporter(task_id: int):
    last = [0.0]

    def report(done: int, total: int | None) -> None:
        if (_STOP is not None and _STOP.is_set()) or _parent_gone():
            raise Cancelled()
        now = time.monotonic()
        if _PROGRESS is not None and (now - last[0] >= 0.1 or done == total):
            last[0] = now
            try:
                _PROGRESS.put_nowait((task_id, done, total))
            except Exception:  # a full or closed queue only costs a progress update
                pass

    return report


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def convert_file(task: FileTask, device: str | None = None) -> Outcome:
    """Convert one file; every problem with it becomes the returned :class:`Outcome`."""
    from ..errors import InputError, OptionError, VidiffError, WeightsError
    from .interpolate_file import interpolate_video

    kwargs = dict(task.kwargs)
    if device is not None:
        kwargs["device"] = device
    started = time.perf_counter()
    _BUSY.set()
    try:
        if (_STOP is not None and _STOP.is_set()) or _parent_gone():
            raise Cancelled()
        result = interpolate_video(
            task.source, task.output, progress=_reporter(task.id), **kwargs
        )
        return Outcome(
            "done", fps=_rate(result.fps), frames_in=result.stats.input_frames,
            frames_out=result.stats.output_frames, output_size=os.path.getsize(result.output),
            seconds=time.perf_counter() - started, device=kwargs.get("device"),
        )
    except Cancelled:
        status, error, fatal = "cancelled", "interrupted", False
    except InputError as exc:
        status, error, fatal = "invalid", one_line(exc), False
    except (OptionError, WeightsError) as exc:
        status, error, fatal = "failed", one_line(exc), True
    except VidiffError as exc:
        status, error, fatal = "failed", one_line(exc), False
    except Exception as exc:  # a bug or the environment (disk full, GPU out of memory)
        status, error, fatal = "failed", f"{type(exc).__name__}: {one_line(exc)}", False
    finally:
        _BUSY.clear()
    return Outcome(
        status, error=error, fatal=fatal, seconds=time.perf_counter() - started,
        device=kwargs.get("device"),
    )


def _rate(fps) -> str:
    from ..timebase import format_rate

    return format_rate(fps)

"""Decoding and encoding on their own threads, overlapped with the interpolation.

PyAV releases the GIL while FFmpeg decodes and encodes, so a reader thread and a writer thread
keep both CPU cores (or the GPU and the CPU) busy. Queues are bounded, so memory stays a few
frames deep whatever the video's length. Errors in a thread are re-raised in the caller;
stopping early (an exception or Ctrl-C in the caller) stops the threads without writing more.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator

_DONE = object()
_POLL = 0.1


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


def prefetch(items: Iterable, depth: int = 4) -> Iterator:
    """Iterate ``items`` on a background thread, up to ``depth`` items ahead."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(_Failure(exc))

    thread = threading.Thread(target=work, name="vidiff-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join()


class BackgroundWriter:
    """Call ``write(item)`` on a background thread, in order, up to ``depth`` items behind.

    Use as a context manager: ``put(item)`` queues an item; leaving the block normally waits
    for every queued item to be written and re-raises a write error; leaving it with an
    exception drops what is still queued.
    """

    def __init__(self, write: Callable[[object], None], depth: int = 4):
        self._write = write
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="vidiff-encode", daemon=True)

    def _work(self):
        while True:
            try:
                item = self._queue.get(timeout=_POLL)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            if item is _DONE or self._stop.is_set():
                return
            try:
                self._write(item)
            except BaseException as exc:
                self._error = exc
                self._stop.set()
                return

    def put(self, item) -> None:
        while True:
            if self._error is not None:
                raise self._error
            try:
                self._queue.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue

    def __enter__(self):
        self._thread.start()
        return self.put

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.put(_DONE)
        else:
            self._stop.set()
        self._thread.join()
        if exc_type is None and self._error is not None:
            raise self._error
        return False

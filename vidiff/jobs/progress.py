"""Progress reporting for file jobs: a tqdm bar, a caller's callback, or nothing."""

from __future__ import annotations

from collections.abc import Callable


def progress_reporter(progress, total: int | None, name: str) -> Callable[[int | None], None]:
    """``report(done)`` after each frame and ``report(None)`` at the end.

    ``progress`` is ``True`` for a tqdm bar (frames, speed, ETA), a callable ``(done, total)``,
    or false for silence.
    """
    if callable(progress):
        return lambda done: progress(done, total) if done is not None else None
    if not progress:
        return lambda done: None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="frame", desc=name, dynamic_ncols=True, leave=True)

    def update(done):
        if done is None:
            bar.close()
        else:
            bar.update(done - bar.n)

    return update

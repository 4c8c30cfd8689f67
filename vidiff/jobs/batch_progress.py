"""Progress bars of a batch on stderr: one overall bar and one per running file (tqdm).

The overall bar counts files (its ETA is by files) and shows frames written and frames per
second; each running file gets its own bar of output frames, removed when the file ends. Files
that fail are announced above the bars as they fail. Without ``enabled`` nothing is shown.
Ray runs have no per-file bars (tasks report only when a file ends).
"""

from __future__ import annotations

import time


class BatchProgress:
    def __init__(self, files: int, enabled: bool, per_file: bool = True):
        self.enabled = bool(enabled)
        self.per_file = per_file
        self.frames = 0
        self._started = time.monotonic()
        self._bars: dict[int, object] = {}
        self._slots: dict[int, int] = {}
        self._names: dict[int, str] = {}
        self._overall = None
        if self.enabled:
            from tqdm import tqdm

            self._tqdm = tqdm
            self._overall = tqdm(
                total=files, unit="file", desc="batch", position=0, dynamic_ncols=True, leave=True
            )

    def file_started(self, task) -> None:
        self._names[task.id] = task.rel

    def file_progress(self, task_id: int, done: int, total: int | None) -> None:
        if not (self.enabled and self.per_file) or task_id not in self._names:
            return
        bar = self._bars.get(task_id)
        if bar is None:
            slot = min(set(range(1, len(self._slots) + 2)) - set(self._slots.values()))
            self._slots[task_id] = slot
            name = self._names[task_id]
            bar = self._tqdm(
                total=total, unit="frame", desc=name if len(name) <= 30 else "..." + name[-27:],
                position=slot, dynamic_ncols=True, leave=False,
            )
            self._bars[task_id] = bar
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    def file_done(self, task, outcome, final: bool = True) -> None:
        self._names.pop(task.id, None)
        self._slots.pop(task.id, None)
        bar = self._bars.pop(task.id, None)
        if bar is not None:
            bar.close()
        if outcome.frames_out:
            self.frames += outcome.frames_out
        if self._overall is None:
            return
        if not final:
            self._overall.write(f"retrying {task.rel} (attempt {task.attempt} failed: {outcome.error})")
            return
        if outcome.status in ("failed", "invalid"):
            self._overall.write(f"failed: {task.rel}: {outcome.error}")
        self._overall.update(1)
        rate = self.frames / max(time.monotonic() - self._started, 1e-9)
        self._overall.set_postfix_str(f"{self.frames} frames, {rate:.1f} frame/s")

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
        if self._overall is not None:
            self._overall.close()
            self._overall = None

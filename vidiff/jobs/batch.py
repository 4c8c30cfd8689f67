"""The batch job: convert a folder (tree) of videos, resumably, one file's failure never
stopping the others; what ``vidiff batch`` and :func:`vidiff.batch_convert` run.

Conventions
- Inputs, output names and the mirrored output tree: :mod:`vidiff.jobs.batch_files`.
- The manifest ``OUTPUT_DIR/vidiff-batch.jsonl`` (:mod:`vidiff.jobs.manifest`) is the single
  record, written only by this process. A rerun skips inputs that are done (same size, mtime
  and output-changing options, output still present) or were rejected as invalid and have not
  changed; it redoes what failed, changed, or was in progress when a run died.
- Each file runs through :func:`vidiff.interpolate_video` (atomic output: a finished file or
  nothing). Killed runs leave at most hidden temporaries, removed when the next run starts.
- Where files run: :class:`LocalRunner` (``jobs`` threads/processes, ``devices`` assigned to the
  least-busy one at each start) or :class:`RayRunner` (one Ray task per file).
- Interrupt (Ctrl-C, SIGTERM in the CLI): no new files start, running ones are cancelled (their
  temporaries removed) and recorded as ``cancelled``, then :class:`BatchInterrupted` is raised.
"""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from ..errors import OptionError
from ..timebase import format_rate, parse_rate
from .batch_files import (
    check_folders,
    find_inputs,
    output_relpath,
    rate_tag,
    remove_stale_temps,
)
from .batch_progress import BatchProgress
from .batch_worker import FileTask, Outcome
from .manifest import MANIFEST_NAME, Manifest, latest_records, options_hash, read_records, same_key

# interpolate_video keywords a batch passes through (all but input, output, fps/multi, progress)
JOB_OPTIONS = {
    "input_fps": None, "steps": None, "sampler": None, "device": "auto", "weights": None,
    "seed": 0, "refine": None, "overwrite": False, "codec": None, "crf": None, "preset": None,
    "pix_fmt": None,
    "scene_threshold": 0.15, "dedup": 3, "audio": True, "max_memory": None, "ensemble": None,
}
# ... of which these change the output (the rerun key); device, overwrite and the memory budget
# (tiles agree with whole frames to within 8-bit rounding) do not. A budget is per job.
_NOT_IN_KEY = {"device", "overwrite", "max_memory"}


@dataclass(frozen=True)
class BatchEntry:
    """One input's outcome in this run.

    ``status``: ``done`` (converted now), ``skipped`` (done in an earlier run), ``failed``
    (now, or ``earlier`` and unchanged since), or ``pending`` (dry run: would be converted).
    """

    input: str  # relative to INPUT_DIR
    status: str
    output: str | None = None  # relative to OUTPUT_DIR
    error: str | None = None
    earlier: bool = False
    frames: int | None = None  # output frames
    seconds: float | None = None
    attempts: int = 0


@dataclass
class BatchResult:
    input_dir: Path
    output_dir: Path
    entries: list[BatchEntry] = field(default_factory=list)
    seconds: float = 0.0
    removed_temps: int = 0

    @property
    def manifest(self) -> Path:
        return self.output_dir / MANIFEST_NAME

    def count(self, status: str) -> int:
        return sum(e.status == status for e in self.entries)

    @property
    def ok(self) -> bool:
        """True when no input is failed (now or unchanged since an earlier failure)."""
        return not any(e.status == "failed" for e in self.entries)

    @property
    def frames(self) -> int:
        return sum(e.frames or 0 for e in self.entries if e.status == "done")


class BatchInterrupted(KeyboardInterrupt):
    """The batch was interrupted; ``result`` holds what was finished before."""

    def __init__(self, result: BatchResult):
        super().__init__("batch interrupted")
        self.result = result


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _key_options(fps, multi, options: dict) -> dict:
    """The options that change an output, JSON-ready (the manifest's ``options``)."""
    from ..pipelines.weights import default_weights_path, resolve_ensemble

    key = {k: v for k, v in options.items() if k not in _NOT_IN_KEY}
    key["ensemble"] = list(resolve_ensemble(key.get("ensemble")))
    key["fps"] = format_rate(fps) if fps is not None else None
    key["multi"] = multi
    if key["input_fps"] is not None:
        key["input_fps"] = format_rate(parse_rate(key["input_fps"], "--input-fps"))
    weights = Path(key["weights"]) if key["weights"] is not None else default_weights_path()
    uses_weights = key["steps"] != 0 or key.get("refine") is not False
    if weights is not None and weights.is_file() and uses_weights:
        st = weights.stat()
        key["weights"] = {"path": str(weights.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    elif weights is not None:
        key["weights"] = str(weights)
    return key


def _parse_devices(devices, default: str) -> list[str]:
    if devices is None:
        return [default]
    items = devices.split(",") if isinstance(devices, str) else list(devices)
    items = [str(d).strip() for d in items if str(d).strip()]
    if not items:
        raise OptionError(f"--devices must list devices like cuda:0,cuda:1, got {devices!r}")
    return items


def batch_convert(
    input_dir,
    output_dir,
    *,
    fps=None,
    multi: int | None = None,
    recursive: bool = False,
    pattern: str | None = None,
    jobs: int | None = None,
    devices=None,
    ray=None,
    gpus_per_task: float | None = None,
    retry: int = 0,
    dry_run: bool = False,
    progress: bool = False,
    **options,
) -> BatchResult:
    """Convert every video in ``input_dir`` into the mirrored tree under ``output_dir``.

    ``fps`` or ``multi`` as for :func:`vidiff.interpolate_video`, whose other keyword options
    (``steps``, ``device``, ``crf``, ``overwrite``, ...) are passed through to every file.
    ``jobs``: files at once (default: one per device in ``devices``, else 1); ``devices``: e.g.
    ``"cuda:0,cuda:1"``, shared out among the running files. ``ray``: ``True`` for a local Ray
    runtime or an address string to run one Ray task per file instead. ``retry``: times to
    retry a failed file (input errors are never retried: they would fail again). Returns a
    :class:`BatchResult`; raises :class:`BatchInterrupted` on Ctrl-C after cancelling cleanly.

    >>> result = batch_convert("clips/", "clips-60/", fps=60, recursive=True)
    >>> result.ok, result.count("done"), result.count("failed")
    """
    unknown = set(options) - set(JOB_OPTIONS)
    if unknown:
        raise TypeError(f"batch_convert() got unexpected keyword(s): {', '.join(sorted(unknown))}")
    options = {**JOB_OPTIONS, **options}
    if (fps is None) == (multi is None):
        raise OptionError("give exactly one of --fps or --multi")
    out_fps = parse_rate(fps, "--fps") if fps is not None else None
    if multi is not None and (isinstance(multi, bool) or not isinstance(multi, int) or multi < 1):
        raise OptionError(f"--multi must be a whole number >= 1, got {multi!r}")
    if isinstance(retry, bool) or not isinstance(retry, int) or retry < 0:
        raise OptionError(f"--retry must be a whole number >= 0, got {retry!r}")
    device_list = _parse_devices(devices, options["device"])
    if jobs is None:
        jobs = len(device_list) if devices is not None else (None if ray else 1)
    elif isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise OptionError(f"--jobs must be a whole number >= 1, got {jobs!r}")
    if not ray:
        from ..device import resolve_device

        for d in device_list:
            resolve_device(d)
    src, out = check_folders(Path(input_dir), Path(output_dir))
    key_opts = _key_options(out_fps, multi, options)
    opts_hash = options_hash(key_opts)
    tag = rate_tag(out_fps, multi)
    started = time.perf_counter()
    result = BatchResult(src, out)

    if dry_run:
        latest = latest_records(read_records(out / MANIFEST_NAME))
        result.entries = [e for e, _ in _plan(src, out, recursive, pattern, tag, opts_hash, latest)]
        return result

    out.mkdir(parents=True, exist_ok=True)
    with Manifest(out) as manifest:
        keep_out = src if out in src.parents else None
        result.removed_temps = len(remove_stale_temps(out, keep_out=keep_out))
        planned = _plan(src, out, recursive, pattern, tag, opts_hash, manifest.latest)
        entries: dict[str, BatchEntry] = {}
        tasks = []
        base = {"options": key_opts, "options_hash": opts_hash}
        for entry, info in planned:
            entries[entry.input] = entry
            if info is None:
                continue
            if info.get("record") is not None:  # rejected while planning (e.g. name collision)
                manifest.append({**base, **info["record"]})
                continue
            kwargs = {k: v for k, v in options.items() if k != "overwrite"}
            kwargs.update(fps=out_fps, multi=multi, overwrite=info["overwrite"])
            tasks.append((
                FileTask(len(tasks), entry.input, str(src / entry.input), str(out / entry.output), kwargs),
                {**base, "input": entry.input, "size": info["size"], "mtime_ns": info["mtime_ns"],
                 "output": entry.output},
            ))
        result.entries = list(entries.values())
        if tasks:
            runner = _make_runner(ray, jobs, gpus_per_task, options["device"])
            try:
                _run(runner, tasks, device_list, retry, manifest, entries, progress, out)
            except KeyboardInterrupt:
                result.entries = list(entries.values())
                result.seconds = time.perf_counter() - started
                raise BatchInterrupted(result) from None
            finally:
                runner.close()
        result.entries = list(entries.values())
    result.seconds = time.perf_counter() - started
    return result


def _make_runner(ray, jobs, gpus_per_task, device):
    if ray:
        from .ray_runner import RayRunner

        address = None if ray is True or ray == "local" else str(ray)
        return RayRunner(address, gpus=gpus_per_task, device=device, jobs=jobs)
    from .local_runner import LocalRunner

    return LocalRunner(jobs)


def _plan(src: Path, out: Path, recursive, pattern, tag, opts_hash, latest: dict):
    """``(entry, info)`` per input: info is None to skip, else what the run needs to know."""
    plan = []
    taken: dict[str, str] = {}
    for rel in find_inputs(src, recursive, pattern):
        out_rel = output_relpath(rel, tag)
        try:
            st = os.stat(src / rel)
        except OSError as exc:  # vanished or unreadable between listing and planning
            plan.append((BatchEntry(rel, "failed", out_rel, f"cannot read: {exc.strerror}"), None))
            continue
        record = latest.get(rel)
        target = out / out_rel
        problem = None
        if out_rel in taken:
            problem = f"its output name {out_rel} is also that of {taken[out_rel]}: rename one"
        elif src == target or src in target.parents:
            problem = f"its output {target} would be inside INPUT_DIR"
        if problem is not None:
            info = {"record": {"input": rel, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                               "status": "invalid", "error": problem, "output": None,
                               "finished_at": _now()}}
            plan.append((BatchEntry(rel, "failed", None, problem), info))
            continue
        taken[out_rel] = rel
        if same_key(record, st.st_size, st.st_mtime_ns, opts_hash):
            if record.get("status") == "done" and record.get("output") == out_rel and _intact(
                target, record
            ):
                plan.append((BatchEntry(rel, "skipped", out_rel, earlier=True,
                                        frames=record.get("frames_out")), None))
                continue
            if record.get("status") == "invalid":
                plan.append((BatchEntry(rel, "failed", None, record.get("error"), earlier=True), None))
                continue
        owned = record is not None and record.get("output") == out_rel
        info = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "overwrite": owned}
        plan.append((BatchEntry(rel, "pending", out_rel), info))
    return plan


def _intact(target: Path, record: dict) -> bool:
    try:
        return target.stat().st_size == record.get("output_size")
    except OSError:
        return False


def _run(runner, tasks, device_list, retry, manifest, entries, progress, out) -> None:
    """Schedule ``tasks`` on ``runner``, recording every start and outcome in ``manifest``."""
    pending = deque(tasks)
    running: dict = {}  # handle -> (task, base record, device, started_at)
    load = {d: 0 for d in device_list}
    bars = BatchProgress(len(tasks), progress, per_file=runner.per_file_progress)
    fatal: str | None = None
    unfinished: dict[str, dict] = {}  # rel -> its "started" record, until an outcome is recorded

    def finish(handle, outcome: Outcome):
        nonlocal fatal
        task, base, device, started_at = running.pop(handle)
        unfinished.pop(task.rel, None)
        load[device] -= 1
        again = (
            outcome.status == "failed" and not outcome.fatal and task.attempt <= retry
            and fatal is None
        )
        bars.file_done(task, outcome, final=not again)
        record = {
            **base, "status": outcome.status, "error": outcome.error, "attempt": task.attempt,
            "device": outcome.device or device, "host": outcome.host, "started_at": started_at,
            "finished_at": _now(), "seconds": round(outcome.seconds, 3), "fps": outcome.fps,
            "frames_in": outcome.frames_in, "frames_out": outcome.frames_out,
            "output_size": outcome.output_size,
        }
        manifest.append(record)
        if outcome.fatal and fatal is None:
            fatal = outcome.error
        if again:
            pending.append((replace(task, attempt=task.attempt + 1), base))
            return
        status = {"done": "done", "cancelled": "failed"}.get(outcome.status, "failed")
        entries[task.rel] = BatchEntry(
            task.rel, status, base["output"] if status == "done" else None,
            outcome.error, frames=outcome.frames_out, seconds=outcome.seconds,
            attempts=task.attempt,
        )

    try:
        while pending or running:
            while pending and len(running) < runner.capacity and fatal is None:
                task, base = pending.popleft()
                device = min(device_list, key=lambda d: load[d])
                load[device] += 1
                started_at = _now()
                record = {**base, "status": "started", "attempt": task.attempt,
                          "device": device, "started_at": started_at}
                unfinished[task.rel] = record  # first: a Ctrl-C during the append still
                manifest.append(record)  # finds it and records the file as cancelled
                (out / base["output"]).parent.mkdir(parents=True, exist_ok=True)
                handle = runner.start(task, device)
                running[handle] = (task, base, device, started_at)
                bars.file_started(task)
            if fatal is not None and not running:
                break
            for handle, outcome in runner.wait(list(running), timeout=0.2):
                finish(handle, outcome)
            for task_id, done, total in runner.progress():
                bars.file_progress(task_id, done, total)
    except KeyboardInterrupt:
        runner.cancel(list(running))
        deadline = time.monotonic() + 60
        try:
            while running and time.monotonic() < deadline:
                for handle, outcome in runner.wait(list(running), timeout=0.2):
                    finish(handle, outcome)
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting; temps are cleaned next run
            pass
        # files whose handle was lost (interrupted while starting) or that did not answer in
        # time: once the runner is closed nothing runs any more, so record them as cancelled
        runner.close()
        for record in unfinished.values():
            manifest.append({**record, "status": "cancelled", "error": "interrupted",
                             "finished_at": _now()})
        raise
    finally:
        bars.close()
    if fatal is not None:
        raise OptionError(fatal)

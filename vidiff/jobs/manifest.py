"""The batch manifest: one JSON line per input attempt, in the output folder, the single record.

Conventions
- File: ``OUTPUT_DIR/vidiff-batch.jsonl``. Each line is one JSON object (a *record*) about one
  input, keyed by ``input`` (the input's path relative to INPUT_DIR, ``/``-separated). The
  latest line for an input wins; at the end of a run the file is compacted to exactly one line
  per input (written to a temporary file and renamed into place).
- Only the parent process writes it: append, flush and ``fsync`` per record, so a power loss
  loses at most the line being written. A torn (unparsable) line is ignored when reading, and a
  torn tail is cut off before the next append.
- One batch at a time per output folder: the manifest is locked (``flock``) while a run holds
  it; a second run into the same folder is refused.
- A record's ``status`` is one of :data:`STATUSES`. ``size``, ``mtime_ns`` and ``options_hash``
  are the rerun key: a rerun skips an input whose key is unchanged and whose latest record is
  ``done`` (and whose output is still there) or ``invalid`` (the input itself was rejected, and
  would be again); it redoes everything else (``failed``, ``cancelled``, ``started``: a run that
  died mid-file).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..errors import OutputError

MANIFEST_NAME = "vidiff-batch.jsonl"

# started: submitted, no result yet (a run that died mid-file leaves this as the latest record);
# done: converted; failed: an error that may pass (redone on a rerun); invalid: the input itself
# was rejected (not a video, corrupt, too short): not retried until it changes; cancelled: stopped
# by Ctrl-C / SIGTERM.
STATUSES = ("started", "done", "failed", "invalid", "cancelled")


def options_hash(options: dict) -> str:
    """A short stable hash of the options that change an output (sorted JSON, sha256)."""
    text = json.dumps(options, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def same_key(record: dict | None, size: int, mtime_ns: int, opts_hash: str) -> bool:
    """True when ``record`` was made from this very input (size, mtime) with these options."""
    return (
        record is not None
        and record.get("size") == size
        and record.get("mtime_ns") == mtime_ns
        and record.get("options_hash") == opts_hash
    )


def read_records(path: Path) -> list[dict]:
    """All well-formed records in the file, in order; torn or foreign lines are skipped."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    records = []
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("input"), str):
            records.append(record)
    return records


def latest_records(records: list[dict]) -> dict[str, dict]:
    """The latest record per input, in first-seen order."""
    latest: dict[str, dict] = {}
    for record in records:
        latest[record["input"]] = record
    return latest


class Manifest:
    """The open, locked manifest of one output folder. Use as a context manager.

    ``latest`` maps each input (relative path) to its latest record. :meth:`append` adds a
    record durably; :meth:`close` compacts the file when anything was appended.
    """

    def __init__(self, folder: Path):
        self.path = Path(folder) / MANIFEST_NAME
        self._file = None
        self.appended = 0
        self.latest: dict[str, dict] = {}

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        try:
            self._file = open(self.path, "a+b")  # noqa: SIM115 (held open for the whole run)
        except OSError as exc:
            raise OutputError(f"cannot open the manifest {self.path}: {exc.strerror}") from None
        self._lock()
        self.latest = latest_records(read_records(self.path))
        self._cut_torn_tail()

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # not POSIX: no advisory locks, one run at a time is the user's job
            return
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._file.close()
            self._file = None
            raise OutputError(
                f"another vidiff batch is writing to {self.path.parent} (its manifest is "
                "locked): wait for it to finish or choose another output folder"
            ) from None

    def _cut_torn_tail(self) -> None:
        """A power loss can leave a last line without its newline: drop it before appending."""
        f = self._file
        f.seek(0, os.SEEK_END)
        end = f.tell()
        if end == 0:
            return
        f.seek(end - 1)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        keep = f.read().rfind(b"\n") + 1
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())

    def append(self, record: dict) -> None:
        """Write one record durably (flush + fsync) and make it the input's latest."""
        line = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
        self._file.seek(0, os.SEEK_END)
        self._file.write(line.encode())
        self._file.flush()
        os.fsync(self._file.fileno())
        self.latest[record["input"]] = record
        self.appended += 1

    def close(self) -> None:
        """Compact to one line per input (only if this run appended), then release the lock."""
        if self._file is None:
            return
        try:
            if self.appended:
                self._compact()
        finally:
            self._file.close()
            self._file = None

    def _compact(self) -> None:
        records = latest_records(read_records(self.path))
        temp = self.path.with_name(f".{self.path.name}.compact")
        with open(temp, "wb") as f:
            for record in records.values():
                f.write((json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, self.path)
        _fsync_dir(self.path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

"""An interrupted ``vidiff batch`` (SIGKILL or Ctrl-C mid-run) leaves no partial output, and the
same command run again completes with every output whole."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from media import read_frames_pyav, write_clip

from vidiff.jobs.batch import batch_convert
from vidiff.jobs.manifest import MANIFEST_NAME, read_records

ROOT = Path(__file__).resolve().parents[1]
FRAMES = 12
CLIPS = 4


def start_batch(src: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "vidiff", "batch", str(src), "-o", str(out), "--multi", "2",
           "--steps", "0", "-q", *extra]
    # Ctrl-C must reach the batch even when the tests run in a background job, where the shell
    # starts every process with SIGINT ignored (and Python then installs no handler for it)
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for_first_output(proc: subprocess.Popen, out: Path, timeout: float = 120) -> None:
    """Until one output is complete and another file is in progress (started, not finished)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = read_records(out / MANIFEST_NAME)
        started = [r["input"] for r in records if r["status"] == "started"]
        finished = [r["input"] for r in records if r["status"] != "started"]
        if any(out.glob("*.2x.mp4")) and finished and set(started) - set(finished):
            return
        if proc.poll() is not None:
            pytest.fail(f"batch ended before any output: {proc.communicate()[1].decode()[-2000:]}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail("no output appeared")


def make_clips(src: Path) -> None:
    src.mkdir()
    for i in range(CLIPS):
        write_clip(src / f"clip{i}.mp4", FRAMES, size=(96, 72))


def check_complete(src: Path, out: Path) -> None:
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([f"clip{i}.2x.mp4" for i in range(CLIPS)] + [MANIFEST_NAME])
    for i in range(CLIPS):
        assert len(read_frames_pyav(out / f"clip{i}.2x.mp4")) == 2 * FRAMES
    statuses = {r["input"]: r["status"] for r in read_records(out / MANIFEST_NAME)}
    assert statuses == {f"clip{i}.mp4": "done" for i in range(CLIPS)}


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigkill_midway_then_rerun_completes(tmp_path, jobs):
    src, out = tmp_path / "in", tmp_path / "out"
    make_clips(src)
    proc = start_batch(src, out, "--jobs", jobs)
    wait_for_first_output(proc, out)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(1.5)  # orphaned worker processes notice their parent is gone and stop
    records = read_records(out / MANIFEST_NAME)
    # normally some file was cut off mid-way ("started"); a kill that lands in the instant
    # between two files leaves only "done" records, and the rerun must cope with both
    assert {r["status"] for r in records} <= {"done", "started"}
    # whatever is in the output folder now is either a complete output or a hidden temporary
    for p in out.iterdir():
        if p.name.startswith(".") or p.name == MANIFEST_NAME:
            continue
        assert len(read_frames_pyav(p)) == 2 * FRAMES

    result = batch_convert(src, out, multi=2, steps=0)
    assert result.ok and result.count("done") + result.count("skipped") == CLIPS
    assert result.count("done") >= 1
    check_complete(src, out)


def test_ctrl_c_cancels_cleanly_then_rerun_completes(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    make_clips(src)
    proc = start_batch(src, out)
    wait_for_first_output(proc, out)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert "interrupted" in err.decode()
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporaries left
    statuses = [r["status"] for r in read_records(out / MANIFEST_NAME)]
    # The file in progress is recorded as cancelled; if the signal landed in the instant
    # between two files, there is none. Either way nothing is left "started".
    assert set(statuses) <= {"done", "cancelled"}, err.decode()

    result = batch_convert(src, out, multi=2, steps=0)
    assert result.ok and result.count("skipped") >= 1
    check_complete(src, out)


def children(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (read from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
@pytest.mark.parametrize("when", ["starting", "midway"])
def test_workers_exit_soon_after_their_parent_is_killed(tmp_path, when):
    """SIGKILL the batch while its worker processes start (importing torch) or mid-run: every
    worker is gone within seconds (they used to live on, idle, with parent PID 1)."""
    src, out = tmp_path / "in", tmp_path / "out"
    make_clips(src)
    proc = start_batch(src, out, "--jobs", "2")
    deadline = time.monotonic() + 120
    workers: list[int] = []
    while time.monotonic() < deadline and proc.poll() is None:
        # spawned workers (and multiprocessing's resource tracker) are the batch's children
        workers = children(proc.pid)
        if when == "starting" and workers:
            break
        if when == "midway" and workers and any(out.glob("*.2x.mp4")):
            break
        time.sleep(0.01)
    assert workers, "no worker process appeared"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    grace = time.monotonic() + 15
    while time.monotonic() < grace and any(alive(p) for p in workers):
        time.sleep(0.1)
    left = [p for p in workers if alive(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert not left, f"worker(s) {left} outlived their parent by 15 s"

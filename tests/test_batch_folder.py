"""``vidiff batch`` on folders: good and bad files, reruns, the manifest, and INPUT_DIR untouched."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from media import (
    pattern_frame,
    read_frames_pyav,
    truncate_file,
    write_audio_only,
    write_clip,
    write_image,
    write_random_bytes,
)

from vidiff.cli import main
from vidiff.errors import OptionError
from vidiff.jobs.batch import batch_convert
from vidiff.jobs.manifest import MANIFEST_NAME, read_records

# input -> frames; a one-frame video (or a still image named .mp4) is held for its duration
GOOD = {"good.mp4": 8, "sub/good.mkv": 6, "odd.mp4": 6, "one.mp4": 1, "png.mp4": 1}
BAD = ("zero.mp4", "random.mp4", "truncated.mp4", "audio.mp4")
FAST = dict(multi=2, steps=0)


def make_mixed_folder(root: Path) -> Path:
    """Three good clips (one odd-sized, one in a sub-folder), two one-frame files and four bad
    files named .mp4."""
    (root / "sub").mkdir(parents=True)
    write_clip(root / "good.mp4", 8)
    write_clip(root / "sub/good.mkv", 6, codec="ffv1")
    write_clip(root / "odd.mp4", 6, size=(63, 47))
    (root / "zero.mp4").write_bytes(b"")
    write_random_bytes(root / "random.mp4")
    write_clip(root / "whole.mp4", 10, codec="libx264")
    truncate_file(root / "whole.mp4", root / "truncated.mp4", 0.5)
    (root / "whole.mp4").unlink()
    write_image(root / "frame.png", pattern_frame(0))
    (root / "frame.png").rename(root / "png.mp4")
    write_audio_only(root / "audio.mp4")
    write_clip(root / "one.mp4", 1)
    (root / "notes.txt").write_text("not a video, not selected")
    return root


def snapshot(root: Path) -> dict:
    return {
        p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


def latest(out: Path) -> dict:
    return {r["input"]: r for r in read_records(out / MANIFEST_NAME)}


def test_mixed_folder_converts_good_reports_bad_and_rerun_does_nothing(tmp_path, capsys):
    src = make_mixed_folder(tmp_path / "in")
    out = tmp_path / "out"
    before = snapshot(src)

    code = main(["batch", str(src), "-o", str(out), "--multi", "2", "--steps", "0", "-r", "-q"])
    assert code == 1  # some inputs failed
    summary = capsys.readouterr().err
    assert "5 done, 0 skipped, 4 failed" in summary

    records = latest(out)
    assert sorted(records) == sorted([*GOOD, *BAD])  # notes.txt is not an input
    for rel, frames in GOOD.items():
        r = records[rel]
        assert r["status"] == "done" and r["error"] is None
        assert r["frames_in"] == frames and r["frames_out"] == 2 * frames
        output = out / r["output"]
        assert len(read_frames_pyav(output)) == 2 * frames
        assert r["size"] == (src / rel).stat().st_size
        assert r["mtime_ns"] == (src / rel).stat().st_mtime_ns
        assert r["options"]["multi"] == 2 and r["seconds"] > 0
    assert records["sub/good.mkv"]["output"] == "sub/good.2x.mkv"  # tree mirrored, name says 2x
    reasons = {
        "zero.mp4": "empty",
        "random.mp4": "not a video",
        "truncated.mp4": "not a video",
        "audio.mp4": "no video stream",
    }
    for rel, words in reasons.items():
        r = records[rel]
        assert r["status"] == "invalid", rel
        assert words in r["error"], (rel, r["error"])
        assert words in summary
        assert not (out / r["output"]).exists()
    outputs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert outputs == sorted(["good.2x.mp4", "odd.2x.mp4", "sub/good.2x.mkv", "one.2x.mp4",
                              "png.2x.mp4", MANIFEST_NAME])
    assert len(json.loads(json.dumps(records))) == 9
    lines = (out / MANIFEST_NAME).read_text().splitlines()
    assert len(lines) == 9  # compacted: one line per input

    manifest_before = (out / MANIFEST_NAME).read_bytes()
    outputs_before = snapshot(out)
    result = batch_convert(src, out, **FAST, recursive=True)
    assert result.count("done") == 0
    assert result.count("skipped") == 5
    assert result.count("failed") == 4 and all(e.earlier for e in result.entries if e.status == "failed")
    assert not result.ok
    assert (out / MANIFEST_NAME).read_bytes() == manifest_before  # nothing new recorded
    assert snapshot(out) == outputs_before
    assert snapshot(src) == before  # nothing ever written inside INPUT_DIR


def test_changed_or_failed_input_is_redone(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    write_clip(src / "a.mp4", 6)
    write_clip(src / "b.mp4", 6)
    (src / "c.mp4").write_bytes(b"")  # invalid until it changes
    out = tmp_path / "out"
    first = batch_convert(src, out, **FAST)
    assert [e.status for e in first.entries] == ["done", "done", "failed"]

    write_clip(src / "a.mp4", 10)  # new content: redone, its old output replaced
    write_clip(src / "c.mp4", 4)  # fixed: redone
    second = batch_convert(src, out, **FAST)
    assert {e.input: e.status for e in second.entries} == {
        "a.mp4": "done", "b.mp4": "skipped", "c.mp4": "done"
    }
    assert second.ok
    assert len(read_frames_pyav(out / "a.2x.mp4")) == 20
    assert len(read_frames_pyav(out / "c.2x.mp4")) == 8

    (out / "b.2x.mp4").unlink()  # an output that went missing is made again
    third = batch_convert(src, out, **FAST)
    assert {e.input: e.status for e in third.entries}["b.mp4"] == "done"

    other = batch_convert(src, out, fps=30, steps=0)  # other options: other outputs, all redone
    assert [e.status for e in other.entries] == ["done"] * 3
    assert (out / "a.30fps.mp4").is_file()


def test_pattern_selects_files_and_output_inside_input_is_refused(tmp_path):
    src = tmp_path / "in"
    (src / "deep").mkdir(parents=True)
    write_clip(src / "a.mp4", 4)
    write_clip(src / "deep/b.mkv", 4, codec="ffv1")
    write_clip(src / "deep/c.mp4", 4)
    result = batch_convert(src, tmp_path / "out", **FAST, recursive=True, pattern="*.mkv")
    assert [e.input for e in result.entries] == ["deep/b.mkv"]
    flat = batch_convert(src, tmp_path / "flat", **FAST)  # not recursive: top level only
    assert [e.input for e in flat.entries] == ["a.mp4"]
    for inside in (src, src / "deep" / "out"):
        with pytest.raises(OptionError, match="inside INPUT_DIR"):
            batch_convert(src, inside, **FAST)
    assert main(["batch", str(src), "-o", str(src / "x"), "--multi", "2"]) == 1
    assert not (src / "x").exists()


def test_jobs_2_matches_jobs_1(tmp_path):
    """Two worker processes give the same outputs: the same frame counts, the input frames
    exactly (lossless output; x264's lossy output varies with its thread count), and in-between
    frames equal up to the last bit or two (workers get fewer OpenCV/torch threads, which
    changes float rounding in the flow)."""
    src = tmp_path / "in"
    src.mkdir()
    for i, n in enumerate((6, 8)):
        write_clip(src / f"c{i}.mp4", n)
    lossless = dict(FAST, codec="libx264rgb", crf=0, pix_fmt="rgb24")
    one = batch_convert(src, tmp_path / "one", **lossless, jobs=1)
    two = batch_convert(src, tmp_path / "two", **lossless, jobs=2)
    assert one.ok and two.ok and two.count("done") == 2
    for e in one.entries:
        a = read_frames_pyav(tmp_path / "one" / e.output)
        b = read_frames_pyav(tmp_path / "two" / e.output)
        assert len(a) == len(b) == e.frames
        assert all((x == y).all() for x, y in zip(a[::2], b[::2], strict=True))
        for x, y in zip(a, b, strict=True):
            assert np.abs(x.astype(int) - y).mean() < 0.5


def test_stale_temps_removed_and_torn_manifest_line_ignored(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    write_clip(src / "a.mp4", 4)
    write_clip(src / "b.mp4", 4)
    out = tmp_path / "out"
    batch_convert(src, out, **FAST)
    manifest = out / MANIFEST_NAME
    records = read_records(manifest)
    # power loss: b's record was being rewritten when the machine died (torn last line), and a
    # killed worker left a temporary output behind
    kept = [json.dumps(r) for r in records if r["input"] == "a.mp4"]
    manifest.write_text("\n".join(kept) + "\n" + '{"input": "b.mp4", "status": "do')
    (out / ".b.2x.vidiff-tmp-abc123.mp4").write_bytes(b"partial")
    (out / "b.2x.mp4").unlink()
    result = batch_convert(src, out, **FAST)
    assert {e.input: e.status for e in result.entries} == {"a.mp4": "skipped", "b.mp4": "done"}
    assert result.removed_temps == 1
    assert not list(out.glob(".*vidiff-tmp*"))
    assert [r["status"] for r in read_records(manifest)] == ["done", "done"]


def test_existing_output_not_from_the_manifest_is_kept_unless_overwrite(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    write_clip(src / "a.mp4", 4)
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.2x.mp4").write_bytes(b"someone else's file")
    result = batch_convert(src, out, **FAST)
    assert result.entries[0].status == "failed" and "already exists" in result.entries[0].error
    assert (out / "a.2x.mp4").read_bytes() == b"someone else's file"
    result = batch_convert(src, out, **FAST, overwrite=True)
    assert result.ok and len(read_frames_pyav(out / "a.2x.mp4")) == 8


def test_dry_run_writes_nothing(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    write_clip(src / "a.mp4", 4)
    code = main(["batch", str(src), "-o", str(tmp_path / "out"), "--fps", "48", "--dry-run"])
    assert code == 0
    assert "to do  a.mp4  -> a.48fps.mp4" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    shutil.rmtree(src)

"""Training data: window sampling (shapes, masks, times, determinism), scene cuts, packs."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from media import pattern_frame, write_png_folder

from vidiff.errors import InputError
from vidiff.train import (
    DataConfig,
    Segment,
    WindowSampler,
    load_segments,
    pack_training_data,
    read_pack,
    write_pack,
)
from vidiff.train.batches import StepBatches
from vidiff.train.windows import batch_seed

CONFIG = DataConfig(frame_size=64, crop_size=32, window=5, max_unknown=3, max_spacing=4)


def clip(n=40, size=(48, 40), velocity=(1.5, 0.75)):
    return np.stack([pattern_frame(i, size, velocity) for i in range(n)])


def segment(n=40):
    return Segment(clip(n), np.arange(n, dtype=np.float64), "synthetic", 0)


def index_segment(n=60, size=(40, 48)):
    """Frame i is uniformly 4 * i: a window's pixels tell which source frames it took."""
    frames = (np.arange(n, dtype=np.uint8) * 4)[:, None, None, None] * np.ones(
        (1, *size, 3), np.uint8
    )
    return Segment(frames, np.arange(n, dtype=np.float64), "index", 0)


def positions(window):
    return window.frames[:, 0, 0, 0].astype(int) // 4


@pytest.mark.parametrize("task", ["interpolation", "prediction", "infill"])
def test_windows_have_shapes_masks_and_true_times(task):
    sampler = WindowSampler([index_segment()], CONFIG)
    for i in range(20):
        w = sampler.draw(batch_seed(0, i, 0), task=task)
        assert w.task == task
        assert w.frames.shape == (5, 32, 32, 3) and w.frames.dtype == np.uint8
        assert w.mask.shape == (5,) and w.mask.any() and not w.mask.all()
        assert w.times.dtype == np.float32 and np.all(np.diff(w.times) > 0)
        first_unknown = int(np.flatnonzero(~w.mask)[0])
        if first_unknown > 0:  # the known frame before the first unknown one is at time 0
            assert w.times[first_unknown - 1] == 0 and w.mask[first_unknown - 1]
        # times are the true relative times: source index differences over the known spacing
        pos = positions(w)
        steps = np.abs(pos - pos[0])
        known = steps[w.mask]
        spacing = known[1] - known[0] if len(known) > 1 else None
        if spacing and task != "infill":
            np.testing.assert_allclose(w.times - w.times[0], steps / spacing, rtol=1e-6)
        if task == "interpolation":
            unknown = w.times[~w.mask]
            assert 1 <= len(unknown) <= 3 and np.all((unknown > 0) & (unknown < 1))
            np.testing.assert_allclose(w.times[w.mask], np.round(w.times[w.mask]))
            assert np.all(np.diff(known) == spacing) and 2 <= spacing <= 4
        if task == "prediction":  # forwards, or backwards when the segment was reversed
            k = int((~w.mask).sum())
            if first_unknown > 0:
                assert not w.mask[first_unknown:].any()
                np.testing.assert_allclose(w.times[~w.mask], np.arange(1, 1 + k))
            else:
                assert w.mask[k:].all()
                np.testing.assert_allclose(w.times[~w.mask], np.arange(-k, 0))


def test_spacings_tasks_and_directions_vary():
    sampler = WindowSampler([index_segment()], CONFIG)
    spacings, directions, tasks = set(), set(), set()
    for i in range(80):
        w = sampler.draw(batch_seed(1, i, 0))
        pos = positions(w)
        spacings.add(int(abs(pos[1] - pos[0])) if w.task != "interpolation" else None)
        directions.add(bool(pos[1] > pos[0]))
        tasks.add(w.task)
    assert spacings - {None} == {1, 2, 3, 4}
    assert directions == {True, False}  # time reversal
    assert tasks == {"interpolation", "prediction", "infill"}


def test_batches_are_a_function_of_seed_step_and_rank():
    a = StepBatches(WindowSampler([segment()], CONFIG), seed=3, batch_size=2)
    b = StepBatches(WindowSampler([segment()], CONFIG), seed=3, batch_size=2)
    other_rank = StepBatches(WindowSampler([segment()], CONFIG), seed=3, batch_size=2, rank=1)
    x, y = a[7], b[7]
    assert set(x) >= {"target", "frames", "mask", "mu", "times"}
    assert x["target"].shape == (2, 3, 5, 32, 32) and x["mu"].shape == (2, 3, 5, 32, 32)
    for key in x:
        assert torch.equal(x[key], y[key])
    assert not torch.equal(a[8]["target"], x["target"])
    assert not torch.equal(other_rank[7]["target"], x["target"])
    known = x["mask"][:, None, :, None, None]
    assert torch.equal(x["frames"], x["target"] * known)
    assert torch.equal(torch.where(known, x["mu"], 0), x["frames"])


def two_scene_folder(root, n_a=20, n_b=20):
    """Frames 0..n_a-1 show one scene, the rest a different one (a cut at index n_a)."""
    a = [pattern_frame(i, (48, 40)) for i in range(n_a)]
    dark_red = np.array([0.25, 0.12, 0.12])
    b = [
        (pattern_frame(i, (48, 40), (-1.0, 0.5)) * dark_red + [40, 0, 0]).astype(np.uint8)
        for i in range(n_b)
    ]
    return write_png_folder(root, a + b), a + b


def test_segments_never_cross_a_scene_cut(tmp_path):
    folder, frames = two_scene_folder(tmp_path / "cut")
    segments = load_segments(
        [folder],
        frame_size=64,
        segment_frames=12,
        min_frames=8,
        cut_threshold=0.15,
        max_bytes=1e9,
        log=lambda s: None,
    )
    assert segments
    for seg in segments:
        start, stop = seg.first_index, seg.first_index + len(seg)
        assert stop <= 20 or start >= 20, (start, stop)
        np.testing.assert_array_equal(seg.frames, np.stack(frames[start:stop]))
    # 20 frames per scene -> one 12-frame segment and one 8-frame tail in each
    assert sorted((s.first_index, len(s)) for s in segments) == [
        (0, 12),
        (12, 8),
        (20, 12),
        (32, 8),
    ]


def test_pack_round_trip_and_budget(tmp_path):
    folder, frames = two_scene_folder(tmp_path / "cut")
    pack = tmp_path / "train.npz"
    summary = pack_training_data(
        [folder], pack, frame_size=32, segment_frames=12, min_frames=8, log=lambda s: None
    )
    direct = load_segments(
        [folder],
        frame_size=32,
        segment_frames=12,
        min_frames=8,
        cut_threshold=0.15,
        max_bytes=1e9,
        log=lambda s: None,
    )
    packed = read_pack(pack)
    assert summary.segments == len(packed) == len(direct) == 4
    for p, d in zip(packed, direct):
        assert p.frames.shape[1:] == (32, 38, 3)  # short side 40 -> 32
        np.testing.assert_array_equal(p.frames, d.frames)
        np.testing.assert_array_equal(p.times, d.times)
        assert (p.source, p.first_index) == (d.source, d.first_index)
    # a small budget keeps fewer, evenly spread segments and about that many bytes
    budget = summary.file_bytes / 2.5 / 1e6
    small = pack_training_data(
        [folder],
        tmp_path / "small.npz",
        frame_size=32,
        segment_frames=12,
        min_frames=8,
        max_mb=budget,
        log=lambda s: None,
    )
    assert 8 <= small.frames < summary.frames and small.file_bytes < 1.5 * budget * 1e6
    # packs are read as training data like any other source
    again = load_segments(
        [pack],
        frame_size=32,
        segment_frames=12,
        min_frames=8,
        cut_threshold=0.15,
        max_bytes=1e9,
        log=lambda s: None,
    )
    assert len(again) == 4


def test_evaluation_sets_are_refused(tmp_path):
    folder = write_png_folder(tmp_path / "middlebury" / "Venus", 3)
    with pytest.raises(InputError, match="evaluation set"):
        load_segments(
            [folder],
            frame_size=64,
            segment_frames=12,
            min_frames=2,
            cut_threshold=0.15,
            max_bytes=1e9,
            log=lambda s: None,
        )
    with pytest.raises(InputError, match="evaluation set"):
        pack_training_data([tmp_path / "middlebury"], tmp_path / "x.npz", log=lambda s: None)
    seg = Segment(clip(10), np.arange(10.0), "ucf101_0001", 0)
    write_pack([seg], tmp_path / "sneaky.npz")
    with pytest.raises(InputError, match="evaluation set"):
        load_segments(
            [tmp_path / "sneaky.npz"],
            frame_size=64,
            segment_frames=12,
            min_frames=2,
            cut_threshold=0.15,
            max_bytes=1e9,
            log=lambda s: None,
        )


def test_not_a_pack_and_too_small_data(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(InputError, match="not a vidiff training pack"):
        read_pack(tmp_path / "other.npz")
    with pytest.raises(InputError, match="crop_size"):
        WindowSampler([Segment(clip(40, size=(24, 24)), np.arange(40.0), "s", 0)], CONFIG)
    with pytest.raises(InputError, match="window"):
        WindowSampler([Segment(clip(6), np.arange(6.0), "s", 0)], CONFIG)


def test_training_from_a_pack_needs_no_pyav(tmp_path):
    """Guards the GPU machine case: no PyAV installed, data from a pack."""
    write_pack([segment()], tmp_path / "p.npz")
    code = (
        "import sys; sys.modules['av'] = None\n"
        "from pathlib import Path\n"
        "from vidiff.train import load_segments, WindowSampler, DataConfig\n"
        "from vidiff.train.batches import StepBatches\n"
        f"segs = load_segments([Path({str(tmp_path / 'p.npz')!r})], frame_size=64, segment_frames=24,"
        " min_frames=8, cut_threshold=0.15, max_bytes=1e9, log=lambda s: None)\n"
        "cfg = DataConfig(frame_size=64, crop_size=32, window=4, max_unknown=2)\n"
        "b = StepBatches(WindowSampler(segs, cfg), 0, 2)[0]\n"
        "assert 'av' not in sys.modules or sys.modules['av'] is None\n"
        "print(tuple(b['mu'].shape))\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "(2, 3, 4, 32, 32)" in result.stdout


def test_pack_tool_command_line(tmp_path, capsys):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "tools" / "pack_training_data.py"
    spec = importlib.util.spec_from_file_location("pack_tool", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    folder = write_png_folder(tmp_path / "seq", 12)
    out = tmp_path / "p.npz"
    assert tool.main([str(folder), "--out", str(out), "--segment-frames", "12"]) == 0
    assert len(read_pack(out)) == 1
    assert tool.main([str(folder), "--out", str(out)]) == 1  # exists
    assert "exists" in capsys.readouterr().err
    assert tool.main([str(tmp_path / "ucf101"), "--out", str(tmp_path / "q.npz")]) == 1
    assert "evaluation set" in capsys.readouterr().err

"""The footage pack maker: the flows, the slow part, are made only for pairs that can give a crop,
and what it stores is what the plain per-triplet recipe (flows, mu, crops, whole-frame numbers)
gives, to the bit."""

import cv2
import numpy as np
import pytest

from vidiff.errors import InputError
from vidiff.motion import FlowMotion
from vidiff.train.triplets import (
    TripletWriter,
    add_segment_triplets,
    choose_crops,
    estimate_and_stats,
    estimate_from_flows,
    full_flow_candidates,
    read_triplets,
    triplet_plan,
    whole_frame_stats,
)


def half_still_clip(n=10, moving_from=5):
    """A textured square over a textured background: still for the first frames, then moving."""
    rng = np.random.default_rng(5)
    base = cv2.GaussianBlur(rng.random((96, 220, 3)).astype(np.float32), (0, 0), 1.5)
    frames = []
    for i in range(n):
        shift = 5 * max(0, i - moving_from + 1)
        frame = base[:, :160].copy()
        frame[20:76, 16 + shift : 72 + shift] = base[20:76, 160:216]
        frames.append((frame * 255).round().astype(np.uint8))
    return np.stack(frames)


class CountingMotion(FlowMotion):
    def __init__(self):
        super().__init__()
        self.pairs = 0

    def full_flow_candidates(self, frame0, frame1):
        self.pairs += 1
        return super().full_flow_candidates(frame0, frame1)


def reference_pack(frames, spacings, crop, seed):
    """The recipe without the shortcut: flows for every pair, then the crops."""
    rng, motion, samples = np.random.default_rng(seed), FlowMotion(), []
    for i0, it, i1 in triplet_plan(len(frames), spacings, rng):
        t = (it - i0) / (i1 - i0)
        f0, gt, f1 = frames[i0], frames[it], frames[i1]
        flows, alt = full_flow_candidates(motion, f0, f1)
        mu = estimate_from_flows(f0, f1, flows, t)
        for y, x in choose_crops(f0, gt, f1, mu, crop, rng):
            samples.append((np.stack([f0, gt, f1])[:, y : y + crop, x : x + crop],
                            flows[:, y : y + crop, x : x + crop], t,
                            whole_frame_stats(f0, f1, flows, t)))
    return samples


def test_footage_triplets_skip_the_flows_of_still_pairs_and_store_the_same_samples(tmp_path):
    frames, spacings, crop = half_still_clip(), (2, 3), 48
    motion = CountingMotion()
    writer = TripletWriter(tmp_path / "pack", crop)
    added = add_segment_triplets(writer, motion, frames, np.arange(len(frames), dtype=np.float64),
                                 "clip", False, spacings, crop, np.random.default_rng(2))
    pack = read_triplets(writer.close())
    pairs = len(list(triplet_plan(len(frames), spacings, np.random.default_rng(0))))
    assert 0 < motion.pairs < pairs  # the still pairs were never sent to the flow
    expected = reference_pack(frames, spacings, crop, seed=2)
    assert added == len(pack) == len(expected) > 0
    for i, (crops, flows, t, stats) in enumerate(expected):
        assert np.array_equal(pack.frames[i], crops)
        assert np.array_equal(pack.flows[i], flows.astype(np.float16))
        assert pack.times[i] == np.float32(t)
        assert np.array_equal(pack.frame_stats[i], stats.astype(np.float32))


def test_estimate_and_stats_equal_the_two_functions_it_replaces():
    frames = half_still_clip(n=8)
    flows, _ = full_flow_candidates(FlowMotion(), frames[4], frames[7])
    for t in (1 / 3, 0.5, 0.9):
        mu, stats = estimate_and_stats(frames[4], frames[7], flows, t)
        assert np.array_equal(mu, estimate_from_flows(frames[4], frames[7], flows, t))
        assert np.array_equal(stats, whole_frame_stats(frames[4], frames[7], flows, t))
    with pytest.raises(ValueError, match="inside"):
        estimate_and_stats(frames[4], frames[7], flows, 1.5)


def random_samples(n, crop=16, seed=0):
    rng = np.random.default_rng(seed)
    for i in range(n):
        yield (f"src{i % 3}", rng.integers(0, 256, (3, crop, crop, 3), dtype=np.uint8),
               rng.normal(0, 4, (4, crop, crop)).astype(np.float32), float(rng.uniform(0.1, 0.9)),
               bool(i % 4 == 0), rng.random(3), rng.normal(0, 4, (4, crop, crop)))


def test_the_writer_streams_samples_to_disk_and_writes_what_np_save_of_the_stack_would(tmp_path):
    import tracemalloc

    samples = list(random_samples(40, crop=64))
    tracemalloc.start()
    with TripletWriter(tmp_path / "pack", 64, {"kind": "test"}) as writer:
        for source, frames, flows, t, held, stats, alt in samples:
            writer.add(source, frames, flows, t, held, stats, alt_flows=alt)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out = writer.close()
    one = samples[0][1].nbytes + samples[0][2].nbytes // 2 + samples[0][6].nbytes // 4
    assert peak < 8 * one < len(samples) * one  # a few samples' worth, not the pack's
    assert out == tmp_path / "pack" and sorted(p.name for p in tmp_path.iterdir()) == ["pack"]
    names = sorted({s[0] for s in samples}, key=[s[0] for s in samples].index)
    expected = {
        "frames": np.stack([s[1] for s in samples]),
        "flows": np.stack([s[2] for s in samples]).astype(np.float16),
        "times": np.array([s[3] for s in samples], np.float32),
        "holdout": np.array([s[4] for s in samples]),
        "sources": np.array([names.index(s[0]) for s in samples], np.int32),
        "frame_stats": np.stack([s[5] for s in samples]).astype(np.float32),
        "alt_flows": np.stack([s[6] for s in samples]).astype(np.float16),
    }
    for name, array in expected.items():
        np.save(tmp_path / f"{name}.npy", array)
        assert (out / f"{name}.npy").read_bytes() == (tmp_path / f"{name}.npy").read_bytes(), name
    assert not (out / "true_flows.npy").exists()
    pack = read_triplets(out)
    assert pack.names == names and len(pack) == len(samples)


def test_a_failed_build_leaves_nothing_and_a_refused_sample_leaves_the_pack_as_it_was(tmp_path):
    samples = list(random_samples(3))
    with pytest.raises(RuntimeError, match="interrupted"):
        with TripletWriter(tmp_path / "pack", 16) as writer:
            writer.add(*samples[0][:5])
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []  # no pack, no temporary folder

    with TripletWriter(tmp_path / "pack", 16) as writer:
        writer.add(*samples[0][:5])
        with pytest.raises(ValueError, match="flows has shape"):
            writer.add(samples[1][0], samples[1][1], samples[1][2][:, :8], *samples[1][3:5])
        with pytest.raises(ValueError, match="every sample or for none"):
            writer.add(*samples[1][:6])
        writer.add(*samples[2][:5])
        pack = read_triplets(writer.close())
    assert len(pack) == 2 and np.array_equal(pack.frames[1], samples[2][1])
    assert pack.sources.tolist() == [0, 1] and pack.names == ["src0", "src2"]
    with pytest.raises(InputError, match="no triplet samples"):
        with TripletWriter(tmp_path / "empty", 16) as writer:
            writer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pack"]

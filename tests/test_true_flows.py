"""The synthetic scenes' true motion: exact flows to t, carried through packs, augmentation and
training batches, and a loss that teaches the refiner's flows from them."""

import json

import cv2
import numpy as np
import pytest
import torch

from vidiff.motion.warp import backward_warp
from vidiff.train.synthetic import Motion, Scene, random_layer, random_scene


def texture(rng, h=200, w=260):
    return cv2.GaussianBlur((rng.random((h, w, 3)) * 255).astype(np.uint8), (0, 0), 2.0)


def warp_error(frames: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """Mean absolute error (0..255) of each input warped onto the target by the true flows,
    over the points known on that side, and the share of points known on both sides."""
    img = torch.from_numpy(np.array(frames)).permute(0, 3, 1, 2).float()
    flows = torch.from_numpy(np.nan_to_num(truth))[None]
    errs = []
    for side in (0, 1):
        warped = backward_warp(img[2 * side : 2 * side + 1], flows[:, 2 * side : 2 * side + 2])[0]
        known = torch.from_numpy(np.isfinite(truth[2 * side]))
        errs.append(float((warped - img[1]).abs().mean(0)[known].mean()))
    return errs[0], errs[1], float(np.isfinite(truth).all(0).mean())


def test_a_panning_background_has_the_flows_of_its_velocity():
    rng = np.random.default_rng(0)
    scene = Scene(texture(rng), Motion((130.0, 100.0), (6.0, -3.0), 1.0, 0.0, 0.0), [], 64)
    truth = scene.flows_to(0.25)
    # a point seen at t = 0.25 was t * v ahead in frame0 and (1 - t) * v behind in frame1
    assert np.nanmax(np.abs(truth[0] - 1.5)) < 1e-4 and np.nanmax(np.abs(truth[1] + 0.75)) < 1e-4
    assert np.nanmax(np.abs(truth[2] + 4.5)) < 1e-4 and np.nanmax(np.abs(truth[3] - 2.25)) < 1e-4
    # unknown exactly where the point lies outside that frame
    assert np.isnan(truth[0][:, -1]).all() and np.isfinite(truth[0][1:, :-2]).all()
    assert np.isnan(truth[2][:, :4]).all() and np.isfinite(truth[2][3:-3, 5:]).all()


def test_true_flows_warp_each_input_onto_the_target_where_the_point_is_seen():
    rng = np.random.default_rng(1)
    photos = [(f"p{i}", texture(rng)) for i in range(3)]
    for _ in range(6):
        scene, _ = random_scene(photos, rng, 64)
        t = float(rng.uniform(0.2, 0.8))
        frames = np.stack([scene.render(tau) for tau in (0.0, t, 1.0)])
        truth = scene.flows_to(t)
        e0, e1, known = warp_error(frames, truth)
        assert e0 < 2.0 and e1 < 2.0 and known > 0.3, (e0, e1, known)
    # an object moving over the background hides points of it: those are unknown, not wrong
    rng = np.random.default_rng(2)
    layer = random_layer(rng, texture(rng), 64)
    scene = Scene(texture(rng), Motion((130.0, 100.0), (0.0, 0.0), 1.0, 0.0, 0.0), [layer], 64)
    frames = np.stack([scene.render(tau) for tau in (0.0, 0.5, 1.0)])
    truth = scene.flows_to(0.5)
    assert warp_error(frames, truth)[:2] < (2.0, 2.0)
    swept = np.abs(frames[0].astype(int) - frames[2].astype(int)).sum(2) > 30
    assert np.isnan(truth[0][swept]).any() or np.isnan(truth[2][swept]).any()


def test_augmentation_carries_the_true_flows_with_the_frames():
    from vidiff.train.augment import augment

    rng = np.random.default_rng(3)
    photos = [(f"p{i}", texture(rng)) for i in range(3)]
    scene, _ = random_scene(photos, rng, 48)
    frames = np.stack([scene.render(tau) for tau in (0.0, 0.3, 1.0)])
    truth = scene.flows_to(0.3)
    dis = np.zeros((4, 48, 48), np.float32)
    base = warp_error(frames, truth)
    times = set()
    for seed in range(12):
        fr, both, t = augment(frames, np.concatenate([dis, truth]), 0.3, np.random.default_rng(seed))
        assert both.shape == (8, 48, 48)
        times.add(round(t, 3))
        after = warp_error(fr, both[4:])
        assert after[0] < base[0] + 0.5 or after[0] < base[1] + 0.5  # sides may swap
        assert after[2] == pytest.approx(base[2])
    assert times == {0.3, 0.7}  # time reversal happened, and swapped the sides consistently
    with pytest.raises(ValueError):
        augment(frames, np.zeros((6, 48, 48), np.float32), 0.3, rng)


def test_still_scenes_know_their_flows():
    from vidiff.train.augment import still_scene

    rng = np.random.default_rng(4)
    frame = np.full((48, 64, 3), 40, np.uint8)
    _, _, _, truth = still_scene(frame, rng)
    assert truth.shape == (4, 48, 64) and np.array_equal(truth, np.zeros_like(truth))
    source = texture(rng, 64, 64)
    frames, _, t, truth = still_scene(frame, rng, layer_source=source)
    assert np.isfinite(truth).mean() > 0.5 and np.nanmax(np.abs(truth)) > 0  # the object moves
    assert (np.nan_to_num(truth) == 0).mean() > 0.3  # the background does not


@pytest.fixture
def photo_pack(tmp_path):
    from vidiff.train.synthetic import make_photo_triplets

    rng = np.random.default_rng(5)
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"p{i}.png"), texture(rng, 300, 400))
    return make_photo_triplets([folder], tmp_path / "pack", samples=20, crop=48, log=lambda _: None)


def test_photo_packs_store_the_true_flows_and_batches_carry_them(photo_pack, tmp_path):
    from vidiff.train.refine_sampler import Sampler
    from vidiff.train.retime import retime_triplets
    from vidiff.train.triplets import filter_triplets, read_triplets

    pack = read_triplets(photo_pack)
    assert pack.true_flows.shape == (20, 4, 48, 48) and pack.true_flows.dtype == np.float16
    for i in range(3):
        truth = np.asarray(pack.true_flows[i], np.float32)
        assert warp_error(np.asarray(pack.frames[i]), truth)[0] < 2.5
    filter_triplets(photo_pack, tmp_path / "kept", lambda f: True)
    assert np.array_equal(read_triplets(tmp_path / "kept").true_flows, pack.true_flows,
                          equal_nan=True)
    retime_triplets(photo_pack, tmp_path / "retimed", log=lambda _: None)
    assert read_triplets(tmp_path / "retimed").true_flows is None  # wrong at another time

    class Footage:  # a pack that does not know its true flows
        frames = np.asarray(pack.frames)
        flows = np.asarray(pack.flows)
        times = np.asarray(pack.times)
        holdout = np.asarray(pack.holdout)

    sampler = Sampler([pack, Footage()], (1.0, 1.0), 32)
    batch = sampler.batch(np.random.default_rng(0), 16)
    assert batch["true_flows"].shape == (16, 4, 32, 32)
    known = torch.isfinite(batch["true_flows"]).flatten(1).any(1)
    assert 0 < known.sum() < 16  # the photos' samples know theirs, the footage's do not
    evals = next(sampler.eval_batches(0, 4))
    assert torch.isfinite(evals["true_flows"]).any()


def test_the_flow_error_counts_known_points_only():
    from vidiff.train.refine_loop import flow_error

    truth = torch.full((2, 4, 8, 8), float("nan"))
    truth[0, :, :4] = 1.0
    res = {"flow_t0": torch.ones(2, 2, 8, 8), "flow_t1": torch.ones(2, 2, 8, 8)}
    assert float(flow_error(res, truth, eps=0.0)) == 0.0
    res["flow_t1"] = res["flow_t1"] + torch.tensor([3.0, 4.0]).view(1, 2, 1, 1)
    assert float(flow_error(res, truth, eps=0.0)) == pytest.approx(2.5)  # half the points off by 5
    nothing = torch.full_like(truth, float("nan"))
    flow = torch.zeros(2, 2, 8, 8, requires_grad=True)
    loss = flow_error({"flow_t0": flow, "flow_t1": flow}, nothing)
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.isfinite(flow.grad).all()


def test_a_flow_loss_moves_the_refined_flows_towards_the_truth(photo_pack, tmp_path):
    from vidiff.model import load_refiner
    from vidiff.train.refine_loop import train_refiner

    config = tmp_path / "flows.toml"
    common = ("[refiner]\nchannels = [8, 16, 16]\nflow_gain = true\n[train]\nsteps = 60\n"
              "batch_size = 4\ncrop = 48\nlr = 3e-3\nwarmup_steps = 2\nlog_interval = 20\n"
              "checkpoint_interval = 60\neval_interval = 60\nloss = \"log_mse\"\n")
    config.write_text(common + "flow_loss = 1.0\n")
    train_refiner(config, [photo_pack], tmp_path / "run", log=lambda _: None)
    last = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    ev = last["eval"]["pack0"]
    assert ev["flow_epe"] < ev["flow_epe_mu"]  # the held-out flows got closer to the truth
    assert load_refiner(tmp_path / "run" / "ema.safetensors").config.flow_gain
    bad = tmp_path / "bad.toml"
    bad.write_text(common + "flow_loss = -1\n")
    from vidiff.errors import OptionError
    from vidiff.train.refine_loop import load_refiner_config

    with pytest.raises(OptionError, match="flow_loss"):
        load_refiner_config(bad)


def test_the_probe_reports_the_flow_errors_and_fits_a_correction(photo_pack, tmp_path):
    import re
    import subprocess
    import sys
    from pathlib import Path

    from vidiff.train.retime import retime_triplets

    tool = Path(__file__).resolve().parents[1] / "tools" / "probe_true_flows.py"
    run = subprocess.run([sys.executable, str(tool), str(photo_pack), "--fit", "3",
                          "--cost-radius", "1"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    shares = [float(x) for x in re.findall(r"px: +(\d+\.\d)% of points", run.stdout)]
    assert len(shares) == 5 and sum(shares) == pytest.approx(100, abs=0.3)
    assert re.search(r"step 0: all (\d+\.\d+) \(DIS \1\)", run.stdout)  # starts as the flows
    assert "step 3:" in run.stdout
    run = subprocess.run([sys.executable, str(tool), str(photo_pack), "--fit", "2", "--scale", "2",
                          "--cost-radius", "2", "--band", "16"], capture_output=True, text=True)
    assert run.returncode == 0 and "step 2:" in run.stdout, run.stderr  # a coarse search
    retime_triplets(photo_pack, tmp_path / "plain", log=lambda _: None)  # no true flows
    run = subprocess.run([sys.executable, str(tool), str(tmp_path / "plain")],
                         capture_output=True, text=True)
    assert run.returncode == 1 and "no true_flows.npy" in run.stderr and "Traceback" not in run.stderr

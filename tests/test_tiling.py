"""Big frames in tiles (vidiff.model.tiling, .memory): tiled runs match untiled ones, show no
seams, and plan within the memory budget."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vidiff.errors import OptionError
from vidiff.model import Cond, Denoiser, ModelConfig, RefinedMotion, Refiner, RefinerConfig, sample
from vidiff.model.memory import COSTS, FIXED, Budget, plan_for
from vidiff.model.tiling import plan_tiles, run_tiled, tile_weight

ROOT = Path(__file__).resolve().parents[1]


def perturbed_refiner(seed: int = 0, config: RefinerConfig | None = None) -> Refiner:
    """A refiner whose output differs from the motion estimate (the shipped head is zero)."""
    torch.manual_seed(seed)
    refiner = Refiner(config).eval()
    with torch.no_grad():
        for p in refiner.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        torch.nn.init.normal_(refiner.head.weight, std=0.05)
    return refiner


def smooth_pair(h: int, w: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    f0 = torch.nn.functional.avg_pool2d(torch.rand(1, 3, h, w, generator=g), 5, 1, 2)
    return f0, f0.roll(3, -1), torch.randn(1, 2, h, w, generator=g) * 2


def psnr(a, b) -> float:
    return 10 * math.log10(1 / max((a - b).square().mean().item(), 1e-20))


def seam_mask(plan, h: int, w: int, width: int = 2) -> torch.Tensor:
    """True on lines ``width`` px either side of every tile edge inside the frame."""
    mask = torch.zeros(h, w, dtype=torch.bool)
    for t in plan.tiles:
        for y in (t.y, t.y + t.h):
            if 0 < y < h:
                mask[max(0, y - width) : y + width, t.x : t.x + t.w] = True
        for x in (t.x, t.x + t.w):
            if 0 < x < w:
                mask[t.y : t.y + t.h, max(0, x - width) : x + width] = True
    return mask


def assert_no_seam(err: torch.Tensor, plan, limit: float) -> None:
    """Error along tile borders is no larger than elsewhere (and small everywhere)."""
    err = err.abs().amax(dim=tuple(range(err.ndim - 2)))
    mask = seam_mask(plan, *err.shape)
    on, off = err[mask].mean().item(), err[~mask].mean().item()
    assert on <= 2 * off + 1e-5, f"seam: mean error {on:.2e} on tile borders, {off:.2e} elsewhere"
    assert err.max().item() < limit


@pytest.mark.parametrize("h,w,tile,multiple", [(100, 130, 48, 8), (257, 300, 128, 64), (64, 64, 64, 8)])
def test_plan_covers_frame_with_a_partition_of_unity(h, w, tile, multiple):
    plan = plan_tiles(h, w, tile, tile, overlap=24 if multiple == 8 else 64, margin=4,
                      multiple=multiple)
    total = torch.zeros(h, w, dtype=torch.float64)
    for t in plan.tiles:
        assert t.y % multiple == 0 and t.x % multiple == 0
        assert t.h <= max(tile, h) and t.w <= max(tile, w) and t.y + t.h <= h and t.x + t.w <= w
        total[t.y : t.y + t.h, t.x : t.x + t.w] += tile_weight(plan, t)
    assert torch.allclose(total, torch.ones_like(total))
    x = torch.rand(2, 3, h, w)
    assert torch.allclose(run_tiled(lambda _, c: c * 2, [x], plan), x * 2, atol=1e-6)


def test_tiled_refiner_matches_untiled_without_seams():
    refiner = perturbed_refiner()
    f0, f1, flow = smooth_pair(200, 264)
    plan = plan_tiles(200, 264, 96, 112, overlap=64, margin=16)
    assert len(plan.tiles) >= 6
    with torch.inference_mode():
        whole = refiner(f0, f1, flow, -flow, 0.4)
        tiled = refiner(f0, f1, flow, -flow, 0.4, plan=plan)["frame"]
    assert psnr(whole["frame"], whole["mu"]) < 40  # the refiner really changes the estimate
    assert psnr(tiled, whole["frame"]) > 70
    assert_no_seam(tiled - whole["frame"], plan, limit=1 / 255 / 4)


def test_seam_check_catches_tiles_without_overlap():
    """The test above can fail: butted tiles (no overlap) leave a line of error."""
    refiner = perturbed_refiner()
    f0, f1, flow = smooth_pair(128, 128)
    plan = plan_tiles(128, 128, 64, 64, overlap=0, margin=0)
    with torch.inference_mode():
        whole = refiner(f0, f1, flow, -flow, 0.5)["frame"]
        tiled = refiner(f0, f1, flow, -flow, 0.5, plan=plan)["frame"]
    with pytest.raises(AssertionError):
        assert_no_seam(tiled - whole, plan, limit=1.0)


def test_tiled_diffusion_matches_untiled():
    """The U-Net's GroupNorms see a tile's statistics, so agreement is close, not exact."""
    torch.manual_seed(0)
    denoiser = Denoiser(ModelConfig.tiny()).eval()
    torch.nn.init.normal_(denoiser.net.head.weight, std=0.05)
    f0, f1, _ = smooth_pair(96, 160)
    frames = torch.stack([f0, (f0 + f1) / 2, f1], 2)
    cond = Cond(frames, torch.tensor([[True, False, True]]), frames,
                torch.tensor([[0.0, 0.5, 1.0]]))
    plan = plan_tiles(96, 160, 64, 96, overlap=32, margin=8, multiple=8)
    assert len(plan.tiles) >= 4
    with torch.inference_mode():
        runs = [sample(denoiser, cond, steps=2, generator=torch.Generator().manual_seed(3), plan=p)
                for p in (None, plan)]
    whole, tiled = (r[:, :, 1] for r in runs)
    assert psnr(whole, frames[:, :, 1]) < 50  # the model changes mu
    assert psnr(tiled, whole) > 40
    assert_no_seam(tiled - whole, plan, limit=0.05)


def test_refined_motion_under_a_budget_plans_tiles_that_fit():
    h, w = 480, 640
    budget = FIXED + COSTS["refiner_frame"] * h * w + COSTS["refiner_tile"] * 256 * 256
    plan = plan_for("refiner", h, w, 1, budget)
    assert len(plan.tiles) > 1
    need = FIXED + COSTS["refiner_frame"] * h * w + COSTS["refiner_tile"] * plan.tile_pixels
    assert need <= budget
    refiner = perturbed_refiner()
    f0, f1, _ = smooth_pair(h // 4, w // 4)
    small = 6 * 2**20 + FIXED + COSTS["refiner_frame"] * h * w // 16
    whole = RefinedMotion(refiner).estimate(f0, f1, [0.5])
    tiled = RefinedMotion(refiner, max_memory=Budget(small)).estimate(f0, f1, [0.5])
    assert psnr(tiled, whole) > 70


def test_a_deeper_refiner_tiles_on_its_own_grid_and_margins():
    """A 5-level refiner (factor 16, twice the receptive field) gets tiles on a 16 px grid with
    twice the margins, and tiled still matches untiled."""
    deep = perturbed_refiner(config=RefinerConfig(channels=(8, 8, 16, 16, 32)))
    assert deep.config.factor == 16
    h, w = 240, 400
    f0, f1, _ = smooth_pair(h, w)
    small = FIXED + COSTS["refiner_frame"] * h * w + COSTS["refiner_tile"] * 208 * 208
    plan = plan_for("refiner", h, w, 1, small, factor=16)
    assert len(plan.tiles) > 1 and plan.margin == 32 and plan.overlap == 128
    assert all(t.x % 16 == 0 and t.y % 16 == 0 for t in plan.tiles)
    whole = RefinedMotion(deep).estimate(f0, f1, [0.5])
    tiled = RefinedMotion(deep, max_memory=Budget(small)).estimate(f0, f1, [0.5])
    assert psnr(tiled, whole) > 70


def test_budgets_too_small_are_one_line_errors_unless_a_default():
    with pytest.raises(OptionError, match=r"--max-memory 64M is too small .* needs at least"):
        plan_for("refiner", 2160, 3840, 1, 64 * 2**20)
    plan = plan_for("refiner", 2160, 3840, 1, Budget(64 * 2**20, strict=False))
    assert len(plan.tiles) > 1  # a default that cannot be met still runs, in small tiles
    assert plan_for("denoiser", 720, 1280, 3, None).single


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_measured_peak_of_a_tiled_refiner_stays_under_the_budget():
    """Peak resident memory of a tiled refiner run (a fresh process) against the budget."""
    h, w = 512, 768
    budget = FIXED + COSTS["refiner_frame"] * h * w + COSTS["refiner_tile"] * 192 * 192
    assert not plan_for("refiner", h, w, 1, budget).single
    code = f"""
import json, sys, torch
sys.path.insert(0, {str(ROOT / 'tools')!r})
from measure_memory import peak_of
from vidiff.model import RefinedMotion, Refiner
torch.set_num_threads(1)
motion = RefinedMotion(Refiner(), max_memory={budget})
f0 = torch.rand(1, 3, {h}, {w}); f1 = f0.roll(3, -1)
motion.estimate(f0[..., :64, :64], f1[..., :64, :64], [0.5])
print(json.dumps(peak_of(lambda: motion.estimate(f0, f1, [0.5]), torch.device("cpu"))))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    peak = json.loads(out.stdout.strip().splitlines()[-1])
    untiled = COSTS["refiner_frame"] * h * w + COSTS["refiner_tile"] * h * w
    assert peak < budget, f"peak {peak / 2**20:.0f} MiB over the budget {budget / 2**20:.0f} MiB"
    assert peak < untiled  # and tiling saved memory


def test_cli_rejects_bad_sizes_in_one_line(tmp_path):
    for value, message in (("6X", "must be a size such as 6G"), ("10M", "at least 64M")):
        proc = subprocess.run(
            [sys.executable, "-m", "vidiff", "interpolate", str(tmp_path / "a.mp4"), "--fps", "60",
             "--max-memory", value], capture_output=True, text=True,
        )
        assert proc.returncode == 2
        assert proc.stderr.count("\n") == 1 and message in proc.stderr


def test_cli_max_memory_tiles_the_refiner_and_matches_whole_frames(tmp_path, capsys):
    """``vidiff interpolate --max-memory`` end to end: a budget that forces tiles gives the frames
    of an unbounded run (to within a level of 8-bit rounding), and one that cannot be met is one
    line naming the total it needs."""
    import cv2
    from media import pattern_frame, write_png_folder

    from vidiff.cli import main
    from vidiff.model import save_weights

    weights = save_weights(tmp_path / "r.safetensors", None, refiner=perturbed_refiner())
    size = (400, 304)
    folder = write_png_folder(tmp_path / "in", [pattern_frame(i, size) for i in range(3)])
    h, w = size[1], size[0]
    assert not plan_for("refiner", h, w, 1, Budget(260 * 2**20).share(2)).single
    outs = []
    for name, extra in (("whole", ["--max-memory", "100G"]), ("tiled", ["--max-memory", "260M"])):
        args = ["interpolate", str(folder), "--input-fps", "12", "--multi", "2", "--steps", "0",
                "--weights", str(weights), "-o", str(tmp_path / name), "-q", *extra]
        assert main(args) == 0
        outs.append([cv2.imread(str(p)) for p in sorted((tmp_path / name).iterdir())])
    assert len(outs[0]) == len(outs[1]) == 6
    for a, b in zip(*outs):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    code = main(["interpolate", str(folder), "--input-fps", "12", "--multi", "2", "--steps", "0",
                 "--weights", str(weights), "-o", str(tmp_path / "x"), "-q", "--max-memory", "160M"])
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--max-memory 160M is too small" in err and "needs at least" in err


@pytest.mark.parametrize("grad", [False, True])  # OpenCV's remap, then grid_sample
def test_warp_of_a_tile_samples_the_whole_image(grad):
    from vidiff.motion.warp import backward_warp

    image = torch.rand(1, 3, 40, 56)
    flow = torch.randn(1, 2, 40, 56) * 6
    whole = backward_warp(image, flow.requires_grad_(grad))
    tile = backward_warp(image, flow[..., 8:32, 16:48], (16, 8))
    assert torch.allclose(tile, whole[..., 8:32, 16:48], atol=1e-5)

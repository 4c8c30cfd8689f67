"""tools/probe_share.py: what a refiner's fallback share does, as it is, shrunk and off."""

import re
import subprocess
import sys
from pathlib import Path

import torch
from test_refiner_share import blend_pack

from vidiff.model import Refiner, RefinerConfig, save_weights
from vidiff.model.refiner import OUT_CHANNELS

TOOL = Path(__file__).resolve().parents[1] / "tools" / "probe_share.py"


def run_tool(*args):
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True,
                          text=True)


def report(stdout):
    """{variant: (mean gain, pooled PSNR)} and the stake-weighted share of one block."""
    rows = re.findall(r"([+-]\d+\.\d+) dB mean gain  pooled (\d+\.\d+) dB  (.+)", stdout)
    share = float(re.search(r"stake-weighted mean share (\d+\.\d+)", stdout).group(1))
    return {name: (float(g), float(p)) for g, p, name in rows}, share


def test_a_share_of_one_is_the_blend_and_the_probe_shows_what_it_costs_and_gains(tmp_path):
    pack = blend_pack(tmp_path)  # held out: one sample where mu is exact, one where the blend is
    config = RefinerConfig(channels=(4, 8, 8), fallback=True)
    silent = save_weights(tmp_path / "silent.safetensors", None, {}, refiner=Refiner(config))
    done = run_tool(silent, "--sets", "", "--packs", pack, "--shrink", "0.05")
    assert done.returncode == 0, done.stderr
    rows, share = report(done.stdout)
    assert share == 0 and set(rows) == {"mu", "share", "share shrunk by 0.05", "share off",
                                        "share x k per sample (oracle)"}
    assert all(gain == 0 for gain, _ in rows.values())  # a zero head: exactly mu

    net = Refiner(config)
    with torch.no_grad():
        net.head.bias[OUT_CHANNELS] = 20.0  # the share all the way to the blend
    full = save_weights(tmp_path / "full.safetensors", None, {}, refiner=net)
    rows, share = report(run_tool(full, "--sets", "", "--packs", pack).stdout)
    assert share > 0.99
    assert rows["share off"][0] == 0 and rows["share shrunk by 0.1"][0] == rows["share"][0]
    assert rows["share"][1] > rows["mu"][1] + 5  # pooled: the blend's win on one sample...
    first, _ = report(run_tool(full, "--sets", "", "--packs", pack, "--pack-samples", "1").stdout)
    assert first["share"][0] < -5  # ...and its loss on the one where mu is exact
    # knowing per sample how much to hedge: the blend where it wins, nothing where mu is exact
    oracle = rows["share x k per sample (oracle)"]
    assert oracle[0] > max(rows["share"][0], rows["share off"][0]) + 2
    assert oracle[1] >= rows["share"][1] - 0.01


def test_the_share_rescaled_is_reported_beside_it(tmp_path):
    pack = blend_pack(tmp_path)
    config = RefinerConfig(channels=(4, 8, 8), fallback=True)
    silent = save_weights(tmp_path / "silent.safetensors", None, {}, refiner=Refiner(config))
    done = run_tool(silent, "--sets", "", "--packs", pack, "--scale", "2x1.5,3")
    assert done.returncode == 0, done.stderr
    rows, _ = report(done.stdout)
    assert {"share x 2 ^ 1.5", "share x 3 ^ 1"} <= set(rows)
    assert rows["share x 2 ^ 1.5"][0] == 0  # no share: nothing to rescale

    net = Refiner(config)
    with torch.no_grad():
        net.head.bias[OUT_CHANNELS] = 20.0  # the blend everywhere
    full = save_weights(tmp_path / "full.safetensors", None, {}, refiner=net)
    rows, _ = report(run_tool(full, "--sets", "", "--packs", pack, "--scale", "0.5").stdout)
    mu, half, whole = rows["mu"][1], rows["share x 0.5 ^ 1"][1], rows["share"][1]
    assert mu < half < whole  # pooled: half of the blend wins half as much
    assert run_tool(full, "--sets", "", "--scale", "0x2").returncode == 2


def test_a_refiner_without_a_fallback_share_is_one_clear_line(tmp_path):
    plain = save_weights(tmp_path / "plain.safetensors", None, {},
                         refiner=Refiner(RefinerConfig(channels=(4, 8, 8))))
    done = run_tool(plain, "--sets", "")
    assert done.returncode == 2 and "has no fallback share" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_other_hedges_blur_and_time_are_reported_beside_the_share(tmp_path):
    sys.path.insert(0, str(TOOL.parent))
    try:
        from probe_share import gaussian_blur
    finally:
        sys.path.remove(str(TOOL.parent))
    flat = torch.full((1, 3, 9, 9), 0.25)
    assert torch.allclose(gaussian_blur(flat, 1.5), flat)  # a blur keeps what is flat
    dot = torch.zeros(1, 1, 15, 15)
    dot[..., 7, 7] = 1
    soft = gaussian_blur(dot, 1.0)
    assert abs(float(soft.sum()) - 1) < 1e-5 and float(soft.max()) < 0.2

    pack = blend_pack(tmp_path)
    config = RefinerConfig(channels=(4, 8, 8), fallback=True)
    silent = save_weights(tmp_path / "silent.safetensors", None, {}, refiner=Refiner(config))
    done = run_tool(silent, "--sets", "", "--packs", pack, "--blur", "1.5", "--spread", "0.1")
    assert done.returncode == 0, done.stderr
    rows, _ = report(done.stdout)
    assert {"blur 1.5 in the blend's place", "half blend, half blur 1.5", "mean over t +- 0.1",
            "best of t +- 0.1 per sample (oracle)"} <= set(rows)
    assert rows["blur 1.5 in the blend's place"][0] == 0  # no share: the blur is never mixed in
    assert rows["best of t +- 0.1 per sample (oracle)"][0] >= 0  # the three include t itself
    assert rows["mean over t +- 0.1"][0] != 0  # a silent refiner is mu only at t
    for bad in (("--spread", "0.5"), ("--blur", "0")):
        assert run_tool(silent, "--sets", "", *bad).returncode == 2

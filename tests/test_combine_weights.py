"""tools/combine_weights.py: parts taken from several files, and refiners averaged weight by weight."""

import subprocess
import sys
from pathlib import Path

import torch

from vidiff.model import Refiner, RefinerConfig, load_refiner, read_metadata, save_weights

TOOL = Path(__file__).resolve().parents[1] / "tools" / "combine_weights.py"


def run_tool(*args):
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True,
                          text=True)


def refiner_file(path, seed, config=None):
    torch.manual_seed(seed)
    net = Refiner(config or RefinerConfig.tiny())
    torch.nn.init.normal_(net.head.weight, std=0.1)
    return save_weights(path, None, {"step": str(seed)}, refiner=net), net


def test_parts_from_two_files_and_an_average_of_two_refiners(tmp_path):
    a_path, a = refiner_file(tmp_path / "a.safetensors", 1)
    b_path, b = refiner_file(tmp_path / "b.safetensors", 2)
    out = tmp_path / "out.safetensors"
    done = run_tool(out, "--refiner", a_path, "--predictor", b_path, "--full")
    assert done.returncode == 0, done.stderr
    assert torch.equal(load_refiner(out).head.weight, a.head.weight)
    assert torch.equal(load_refiner(out, part="predictor").head.weight, b.head.weight)
    done = run_tool(out, "--refiner", a_path, "--refiner-average", b_path, "--alpha", "0.25",
                    "--full")
    assert done.returncode == 0, done.stderr
    mixed = load_refiner(out)
    for (k, va), vb, vm in zip(a.state_dict().items(), b.state_dict().values(),
                               mixed.state_dict().values()):
        assert torch.allclose(vm, 0.75 * va + 0.25 * vb, atol=1e-6), k
    assert "averaged with b.safetensors" in read_metadata(out)["refiner_source"]


def test_averaging_refiners_of_different_shapes_is_one_clear_error(tmp_path):
    a_path, _ = refiner_file(tmp_path / "a.safetensors", 1)
    c_path, _ = refiner_file(tmp_path / "c.safetensors", 3, RefinerConfig(channels=(4, 8)))
    out = tmp_path / "out.safetensors"
    done = run_tool(out, "--refiner", a_path, "--refiner-average", c_path)
    assert done.returncode == 1 and not out.exists()
    assert done.stderr.strip() == "combine_weights: error: --refiner-average: the two refiners' configs differ"
    done = run_tool(out, "--refiner", a_path, "--refiner-average", a_path, "--alpha", "2")
    assert done.returncode == 1 and "an --alpha in [0, 1]" in done.stderr and not out.exists()

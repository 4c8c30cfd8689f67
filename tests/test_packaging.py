"""Packaging: every package is listed, and a non-editable install finds the default weights."""

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_every_package_is_listed():
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "vidiff").rglob("__init__.py")}
    assert found | {"vidiff.default_weights"} == listed


@pytest.mark.slow
def test_installed_copy_finds_default_weights(tmp_path):
    """``pip install .`` (not editable) of a tree with default weights: the installed vidiff
    resolves them inside the install, not in a source tree."""
    import torch

    from vidiff.model import Refiner, RefinerConfig, save_weights

    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "runs", "packs", "__pycache__", "*.egg-info", "build", "samples"))
    refiner = Refiner(RefinerConfig.tiny())
    torch.nn.init.normal_(refiner.head.weight, std=0.1)
    save_weights(src / "weights" / "vidiff.safetensors", None, refiner=refiner)
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(src)],
        check=True, capture_output=True, timeout=300,
    )
    shutil.rmtree(src)  # nothing may point back into the source tree
    probe = (
        "from vidiff.pipelines.weights import default_weights_path, resolve_model\n"
        "import torch\n"
        "p = default_weights_path(); m = resolve_model(None, None, torch.device('cpu'))\n"
        "print(p); print(m.refiner is not None)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    path, refined = out.stdout.split()
    assert Path(path).is_relative_to(target) and refined == "True"

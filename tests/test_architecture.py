"""Imports flow one way (STYLE.md): cli -> jobs -> pipelines -> model/motion -> utilities.

Each package below may import only from the packages listed for it (and the standard
library / third-party packages). Checked by reading the source, so a stray import that would
make the I/O layer depend on the model, or the model on files, fails here.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "vidiff"

UTILITIES = {"errors", "timebase", "device", "scenes", "timing", "metrics"}
ALLOWED = {
    "io": UTILITIES | {"io"},
    "motion": UTILITIES | {"motion"},
    "model": UTILITIES | {"model", "motion"},
    "train": UTILITIES | {"train", "model", "motion", "io"},
    "pipelines": UTILITIES | {"pipelines", "model", "motion"},
    "jobs": UTILITIES | {"jobs", "pipelines", "io", "model", "motion"},
}


def vidiff_imports(path: Path):
    tree = ast.parse(path.read_text())
    rel = path.relative_to(ROOT).parts
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(rel[:-1])[: len(rel) - node.level]
                mod = ".".join(base + ([node.module] if node.module else []))
                names = [mod] if node.module else [f"{mod}.{a.name}".strip(".") for a in node.names]
            elif node.module and node.module.split(".")[0] == "vidiff":
                names = [node.module.partition(".")[2]]
            else:
                continue
            for name in names:
                yield name.split(".")[0] if name else ""
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "vidiff" and "." in a.name:
                    yield a.name.split(".")[1]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_flow_one_way(package):
    folder = ROOT / package
    if not folder.is_dir():
        pytest.skip(f"vidiff/{package} not present")
    bad = []
    for path in folder.rglob("*.py"):
        for top in vidiff_imports(path):
            if top and top not in ALLOWED[package]:
                bad.append(f"{path.relative_to(ROOT)} imports vidiff.{top}")
    assert not bad, "\n".join(bad)


def test_utilities_import_no_packages():
    for name in UTILITIES:
        path = ROOT / f"{name}.py"
        if not path.exists():
            continue
        tops = set(vidiff_imports(path)) - {""}
        assert tops <= UTILITIES, f"{name}.py imports {tops - UTILITIES}"


def test_import_has_no_side_effects():
    import subprocess
    import sys

    code = "import sys, vidiff; assert 'torch' not in sys.modules, 'import vidiff loaded torch'"
    subprocess.run([sys.executable, "-c", code], check=True)

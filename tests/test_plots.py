"""``tools/plots.py``: a benchmark report's tables become PNG charts, headless."""

import subprocess
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[1] / "tools"

REPORT = """# vidiff benchmark

## Quality (middle frame vs ground truth)

### middlebury (12 triplets)

| method | PSNR (dB) | SSIM | IE | ms / frame |
|---|---|---|---|---|
| 50/50 blend | 28.01 | 0.7989 | 5.736 | 0 |
| vidiff motion estimate (--steps 0 --no-refine) | 34.55 | 0.9501 | 2.599 | 95 |
| ffmpeg minterpolate (mci) | 33.17 | 0.9334 | 2.896 | 310 |

### ucf101 (3 triplets)

| method | PSNR (dB) | SSIM | IE | ms / frame |
|---|---|---|---|---|
| 50/50 blend | 33.13 | 0.9233 | 3.564 | 0 |
| vidiff motion estimate (--steps 0 --no-refine) | 34.79 | 0.9472 | 2.870 | 20 |

## Speed (24 fps -> 60 fps, 4 s clip, decode + interpolate + encode)

| size | tool | frames in | frames out | wall (s) | fps out | peak RSS (MiB) |
|---|---|---|---|---|---|---|
| 480p | vidiff --steps 0 --no-refine | 96 | 240 | 19.1 | 12.6 | 806 |
| 480p | ffmpeg minterpolate mci | 96 | 240 | 27.6 | 8.5 | 411 |
| 720p | vidiff --steps 0 --no-refine | 96 | 240 | 26.4 | 9.1 | 1302 |
"""


@pytest.fixture()
def plots():
    pytest.importorskip("matplotlib")
    sys.path.insert(0, str(TOOLS))
    try:
        import plots

        yield plots
    finally:
        sys.path.remove(str(TOOLS))


def test_report_tables_are_parsed(plots):
    data = plots.parse_report(REPORT)
    assert list(data["quality"]) == ["middlebury (12)", "ucf101 (3)"]
    assert data["quality"]["middlebury (12)"]["ffmpeg minterpolate (mci)"]["psnr"] == 33.17
    assert data["quality"]["ucf101 (3)"]["50/50 blend"]["ms"] == 0
    assert [r["fps out"] for r in data["speed"]] == ["12.6", "8.5", "9.1"]


def test_charts_are_written_as_png(plots, tmp_path):
    written = plots.write_plots(REPORT, tmp_path / "charts")
    names = sorted(p.name for p in written)
    assert names == ["quality_psnr.png", "speed_fps.png", "speed_vs_quality.png"]
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_command_line_headless_and_report_without_tables(plots, tmp_path):
    report = tmp_path / "r.md"
    report.write_text(REPORT.split("## Speed")[0])
    env = {"PATH": "/usr/bin:/bin", "MPLBACKEND": "", "DISPLAY": ""}  # no display
    ok = subprocess.run([sys.executable, str(TOOLS / "plots.py"), report, "--out", tmp_path / "o"],
                        capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "quality_psnr.png", "speed_vs_quality.png"]
    report.write_text("# nothing here\n")
    empty = subprocess.run([sys.executable, str(TOOLS / "plots.py"), report, "--out", tmp_path / "e"],
                           capture_output=True, text=True, env=env)
    assert empty.returncode == 1 and "no quality or speed tables" in empty.stderr

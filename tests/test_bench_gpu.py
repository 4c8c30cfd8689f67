"""tools/bench_gpu.py runs end to end on the CPU (quick mode) without PyAV, which the GPU
machine lacks: a lease must not fail on a typo or a stray import."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NO_AV = "import sys; sys.modules['av'] = None\n"  # `import av` now raises ImportError


def test_bench_gpu_quick_runs_on_the_cpu_without_pyav(tmp_path):
    out = tmp_path / "bench.json"
    code = NO_AV + (
        "import runpy\n"
        f"sys.argv = ['bench_gpu.py', '--quick', '--device', 'cpu', '--out', {str(out)!r}]\n"
        f"runpy.run_path({str(ROOT / 'tools' / 'bench_gpu.py')!r}, run_name='__main__')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["matmul_tflops"] > 0 and "stopped" not in result
    assert [(r["steps"], r["batch"]) for r in result["rows"]] == [(0, 2), (1, 2)]
    for row in result["rows"]:
        assert "error" not in row, row
        assert row["e2e_output_fps"] > 0 and row["model_fps"] > 0
        assert row["gflops_per_frame"] > 0 and row["e2e_output_frames"] == 6
    assert "| variant |" in proc.stdout


def test_the_modules_the_benchmark_needs_do_not_import_pyav():
    code = NO_AV + (
        "import vidiff.model, vidiff.motion, vidiff.model.memory, vidiff.model.tiling\n"
        "import vidiff.pipelines.interpolate, vidiff.device, vidiff.cli.common\n"
        "assert sys.modules['av'] is None\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]

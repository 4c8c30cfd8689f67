"""``tools/contact_sheet.py`` skips cleanly (exit 0, nothing written) without the data folder."""

import subprocess
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def test_skips_without_data(tmp_path):
    out = tmp_path / "sheet.jpg"
    result = subprocess.run(
        [sys.executable, str(TOOLS / "contact_sheet.py"), "--data", tmp_path / "absent",
         "--out", out], capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "skipped" in result.stderr and not out.exists()

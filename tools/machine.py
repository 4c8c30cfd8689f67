"""One line naming the machine a benchmark ran on, shared by every script in tools/."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line() -> str:
    """CPU model, core count, OS, and the versions of Python, torch, OpenCV and PyAV; the GPU
    when torch sees one; the load average when the OS reports it (a busy machine skews times)."""
    import av
    import cv2
    import torch

    parts = [
        f"{cpu_name()}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}",
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"OpenCV {cv2.__version__}, PyAV {av.__version__}",
    ]
    if torch.cuda.is_available():
        parts.append(f"GPU {torch.cuda.get_device_name(0)}")
    if hasattr(os, "getloadavg"):
        parts.append(f"load average {os.getloadavg()[0]:.1f} at start")
    return "; ".join(parts)

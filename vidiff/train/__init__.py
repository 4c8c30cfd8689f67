"""Training the diffusion model: configs, data (videos, frame folders, packs), the loop.

Entry points: :func:`train` (``vidiff train``), :func:`load_config` (``configs/*.toml``) and
:func:`pack_training_data` (``tools/pack_training_data.py``). Nothing here runs at import; PyAV is
imported only when raw videos or frame folders are decoded, so training from a pack needs numpy,
OpenCV and torch only.
"""

from .config import DataConfig, TrainConfig, TrainRun, load_config
from .loop import train
from .pack import PackSummary, load_segments, pack_training_data, read_pack, write_pack
from .segments import Segment
from .windows import Window, WindowSampler

__all__ = [
    "DataConfig",
    "PackSummary",
    "Segment",
    "TrainConfig",
    "TrainRun",
    "Window",
    "WindowSampler",
    "load_config",
    "load_segments",
    "pack_training_data",
    "read_pack",
    "train",
    "write_pack",
]

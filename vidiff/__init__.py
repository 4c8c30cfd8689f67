"""vidiff: smoother and longer video with a residual video diffusion model.

Public API (imports are lazy: ``import vidiff`` loads no model and touches no device)::

    vidiff.interpolate_video("clip.mp4", "clip60.mp4", fps=60)      # a file or folder job
    vidiff.interpolate_video("film.mkv", "try.mp4", fps=60, start=600, duration=5)  # a stretch
    vidiff.compare_videos(["clip.mp4", "clip60.mp4"], "compare.mp4", diff=True)  # side by side
    vidiff.interpolate_pair(frame0, frame1, times=(0.5,))           # frames in memory
    vidiff.interpolate_frames(frames, input_fps=24, fps=60)         # a sequence in memory
    vidiff.generate_frames([f0, f1], frames=8, samples=2)           # continue seed frames
    vidiff.generate_video(["a.png", "b.png"], "next.mp4", frames=8)  # the same, to a file
    vidiff.batch_convert("library/", "library-60/", fps=60)         # a folder tree, resumable
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "interpolate_video": ("vidiff.jobs.interpolate_file", "interpolate_video"),
    "compare_videos": ("vidiff.jobs.compare_file", "compare_videos"),
    "batch_convert": ("vidiff.jobs.batch", "batch_convert"),
    "interpolate_pair": ("vidiff.pipelines.frames", "interpolate_pair"),
    "interpolate_frames": ("vidiff.pipelines.frames", "interpolate_frames"),
    "generate_frames": ("vidiff.pipelines.generate", "generate_frames"),
    "generate_video": ("vidiff.jobs.generate_file", "generate_video"),
    "VidiffError": ("vidiff.errors", "VidiffError"),
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vidiff' has no attribute {name!r}")

"""Deterministic motion estimates between two frames (the ``mu`` the diffusion model refines).

Conventions: frames ``b 3 h w`` float32 in ``[0, 1]`` on any device; estimates ``b 3 n h w``; time
in units of the input interval (frame0 at 0, frame1 at 1; outside ``[0, 1]`` extrapolates); flow
``b 2 h w`` in pixels, channel order (dx, dy). Details in :mod:`vidiff.motion.base`.
"""

from vidiff.motion.base import MotionEstimator, estimates
from vidiff.motion.blend import flows_to_time, visibility
from vidiff.motion.flow import FlowMotion, FlowMotionConfig
from vidiff.motion.warp import backward_warp

__all__ = [
    "FlowMotion",
    "FlowMotionConfig",
    "MotionEstimator",
    "backward_warp",
    "estimates",
    "flows_to_time",
    "visibility",
]

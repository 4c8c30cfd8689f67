"""Learning-rate and EMA schedules shared by the diffusion and refiner training loops.

Both take the step (0-based) and a config with ``lr``, ``warmup_steps``, ``lr_decay_steps``,
``min_lr_ratio`` and ``ema_decay``.
"""

from __future__ import annotations

import math


def schedule_problem(tc) -> str | None:
    """What is wrong with ``tc``'s LR schedule settings, or None."""
    if not 0 <= tc.min_lr_ratio <= 1:
        return f"min_lr_ratio must be in [0, 1], got {tc.min_lr_ratio}"
    if tc.lr_decay_steps and tc.lr_decay_steps <= tc.warmup_steps:
        return (f"lr_decay_steps must be 0 or above warmup_steps ({tc.warmup_steps}), "
                f"got {tc.lr_decay_steps}")
    return None


def lr_at(step: int, tc) -> float:
    """Linear warm-up over ``warmup_steps``, then constant or cosine to ``lr_decay_steps``."""
    factor = min(1.0, (step + 1) / tc.warmup_steps) if tc.warmup_steps else 1.0
    if tc.lr_decay_steps:
        progress = min(
            1.0, max(0.0, (step - tc.warmup_steps) / (tc.lr_decay_steps - tc.warmup_steps))
        )
        factor *= tc.min_lr_ratio + (1 - tc.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return tc.lr * factor


def ema_decay_at(step: int, tc) -> float:
    return min(tc.ema_decay, (1 + step) / (10 + step))

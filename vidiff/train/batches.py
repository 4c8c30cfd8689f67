"""Training batches: windows -> tensors + conditioning, built in DataLoader workers.

A batch is a dict of CPU tensors: ``target`` ``b 3 t h w`` float [0, 1] (every frame of the
windows), ``mask`` ``b t`` bool, ``times`` ``b t`` float32 and the :class:`vidiff.model.Cond`
fields (``frames`` zero where unknown, ``mu`` from :func:`vidiff.model.build_cond` with the motion
estimator: DIS flow on the CPU, so it runs in the workers). Batch ``step`` of process ``rank`` is
a function of ``(seed, step, rank)`` only (:func:`.windows.batch_seed`), never of iterator state.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from einops import rearrange
from torch.utils.data import DataLoader, Dataset

from .windows import Window, WindowSampler, batch_seed


def windows_to_batch(windows: list[Window], motion) -> dict[str, torch.Tensor]:
    """Stack windows and build their conditioning (mu) with ``motion``."""
    from vidiff.model import build_cond

    frames = torch.from_numpy(np.stack([w.frames for w in windows]))
    target = rearrange(frames, "b t h w c -> b c t h w").float().div_(255.0)
    mask = torch.from_numpy(np.stack([w.mask for w in windows]))
    times = torch.from_numpy(np.stack([w.times for w in windows]))
    cond = build_cond(target, mask, times, motion)
    batch = {f.name: getattr(cond, f.name) for f in dataclasses.fields(cond)}
    batch["target"] = target
    return batch


def batch_to_cond(batch: dict[str, torch.Tensor], device: torch.device):
    """(target, Cond) on ``device`` from a batch dict."""
    from vidiff.model import Cond

    names = [f.name for f in dataclasses.fields(Cond)]
    cond = Cond(**{n: batch[n].to(device, non_blocking=True) for n in names})
    return batch["target"].to(device, non_blocking=True), cond


class StepBatches(Dataset):
    """Map-style dataset whose item ``step`` is that step's whole batch for one process."""

    def __init__(
        self, sampler: WindowSampler, seed: int, batch_size: int, rank: int = 0, motion_factory=None
    ):
        self.sampler = sampler
        self.seed = seed
        self.batch_size = batch_size
        self.rank = rank
        self.motion_factory = motion_factory
        self._motion = None

    def __len__(self) -> int:
        return 2**62

    def windows(self, step: int) -> list[Window]:
        first = self.rank * self.batch_size
        return [
            self.sampler.draw(batch_seed(self.seed, step, first + i))
            for i in range(self.batch_size)
        ]

    def __getitem__(self, step: int) -> dict[str, torch.Tensor]:
        if self._motion is None:
            self._motion = make_motion(self.motion_factory)
        return windows_to_batch(self.windows(step), self._motion)


def make_motion(factory=None):
    if factory is not None:
        return factory()
    from vidiff.motion import FlowMotion

    return FlowMotion()


def _worker_init(_: int) -> None:
    import cv2

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


# Workers are started with "spawn", never "fork": by the time the loader starts, the parent has
# run DIS (the evaluation batch) and torch ops, so OpenCV's and OpenMP's thread pools exist, and a
# forked child that touches them (cv2.setNumThreads, torch.set_num_threads, the first parallel op)
# can wait forever on a lock held by a thread that was not copied. Spawned workers start clean.
WORKER_START = "spawn"


def step_loader(
    dataset: StepBatches, start: int, stop: int, num_workers: int, pin_memory: bool
) -> DataLoader:
    """Batches ``start .. stop - 1`` in order (workers prefetch ahead)."""
    return DataLoader(
        dataset,
        batch_size=None,
        sampler=range(start, stop),
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
        prefetch_factor=4 if num_workers else None,
        worker_init_fn=_worker_init if num_workers else None,
        multiprocessing_context=WORKER_START if num_workers else None,
    )

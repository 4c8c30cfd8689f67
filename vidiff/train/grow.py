"""Starting a refiner from another one's weights (``--init-weights``), growing it on the way."""

from __future__ import annotations

import torch

from vidiff.errors import OptionError
from vidiff.model.refiner import Refiner


def start_from(model: Refiner, source: Refiner) -> None:
    """Copy ``source``'s weights into ``model``, which may be wider (more channels per level),
    deeper (more levels below the source's coarsest) or have more outputs (a ``flow_gain`` head
    has two more), never smaller.

    Every tensor of ``source`` goes into the leading corner of ``model``'s; the rest keeps
    ``model``'s own start, except that a convolution's weights from new input channels into old
    output channels are zeroed. So the old channels never see the new ones, the zero-started head
    keeps its new outputs at zero, and the copy computes exactly what ``source`` did; the new
    channels join in as training moves those zeroed weights (a function-preserving widening,
    as in Net2Net). A new level's way back up starts silent: its projection is zero and the
    decoder convolution it feeds (at the source's coarsest level, which had none) starts as the
    identity (a Dirac kernel, PReLU slope 1), so the source's coarsest features pass unchanged
    until the projection learns to add what the coarser level sees. A coarse flow pass
    (``RefinerConfig.coarse``) that ``source`` lacks starts as built: its zero head adds nothing.
    """
    own, theirs = model.state_dict(), source.state_dict()
    levels, old_levels = len(model.config.channels), len(source.config.channels)
    new_levels = range(old_levels - 1, levels - 1)  # proj/dec indices that source lacks
    grown = {f"enc.{i + 1}." for i in new_levels} | {f"proj.{i}." for i in new_levels} | {
        f"dec.{i}." for i in new_levels}
    if source.config.coarse and source.config.coarse != model.config.coarse:
        raise OptionError(f"--init-weights: the network's coarse pass (1/{source.config.coarse}) "
                          f"differs from this config's ({model.config.coarse or 'none'})")
    if model.config.coarse and not source.config.coarse:
        grown.add("coarse.")  # a new coarse pass keeps its own start: its head is zero
    groups, old_groups = model.config.input_groups, source.config.input_groups
    if groups[: len(old_groups)] != old_groups:
        raise OptionError(f"--init-weights: the network's optional inputs {list(old_groups)} "
                          f"do not lead this config's {list(groups)}")
    extra = set(own) - set(theirs)
    if not set(theirs) <= set(own) or any(not k.startswith(tuple(grown)) for k in extra):
        raise OptionError("--init-weights: the network's layers differ from this config's")
    for k, v in theirs.items():
        mine = own[k]
        if v.ndim != mine.ndim or any(a > b for a, b in zip(v.shape, mine.shape)):
            raise OptionError(f"--init-weights: {k} has shape {tuple(v.shape)}, this config's "
                              f"{tuple(mine.shape)}")
        if mine.ndim == 4:  # conv weight (out, in, kh, kw)
            mine[: v.shape[0], v.shape[1]:] = 0
        mine[tuple(slice(0, n) for n in v.shape)] = v
    for i in new_levels:
        own[f"proj.{i}.weight"].zero_()
        own[f"proj.{i}.bias"].zero_()
        torch.nn.init.dirac_(own[f"dec.{i}.0.weight"])
        own[f"dec.{i}.0.bias"].zero_()
        own[f"dec.{i}.1.weight"].fill_(1.0)
    model.load_state_dict(own)

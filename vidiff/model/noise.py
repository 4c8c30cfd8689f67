"""Gaussian noise from explicit generators.

``generator`` is None (global RNG), one ``torch.Generator`` for the whole batch, or a list of
generators, one per batch item (EDM's per-sample generators: a window's noise then depends only on
its own generator, so one seed reproduces a window whatever the batch size or position in it).
Noise is drawn on the generator's device and moved to the requested one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..errors import OptionError

Generators = torch.Generator | Sequence[torch.Generator] | None


def randn(shape: Sequence[int], generator: Generators, device, dtype=torch.float32) -> Tensor:
    shape = tuple(shape)
    if generator is None:
        return torch.randn(shape, device=device, dtype=dtype)
    if isinstance(generator, torch.Generator):
        return torch.randn(shape, generator=generator, device=generator.device, dtype=dtype).to(
            device
        )
    gens = list(generator)
    if len(gens) != shape[0]:
        raise OptionError(
            f"generator list must hold one generator per batch item ({shape[0]}), got {len(gens)}"
        )
    return torch.stack(
        [torch.randn(shape[1:], generator=g, device=g.device, dtype=dtype).to(device) for g in gens]
    )

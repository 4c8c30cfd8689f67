"""The training loop (one for every config): AdamW, EMA, mixed precision, checkpoints, DDP.

Run folder (``out``), written by rank 0 only:

- ``config.json``: the resolved config tree, the data paths, world size, init weights;
- ``checkpoint.pt``: ``{"step", "config" (JSON text), "model", "ema", "optimizer", "scaler",
  "rng", "elapsed"}`` state dicts (plain tensors and containers: loaded with
  ``torch.load(weights_only=True)``), written atomically at every checkpoint and at the end;
- ``last.safetensors``: inference weights of the EMA model (:func:`vidiff.model.save_weights`, model
  config in the metadata), updated with every checkpoint: ``vidiff interpolate --weights``;
- ``metrics.jsonl``: one JSON object a line: ``{"step", "loss", "lr", "time", ...}`` every
  ``log_interval`` steps and ``{"step", "psnr_mu", "psnr_model", ...}`` every ``eval_interval``;
- ``samples/step_NNNNNNN.png``: per window four rows (known frames, mu, model, truth).

Exact resume: the batch of step ``n`` comes from ``(seed, n, rank)`` (:mod:`.batches`), the
diffusion noise and any dropout from a generator seeded by the same, the LR and EMA decay are
functions of ``n``; so resuming at ``n`` reproduces the step an uninterrupted run takes.
``step`` counts completed optimiser steps. Multi-GPU: launch with ``torchrun``; each rank draws its
own windows (slot ``rank * batch + i``), DistributedDataParallel averages the gradients.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from vidiff.errors import OptionError

from .batches import StepBatches, batch_to_cond, make_motion, step_loader, windows_to_batch
from .config import TrainRun, load_config
from .evaluate import eval_line, evaluate, write_sample_grid
from .pack import load_segments
from .schedules import ema_decay_at, lr_at
from .windows import EVAL_STREAM, WindowSampler, batch_seed, split_holdout

CHECKPOINT = "checkpoint.pt"
WEIGHTS = "last.safetensors"
METRICS = "metrics.jsonl"


@dataclass(frozen=True)
class _Dist:
    rank: int = 0
    local_rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


class _LossModule(nn.Module):
    """Wraps ``Denoiser.loss`` as ``forward`` so DistributedDataParallel syncs its gradients."""

    def __init__(self, denoiser: nn.Module):
        super().__init__()
        self.denoiser = denoiser

    def forward(self, target, cond, generator):
        loss = self.denoiser.loss(target, cond, generator=generator)
        return loss.mean()


def train(
    config: str | Path | TrainRun,
    data: list[Path],
    out: Path,
    steps: int | None = None,
    resume: bool = False,
    device: str | torch.device = "auto",
    init_weights: Path | None = None,
    max_minutes: float | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Train (or continue training) a denoiser; returns ``out / "last.safetensors"``.

    ``config``: a TOML path or a :class:`TrainRun`. ``data``: videos, frame folders, folders of
    them, or ``.npz`` packs. ``steps``: total steps (default ``[train] steps``). ``resume``:
    continue from ``out/checkpoint.pt``. ``init_weights``: start from inference weights with a
    fresh optimiser. ``max_minutes``: wall-clock budget of this call (default
    ``[train] max_minutes``; 0 = none): stops cleanly with a checkpoint before it runs out.
    """
    t_start = time.monotonic()
    run = config if isinstance(config, TrainRun) else load_config(config)
    if max_minutes is not None:
        if max_minutes < 0:
            raise OptionError(f"--max-minutes must be >= 0, got {max_minutes}")
        run = replace(run, train=replace(run.train, max_minutes=float(max_minutes)))
    tc = run.train
    total = tc.steps if steps is None else int(steps)
    if total < 0:
        raise OptionError(f"--steps must be >= 0, got {total}")
    if init_weights is not None and resume:
        raise OptionError("--init-weights starts a new run; it cannot be combined with --resume")
    out = Path(out)
    data = [Path(p) for p in ([data] if isinstance(data, (str, Path)) else data)]
    if not data:
        raise OptionError("--data: pass at least one video, frame folder or .npz pack")
    dist = _init_distributed()
    try:
        return _train(run, data, out, total, resume, device, init_weights, log, dist, t_start)
    finally:
        if dist.world > 1:
            torch.distributed.destroy_process_group()


def _train(run, data, out, total, resume, device, init_weights, log, dist, t_start) -> Path:
    from vidiff.device import resolve_device
    from vidiff.model import Denoiser, load_weights

    tc = run.train
    if not dist.main:
        log = _quiet
    dev = resolve_device(device)
    if dev.type == "cuda" and dist.world > 1:
        dev = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(dev)
    precision = _resolve_precision(tc.precision, dev, log)
    if dev.type == "cuda":  # fixed shapes: let cuDNN pick kernels; TF32 for fp32 matmuls
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    checkpoint_path = out / CHECKPOINT
    _check_out(out, resume, checkpoint_path)
    if dist.world > 1:  # every rank checks the run folder before rank 0 writes into it
        torch.distributed.barrier()

    segments = load_segments(
        data,
        frame_size=run.data.frame_size,
        segment_frames=run.data.segment_frames,
        min_frames=run.data.min_segment_frames,
        cut_threshold=run.data.scene_cut_threshold,
        max_bytes=run.data.max_decoded_mb * 1e6,
        log=log,
    )
    train_segments, held_segments = split_holdout(segments, run.data.holdout_every)
    sampler = WindowSampler(train_segments, run.data)
    try:
        eval_sampler = WindowSampler(held_segments, run.data)
    except Exception:
        eval_sampler = sampler

    torch.manual_seed(tc.seed)
    denoiser = Denoiser(run.model)
    if init_weights is not None:
        loaded = load_weights(Path(init_weights), device="cpu")
        if loaded.config.to_dict() != run.model.to_dict():
            diff = _first_difference(loaded.config.to_dict(), run.model.to_dict())
            raise OptionError(
                f"--init-weights {init_weights}: its model config differs from the config's "
                f"[model] ({diff}); use a config whose [model] matches the weights"
            )
        denoiser.load_state_dict(loaded.state_dict())
        log(f"train: initialised from {init_weights}")
    denoiser.to(dev).train()
    ema = copy.deepcopy(denoiser).eval().requires_grad_(False)
    optimizer = torch.optim.AdamW(
        denoiser.parameters(),
        lr=tc.lr,
        betas=tuple(tc.betas),
        weight_decay=tc.weight_decay,
        **({"fused": True} if dev.type == "cuda" else {}),
    )
    scaler = torch.amp.GradScaler(dev.type, enabled=precision == torch.float16)
    start, elapsed_before = 0, 0.0
    if resume:
        start, elapsed_before = _load_checkpoint(
            checkpoint_path, run, denoiser, ema, optimizer, scaler
        )
        log(f"train: resumed {out} at step {start}")
    if dist.main:
        out.mkdir(parents=True, exist_ok=True)
        _write_json(
            out / "config.json",
            {
                "config": run.to_dict(),
                "data": [str(p) for p in data],
                "world_size": dist.world,
                "init_weights": str(init_weights) if init_weights else None,
                "device": str(dev),
                "precision": str(precision).replace("torch.", ""),
            },
        )
        _truncate_metrics(out / METRICS, start)
    n_params = sum(p.numel() for p in denoiser.parameters())
    log(
        f"train: {n_params / 1e6:.2f}M parameters on {dev} ({str(precision).replace('torch.', '')}), "
        f"{len(train_segments)} training segments, steps {start} -> {total}"
    )

    def save(step: int) -> None:
        elapsed = elapsed_before + time.monotonic() - t_start
        _save(out, run, step, denoiser, ema, optimizer, scaler, elapsed)

    model = _LossModule(denoiser)
    if dist.world > 1:
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[dev.index] if dev.type == "cuda" else None
        )
    eval_batch = _eval_batch(eval_sampler, tc, dev) if dist.main and _wants_eval(tc) else None

    dataset = StepBatches(sampler, tc.seed, tc.batch_size, rank=dist.rank)
    loader = step_loader(dataset, start, total, tc.num_workers, pin_memory=dev.type == "cuda")
    budget = tc.max_minutes * 60.0
    step, step_times, save_seconds = start, [], 5.0
    window_loss, window_count, t_log = 0.0, 0, time.monotonic()
    saved_at = start if resume else -1
    for batch in loader:
        t0 = time.monotonic()
        target, cond = batch_to_cond(batch, dev)
        lr = lr_at(step, tc)
        for group in optimizer.param_groups:
            group["lr"] = lr
        generator = _step_generator(tc.seed, step, dist.rank, dev)
        with torch.autocast(dev.type, dtype=precision, enabled=precision != torch.float32):
            loss = model(target, cond, generator)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(
            denoiser.parameters(), tc.grad_clip if tc.grad_clip > 0 else math.inf
        )
        scaler.step(optimizer)
        scaler.update()
        _ema_update(ema, denoiser, ema_decay_at(step, tc))
        step += 1
        window_loss = window_loss + loss.detach().float()  # no GPU sync until logged
        window_count += 1
        step_times.append(time.monotonic() - t0)

        now = time.monotonic()
        if tc.log_interval and (step % tc.log_interval == 0 or step == total):
            value = torch.as_tensor(window_loss, device=dev).reshape(1) / window_count
            if dist.world > 1:  # the mean over every rank's windows
                torch.distributed.all_reduce(value)
                value = value / dist.world
            mean = float(value)
            rate = window_count / max(now - t_log, 1e-9)
            if dist.main:
                _append_metrics(
                    out / METRICS,
                    {
                        "step": step,
                        "loss": mean,
                        "lr": lr,
                        "grad_norm": float(grad_norm),
                        "time": round(elapsed_before + now - t_start, 3),
                        "steps_per_s": round(rate, 3),
                    },
                )
            log(f"step {step}/{total} loss {mean:.4f} lr {lr:.2e} {rate:.2f} it/s")
            window_loss, window_count, t_log = 0.0, 0, now
        stop = _should_stop(budget, now - t_start, step_times, save_seconds, dist, dev)
        last = step == total or stop
        t_book, booked = time.monotonic(), False
        if (
            dist.main
            and eval_batch is not None
            and ((tc.eval_interval and step % tc.eval_interval == 0) or last)
        ):
            booked = True
            metrics = evaluate(ema, eval_batch, tc.eval_sample_steps, seed=tc.seed)
            _append_metrics(out / METRICS, {"step": step, **metrics})
            log(f"eval step {step}: {eval_line(metrics)}")
        if (
            dist.main
            and eval_batch is not None
            and ((tc.sample_interval and step % tc.sample_interval == 0) or last)
        ):
            booked = True
            write_sample_grid(
                out / "samples" / f"step_{step:07d}.png",
                ema,
                eval_batch,
                tc.eval_sample_steps,
                seed=tc.seed,
            )
        if (tc.checkpoint_interval and step % tc.checkpoint_interval == 0) or last:
            booked = True
            if dist.main:
                save(step)
            saved_at = step
        if booked:  # evaluation + samples + checkpoint time: kept in hand for the last step
            save_seconds = max(save_seconds, time.monotonic() - t_book)
        if stop:
            log(f"train: stopping at step {step} to stay within max_minutes={tc.max_minutes}")
            break
    del loader
    if saved_at != step and dist.main:  # nothing ran (already at total) or never saved
        save(step)
    if dist.world > 1:
        torch.distributed.barrier()
    return out / WEIGHTS


@torch.no_grad()
def _ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    ema_params = list(ema.parameters())
    params = [p.detach() for p in model.parameters()]
    torch._foreach_lerp_(ema_params, params, 1.0 - decay)
    for eb, b in zip(ema.buffers(), model.buffers()):
        eb.copy_(b)


def _step_generator(seed: int, step: int, rank: int, dev: torch.device) -> torch.Generator:
    value = int(batch_seed(seed, step, 1_000_000 + rank).integers(0, 2**62))
    torch.manual_seed(value)  # dropout or any other global-RNG use inside the model
    return torch.Generator(device=dev).manual_seed(value)


# -- devices ---------------------------------------------------------------------------------


def _init_distributed() -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    import torch.distributed as td

    if not td.is_initialized():
        td.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return _Dist(td.get_rank(), int(os.environ.get("LOCAL_RANK", "0")), td.get_world_size())


def _resolve_precision(name: str, dev: torch.device, log) -> torch.dtype:
    if dev.type != "cuda":
        if name in ("bf16", "fp16"):
            log(f"train: precision {name} needs CUDA; using fp32 on {dev.type}")
        return torch.float32
    if name == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[name]


def _should_stop(budget, elapsed, step_times, save_seconds, dist, dev) -> bool:
    if budget <= 0:
        return False
    recent = step_times[-50:]
    margin = 3 * (sum(recent) / len(recent)) + 1.5 * save_seconds + 10.0
    stop = elapsed + margin > budget
    if dist.world > 1:  # every rank must stop at the same step
        flag = torch.tensor([1.0 if stop else 0.0], device=dev)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        stop = bool(flag.item())
    return stop


def _quiet(_: str) -> None:
    pass


# -- files -----------------------------------------------------------------------------------


def _check_out(out: Path, resume: bool, checkpoint: Path) -> None:
    if resume:
        if not checkpoint.is_file():
            raise OptionError(
                f"--resume: {out} holds no {CHECKPOINT}; start the run without --resume"
            )
        return
    if out.exists() and not out.is_dir():
        raise OptionError(f"--out {out} is a file; pass a folder for the run")
    if out.is_dir() and any(out.iterdir()):
        raise OptionError(
            f"--out {out} already holds files; pass --resume to continue it or choose a new folder"
        )


def _save(out, run, step, denoiser, ema, optimizer, scaler, elapsed) -> None:
    from vidiff.model import save_weights

    state = {
        "step": step,
        "config": json.dumps(run.to_dict(), sort_keys=True),
        "model": denoiser.state_dict(),
        "ema": ema.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        },
        "elapsed": float(elapsed),
    }
    tmp = out / f".{CHECKPOINT}.vidiff-tmp-{os.getpid()}"
    torch.save(state, tmp)
    os.replace(tmp, out / CHECKPOINT)
    tmp_weights = out / f".last.vidiff-tmp-{os.getpid()}.safetensors"
    save_weights(
        tmp_weights,
        ema,
        metadata={
            "train_step": str(step),
            "train_config": json.dumps(run.to_dict(), sort_keys=True),
        },
    )
    os.replace(tmp_weights, out / WEIGHTS)


def _load_checkpoint(path, run, denoiser, ema, optimizer, scaler) -> tuple[int, float]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a damaged or foreign file
        raise OptionError(f"--resume: cannot read {path}: {exc}") from None
    saved = json.loads(state["config"])
    if saved["model"] != run.model.to_dict():
        diff = _first_difference(saved["model"], run.model.to_dict())
        raise OptionError(f"--resume: the config's [model] differs from the checkpoint's ({diff})")
    denoiser.load_state_dict(state["model"])
    ema.load_state_dict(state["ema"])
    optimizer.load_state_dict(state["optimizer"])
    scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["rng"]["torch"])
    if state["rng"]["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"][: torch.cuda.device_count()])
    return int(state["step"]), float(state.get("elapsed", 0.0))


def _first_difference(a: dict, b: dict) -> str:
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            return f"{key}: {a.get(key)!r} vs {b.get(key)!r}"
    return "no difference"


def _write_json(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.vidiff-tmp-{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _append_metrics(path: Path, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop records past ``step`` (a run that died after its last checkpoint)."""
    if not path.is_file():
        return
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    keep = [ln for ln in lines if json.loads(ln).get("step", 0) <= step]
    if len(keep) != len(lines):
        path.write_text("".join(ln + "\n" for ln in keep), encoding="utf-8")


def _wants_eval(tc) -> bool:
    return tc.eval_windows > 0 and (tc.eval_interval > 0 or tc.sample_interval > 0)


def _eval_batch(sampler: WindowSampler, tc, dev) -> dict:
    """The fixed held-back interpolation windows, with mu, on ``dev``."""
    windows = [
        sampler.draw(batch_seed(tc.seed ^ EVAL_STREAM, 0, i), task="interpolation")
        for i in range(tc.eval_windows)
    ]
    batch = windows_to_batch(windows, make_motion())
    return {k: v.to(dev) for k, v in batch.items()}

"""Training the refiner (the learned mean) on triplet packs: AdamW, EMA, exact resume, honest eval.

Each step draws a batch from :class:`.refine_sampler.Sampler` (packs mixed, augmented, some
damaged, some still scenes) and minimises the Charbonnier (smooth L1), squared or log squared
distance between the refined frame and the true one (plus, with ``no_harm``, a cost on pixels
made worse than mu, and with ``share_loss``, :func:`vidiff.train.share.share_loss` on the
fallback share, and with ``flow_loss``, :func:`flow_error` of the refined flows where the
batch knows the true ones: synthetic scenes and still scenes; with ``ssim_loss``, ``1 - SSIM``
as the benchmarks measure it, :mod:`.ssim`). With ``context`` (a share of
the batches, ``true`` for all) the refiner refines a ``crop`` px window of each stored sample,
its warps sampling all of it (the sampler's ``context``). ``--init-weights`` starts from
another refiner, grown as :func:`.grow.start_from` says.

The evaluation uses each pack's held-out samples as stored (no
augmentation; every sample has motion by construction) and reports, per pack, the mean over
samples of the per-sample PSNR gain of the EMA refiner over the motion estimate it starts from,
the share of samples it improves and the PSNR of the mean squared error over all of them; for a
pack that knows the true flows, also the mean end-point error of the flows to t before and after
the refiner (``flow_epe_mu``, ``flow_epe``: pixels, over the points seen in each frame).

Run folder: ``config.json``, ``metrics.jsonl`` (one JSON record per log/eval), ``checkpoint.pt``
(weights, EMA, optimizer, step, elapsed time, RNG state; written atomically) and
``ema.safetensors`` (the EMA weights, what inference uses) and ``evals/ema-STEP.safetensors``
(fp16 EMA weights at every evaluation, for comparing runs at equal steps).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vidiff.errors import OptionError
from vidiff.model.refiner import Refiner, RefinerConfig, encode_stats, warped_stats

from . import share
from .grow import start_from
from .refine_sampler import Sampler
from .schedules import ema_decay_at, lr_at, schedule_problem
from .ssim import ssim_per_sample
from .triplets import read_triplets


@dataclass(frozen=True)
class RefinerTrain:
    steps: int = 20000
    batch_size: int = 8
    crop: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 200
    lr_decay_steps: int = 0  # 0: constant LR after warm-up; N: cosine to lr*min_lr_ratio at step N
    min_lr_ratio: float = 0.1
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    mix: tuple[float, ...] = ()  # weight per --data pack (default: equal)
    degrade: float | tuple[float, ...] = 0.0  # share of samples given video-like damage
    # (see degrade()): one for all packs, or one per --data pack
    codec: float = 0.0  # share of the JPEG-compressed damaged samples sent through MPEG-4 instead
    still: float = 0.0  # share of samples made still scenes (see still_scene())
    still_layer: float = 0.0  # share of those given a moving object over the still background
    loss: str = "charbonnier"  # or "mse" / "log_mse" (batch / mean per-sample PSNR); see LOSSES
    loss_floor: float = 1e-6  # log_mse's floor on a sample's MSE (1e-6: no pull past 60 dB)
    no_harm: float = 0.0  # weight of the extra cost on pixels made worse than mu (see refiner_loss)
    blend_wins: float = 0.0  # share of moving samples drawn where the blend beats mu (.share)
    share_loss: float = 0.0  # weight of the loss on the fallback share (.share.share_loss)
    share_window: int = 8  # patch size (px) of that loss's best-share target
    share_per_sample: bool = False  # weigh that loss's samples by 1 / their error, as log_mse
    choice_loss: float = 0.0  # weight of the same loss on the alternate flows' choice (.share.choice_loss)
    flow_loss: float = 0.0  # weight of the refined flows' error where the truth is known (flow_error)
    ssim_loss: float = 0.0  # weight of 1 - SSIM, the mean over samples (.ssim; what benchmarks report)
    context: float = 0.0  # share of batches refining a crop px window of each whole stored
    # sample (Sampler's context); true = 1
    log_interval: int = 50
    checkpoint_interval: int = 500
    eval_interval: int = 1000
    eval_samples: int = 256  # held-out samples per pack
    threads: int = 0  # torch threads (0: leave the default)
    max_minutes: float = 0.0  # stop cleanly after this long (0: no limit)
    seed: int = 0


@dataclass(frozen=True)
class RefinerRun:
    model: RefinerConfig = field(default_factory=RefinerConfig)
    train: RefinerTrain = field(default_factory=RefinerTrain)


def load_refiner_config(path) -> RefinerRun:
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise OptionError(f"--config {path}: {exc}") from None
    unknown = sorted(set(data) - {"refiner", "train"})
    if unknown:
        raise OptionError(f"--config {path}: unknown section [{unknown[0]}]")
    train_keys = {f.name for f in dataclasses.fields(RefinerTrain)}
    bad = sorted(set(data.get("train", {})) - train_keys)
    if bad:
        raise OptionError(f"--config {path}: unknown key {bad[0]!r} in [train]")
    tr = dict(data.get("train", {}))
    if "mix" in tr:
        tr["mix"] = tuple(float(v) for v in tr["mix"])
    if isinstance(tr.get("degrade"), list):
        tr["degrade"] = tuple(float(v) for v in tr["degrade"])
    if tr.get("loss", "charbonnier") not in LOSSES:
        raise OptionError(f"--config {path}: loss must be one of {', '.join(LOSSES)}")
    train = RefinerTrain(**tr)
    problem = schedule_problem(train)
    if problem:
        raise OptionError(f"--config {path}: {problem}")
    if not 0 <= train.codec <= 1:
        raise OptionError(f"--config {path}: codec must be in [0, 1]")
    if not 0 <= train.blend_wins <= 1 or min(train.share_loss, train.flow_loss,
                                             train.choice_loss, train.ssim_loss) < 0:
        raise OptionError(f"--config {path}: blend_wins must be in [0, 1], share_loss, "
                          "choice_loss, flow_loss and ssim_loss >= 0")
    if train.ssim_loss and train.crop < 11:
        raise OptionError(f"--config {path}: ssim_loss needs crop >= 11 (SSIM's 11 px window)")
    if not isinstance(train.loss_floor, (int, float)) or not 0 < train.loss_floor <= 1:
        raise OptionError(f"--config {path}: loss_floor must be in (0, 1]")
    if not isinstance(train.share_window, int) or not 1 <= train.share_window <= train.crop:
        raise OptionError(f"--config {path}: share_window must be from 1 to crop ({train.crop})")
    if not isinstance(train.share_per_sample, bool):
        raise OptionError(f"--config {path}: share_per_sample must be true or false")
    if not isinstance(train.context, (bool, int, float)) or not 0 <= train.context <= 1:
        raise OptionError(f"--config {path}: context must be true, false or a share from 0 to 1")
    model = RefinerConfig.from_dict(data.get("refiner", {}))
    if train.share_loss and not model.fallback:
        raise OptionError(f"--config {path}: share_loss needs a refiner with fallback = true")
    if train.choice_loss and not model.alternate:
        raise OptionError(f"--config {path}: choice_loss needs a refiner with alternate = true")
    return RefinerRun(model, train)


# -- loss and evaluation ----------------------------------------------------------------------


def charbonnier(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    return ((x - y).square() + eps * eps).sqrt().mean()


def mse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x - y).square().mean()


def log_mse(x: torch.Tensor, y: torch.Tensor, floor: float = 1e-6) -> torch.Tensor:
    """Mean over samples of ``log(mse + floor)``: minus the mean per-sample PSNR (up to a scale),
    which is what the benchmarks average. Unlike the batch MSE, which the worst samples dominate,
    it weighs each sample by ``1 / its own error``, so an easy sample (a still shot, a slow pan)
    pays as much for a correction that spoils it as a hard one gains; ``floor`` (60 dB) caps it."""
    return ((x - y).square().flatten(1).mean(1) + floor).log().mean()


LOSSES = {"charbonnier": charbonnier, "mse": mse, "log_mse": log_mse}


def refiner_loss(res: dict, target: torch.Tensor, no_harm: float = 0.0,
                 kind: str = "charbonnier", share_weight: float = 0.0,
                 share_window: int = 8, share_per_sample: bool = False,
                 choice_weight: float = 0.0, floor: float = 1e-6,
                 ssim_weight: float = 0.0) -> torch.Tensor:
    """The ``kind`` distance of the refined frame to the target (Charbonnier: robust, close to
    L1, so sharp edges pay off even where a few pixels go badly wrong; MSE: what PSNR measures),
    plus ``no_harm`` times the mean excess of its per-pixel error over the motion estimate's:
    where mu is already as close as the target's noise allows, a correction costs more than it
    can gain, which pulls the refiner towards leaving mu alone unless it is sure; plus
    ``share_weight`` times :func:`vidiff.train.share.share_loss` over ``share_window`` px patches
    (``share_per_sample``: each sample weighed by 1 / its error), and ``choice_weight`` times
    :func:`vidiff.train.share.choice_loss` alike, and ``ssim_weight`` times the mean over
    samples of ``1 - SSIM`` (:func:`vidiff.train.ssim.ssim_per_sample`, the benchmarks' SSIM).
    ``floor``: :func:`log_mse`'s."""
    loss = (log_mse(res["frame"], target, float(floor)) if kind == "log_mse"
            else LOSSES[kind](res["frame"], target))
    if no_harm > 0:
        err = (res["frame"] - target).abs()
        err_mu = (res["mu"] - target).abs()
        loss = loss + no_harm * torch.relu(err - err_mu).mean()
    if share_weight > 0:
        loss = loss + share_weight * share.share_loss(res, target, share_window,
                                                          share_per_sample)
    if choice_weight > 0:
        loss = loss + choice_weight * share.choice_loss(res, target, share_window,
                                                        share_per_sample)
    if ssim_weight > 0:
        loss = loss + ssim_weight * (1 - ssim_per_sample(res["frame"], target)).mean()
    return loss


def flow_error(res: dict, truth: torch.Tensor, eps: float = 0.1) -> torch.Tensor:
    """The refined flows' mean end-point error (pixels, Charbonnier with ``eps``) to the true
    flows to t (``b 4 h w``, frame0's side then frame1's, NaN where unknown), over the points
    known on each side; 0 (still differentiable) when none is."""
    pred = torch.cat([res["flow_t0"], res["flow_t1"]], 1)
    known = known_points(truth)
    epe = endpoint_errors(pred, truth.nan_to_num(), eps)
    return (epe * known).sum() / known.sum().clamp(min=1)


def known_points(truth: torch.Tensor) -> torch.Tensor:
    """``b 2 h w`` bool: where each side's true flow (``b 4 h w``) is known."""
    finite = torch.isfinite(truth)
    return finite[:, 0::2] & finite[:, 1::2]


def endpoint_errors(flows: torch.Tensor, truth: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    """``b 2 h w``: each side's end-point error of flows to t (``b 4 h w``, frame0's side then
    frame1's) against ``truth`` laid out alike, smoothed by ``eps`` (NaN where the truth is)."""
    diff = (flows - truth).square()
    return (diff[:, 0::2] + diff[:, 1::2] + eps * eps).sqrt()


def batch_summary(model: Refiner, batch: dict) -> torch.Tensor | None:
    """The frame summary each crop of ``batch`` is shown (``b 3``), or ``None`` for the crop's own
    (what the refiner makes when given none): where the pack knows the crop's whole frame, that
    frame's :func:`~vidiff.model.refiner.frame_stats`, moved by what damage (:func:`degrade`)
    did to the crop's (noise and JPEG raise the means by about as much everywhere), as the
    whole frame is summarised at inference; elsewhere the crop's own."""
    if not model.config.summary or "frame_stats" not in batch:
        return None
    known = torch.isfinite(batch["frame_stats"]).all(1)
    if not known.any():
        return None
    mode, ft0, ft1 = model.config.warp, batch["flow_t0"], batch["flow_t1"]
    own = warped_stats(batch["frame0"], batch["frame1"], ft0, ft1, mode)
    clean = warped_stats(batch["clean0"], batch["clean1"], ft0, ft1, mode)
    whole = (batch["frame_stats"].nan_to_num() + own - clean).clamp(min=0)
    return encode_stats(torch.where(known[:, None], whole, own))


def refine_batch(model: Refiner, batch: dict) -> dict:
    return model(batch["frame0"], batch["frame1"], batch["flow_t0"], batch["flow_t1"], batch["t"],
                 flows=batch["flows"], summary=batch_summary(model, batch),
                 alt_flows=batch.get("alt_flows"), window=batch.get("window"),
                 history=batch.get("history"))


def _psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    mse = (x.clamp(0, 1) - y).square().flatten(1).mean(1)
    return -10 * torch.log10(mse.clamp(min=1e-10))


@torch.no_grad()
def evaluate_packs(model: Refiner, sampler: Sampler, limit: int, window: int = 0,
                   context: bool = True) -> dict:
    """Per pack: PSNR gain over mu (mean over held-out samples), share improved, PSNRs, the
    mean per-sample SSIM of mu and of the model (:mod:`.ssim`, as the benchmarks measure it);
    for a prediction pack (times past frame1) also the gain over repeating frame1. With
    ``window``, of each sample's centre window only (:meth:`Sampler.eval_batches`)."""
    out = {}
    for k in range(len(sampler.packs)):
        gains, holds, sse_mu, sse_model, n = [], [], 0.0, 0.0, 0
        ssim_sum = {"ssim_mu": 0.0, "ssim_model": 0.0}
        epe = {"flow_epe_mu": [0.0, 0], "flow_epe": [0.0, 0]}  # sum of errors, points known
        for batch in sampler.eval_batches(k, limit, window=window, context=context):
            res = refine_batch(model, batch)
            truth = batch["true_flows"]
            if torch.isfinite(truth).any():
                points = int(known_points(truth).sum())
                tile = batch.get("window")  # the flows given are the whole sample's
                given = batch if tile is None else {key: tile.crop(batch[key])
                                                    for key in ("flow_t0", "flow_t1")}
                for key, r in (("flow_epe_mu", given), ("flow_epe", res)):
                    epe[key][0] += float(flow_error(r, truth, eps=0.0)) * points
                    epe[key][1] += points
            p_model, p_mu = _psnr(res["frame"], batch["target"]), _psnr(res["mu"], batch["target"])
            gains.append(p_model - p_mu)
            ahead = batch["t"] > 1
            if ahead.any():
                holds.append((p_model - _psnr(batch["frame1"], batch["target"]))[ahead])
            sse_mu += float((res["mu"].clamp(0, 1) - batch["target"]).square().mean(dim=(1, 2, 3)).sum())
            sse_model += float((res["frame"].clamp(0, 1) - batch["target"]).square().mean(dim=(1, 2, 3)).sum())
            n += batch["t"].shape[0]
            if min(batch["target"].shape[-2:]) >= 11:
                for key, x in (("ssim_mu", res["mu"]), ("ssim_model", res["frame"])):
                    ssim_sum[key] += float(ssim_per_sample(x.clamp(0, 1), batch["target"]).sum())
        if not n:
            continue
        g = torch.cat(gains)
        out[f"pack{k}"] = {
            "samples": n,
            "gain_db": round(float(g.mean()), 4),
            "improved": round(float((g > 0).float().mean()), 3),
            "psnr_mu": round(-10 * math.log10(max(sse_mu / n, 1e-10)), 3),  # 100 dB: exact
            "psnr_model": round(-10 * math.log10(max(sse_model / n, 1e-10)), 3),
        }
        if ssim_sum["ssim_mu"]:
            out[f"pack{k}"].update({key: round(v / n, 5) for key, v in ssim_sum.items()})
        if holds:
            out[f"pack{k}"]["gain_over_repeat_db"] = round(float(torch.cat(holds).mean()), 4)
        for key, (total, points) in epe.items():
            if points:
                out[f"pack{k}"][key] = round(total / points, 4)
    return out


# -- the loop ---------------------------------------------------------------------------------


def train_refiner(
    config: str | Path, data: list[Path], out: Path, *, steps: int | None = None,
    resume: bool = False, init_weights: str | Path | None = None, init_part: str = "refiner",
    max_minutes: float | None = None, log: Callable[[str], None] = print,
) -> Path:
    """Train (or continue) a refiner run; returns the path of its EMA weights."""
    from vidiff.model.weights import load_refiner, save_weights

    run = load_refiner_config(config)
    tc = run.train
    if steps is not None:
        tc = dataclasses.replace(tc, steps=int(steps))
    if max_minutes is not None:
        tc = dataclasses.replace(tc, max_minutes=float(max_minutes))
    if tc.threads > 0:
        torch.set_num_threads(tc.threads)
    out = Path(out)
    checkpoint = out / "checkpoint.pt"
    if resume and not checkpoint.is_file():
        raise OptionError(f"--resume: {checkpoint} does not exist")
    if not resume and checkpoint.exists():
        raise OptionError(f"{out} already holds a run; pass --resume or choose another --out")
    (out / "evals").mkdir(parents=True, exist_ok=True)
    packs = [read_triplets(Path(p)) for p in data]
    sampler = Sampler(packs, tc.mix, tc.crop, tc.degrade, tc.still, tc.still_layer,
                      tc.blend_wins, run.model.warp, tc.codec, float(tc.context))
    if tc.blend_wins:
        log("refiner: the blend beats mu in " + ", ".join(
            f"{len(w)} of {len(i)}" for w, i in zip(sampler.wins_idx, sampler.train_idx))
            + " training samples")
    torch.manual_seed(tc.seed)  # the network's initial weights: the same run twice, the same start
    model = Refiner(run.model)
    if init_weights is not None:
        start_from(model, load_refiner(init_weights, part=init_part))
    ema = Refiner(run.model)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    step, elapsed = 0, 0.0
    rng = np.random.default_rng(tc.seed)
    if resume:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["optimizer"])
        step, elapsed = int(state["step"]), float(state["elapsed"])
        rng.bit_generator.state = state["rng"]
    (out / "config.json").write_text(json.dumps(
        {"refiner": run.model.to_dict(), "train": dataclasses.asdict(tc),
         "data": [str(p) for p in data], "pack_sources": [p.names for p in packs]}, indent=1))
    log(f"refiner: {sum(p.numel() for p in model.parameters())} parameters, packs "
        + ", ".join(f"{len(p)} samples" for p in packs) + f", from step {step}")

    def save() -> None:
        state = {"model": model.state_dict(), "ema": ema.state_dict(),
                 "optimizer": opt.state_dict(), "step": step, "elapsed": elapsed,
                 "rng": rng.bit_generator.state}
        tmp = checkpoint.with_suffix(".pt.tmp")
        torch.save(state, tmp)
        os.replace(tmp, checkpoint)
        save_weights(out / "ema.safetensors", None, {"step": str(step),
                     "train_minutes": f"{elapsed / 60:.1f}"}, refiner=ema)

    start = time.monotonic() - elapsed
    loss_sum, loss_n, stopped = 0.0, 0, False
    model.train()
    while step < tc.steps:
        lr = lr_at(step, tc)
        for g in opt.param_groups:
            g["lr"] = lr
        batch = sampler.batch(rng, tc.batch_size)
        res = refine_batch(model, batch)
        loss = refiner_loss(res, batch["target"], tc.no_harm, tc.loss, tc.share_loss,
                            tc.share_window, tc.share_per_sample, tc.choice_loss, tc.loss_floor,
                            tc.ssim_loss)
        if tc.flow_loss > 0:
            loss = loss + tc.flow_loss * flow_error(res, batch["true_flows"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        opt.step()
        with torch.no_grad():
            decay = ema_decay_at(step, tc)
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - decay)
        step += 1
        elapsed = time.monotonic() - start
        loss_sum, loss_n = loss_sum + loss.item(), loss_n + 1
        record = None
        if step % tc.log_interval == 0:
            record = {"step": step, "loss": round(loss_sum / loss_n, 6), "lr": lr,
                      "minutes": round(elapsed / 60, 2)}
            loss_sum, loss_n = 0.0, 0
        if tc.eval_interval and (step % tc.eval_interval == 0 or step == tc.steps):
            record = (record or {"step": step}) | {"eval": evaluate_packs(ema, sampler, tc.eval_samples)}
            # the EMA weights of every evaluation, for side-by-side runs at equal steps
            save_weights(out / "evals" / f"ema-{step:07d}.safetensors", None,
                         {"step": str(step), "train_minutes": f"{elapsed / 60:.1f}"}, refiner=ema,
                         half=True)
        if record:
            with open(out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            log(json.dumps(record))
        stopped = tc.max_minutes > 0 and elapsed >= tc.max_minutes * 60
        if step % tc.checkpoint_interval == 0 or step == tc.steps or stopped:
            save()
        if stopped:
            log(f"refiner: stopped at step {step} after {elapsed / 60:.1f} min (max_minutes)")
            break
    return out / "ema.safetensors"

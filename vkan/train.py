"""The training loop: ``train(cfg)`` builds data, model and optimizer from a Hydra config and runs epochs."""
from __future__ import annotations

import logging
import math
import os
import shutil
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf

from vkan import distributed as dist
from vkan.checkpoint import build_model_from_checkpoint, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from vkan.data import build_data, resolve_data_dir
from vkan.kan_tools import kan_layers, kan_regularization_loss, param_groups, update_grids
from vkan.models import KAN_OPTIONS
from vkan.run_logger import RunLogger


log = logging.getLogger("vkan.train")


def report(message: str) -> None:
    """One line to the console and, under Hydra, to the run's train.log."""
    if logging.getLogger().handlers:
        log.info(message)
    else:
        print(message, flush=True)


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or inf; the last good checkpoint is kept."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"trainer.device={name} but no CUDA GPU is visible; use trainer.device=cpu or auto")
    return device


def autocast_dtype(precision: str, device: torch.device) -> Optional[torch.dtype]:
    """bf16 autocast on GPU by default, fp32 (no autocast) on CPU."""
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return {"bf16": torch.bfloat16, "fp32": None}[precision]


def model_spec(cfg: DictConfig, num_classes: int, in_chans: int, img_size: int) -> Dict[str, Any]:
    """timm name and create_model kwargs: everything a checkpoint needs to rebuild the model."""
    kwargs: Dict[str, Any] = dict(num_classes=num_classes, in_chans=in_chans, img_size=img_size,
                                  depth=cfg.model.depth, drop_path_rate=cfg.model.drop_path_rate)
    if cfg.model.get("kwargs"):
        kwargs.update(OmegaConf.to_container(cfg.model.kwargs, resolve=True))
    if "_kan_" in cfg.model.name:
        kan = OmegaConf.to_container(cfg.model.kan, resolve=True)
        kwargs.update({k: v for k, v in kan.items() if k in KAN_OPTIONS or k in ("kan_hidden", "kan_head")})
        kwargs["grid_range"] = list(kwargs.get("grid_range", (-1.0, 1.0)))
    return {"model_name": cfg.model.name, "model_kwargs": kwargs}


def build_optimizer(cfg: DictConfig, model: nn.Module) -> torch.optim.Optimizer:
    groups = param_groups(model, cfg.optimizer.weight_decay)
    if cfg.optimizer.name == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.optimizer.lr, betas=tuple(cfg.optimizer.betas))
    if cfg.optimizer.name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.optimizer.lr, momentum=cfg.optimizer.momentum, nesterov=cfg.optimizer.nesterov)
    raise ValueError(f"unknown optimizer {cfg.optimizer.name!r}; use optimizer=adamw or optimizer=sgd")


def lr_lambda(cfg: DictConfig, steps_per_epoch: int):
    """Step -> lr multiplier: linear warmup, then cosine to ``min_lr_ratio`` (constant for scheduler=none)."""
    total = max(1, cfg.trainer.epochs * steps_per_epoch)
    warmup = cfg.scheduler.warmup_epochs * steps_per_epoch
    floor = cfg.scheduler.min_lr_ratio

    def factor(step: int) -> float:
        if cfg.scheduler.name == "none":
            return 1.0
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def git_commit() -> Optional[str]:
    try:
        root = Path(__file__).resolve().parents[1]
        return subprocess.check_output(["git", "rev-parse", "HEAD"], cwd=root, stderr=subprocess.DEVNULL, text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def limited(loader, limit: Optional[int]):
    for i, batch in enumerate(loader):
        if limit is not None and i >= limit:
            return
        yield batch


def progress(iterable, total: int, desc: str, enabled: bool):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True, file=sys.stderr)


@torch.no_grad()
def evaluate(model: nn.Module, loader, device: torch.device, amp: Optional[torch.dtype], limit: Optional[int] = None):
    """(mean loss, accuracy) over the loader, summed across ranks."""
    model.eval()
    totals = torch.zeros(3, device=device)  # loss sum, correct, count
    count = 0
    for x, y in limited(loader, limit):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=amp) if amp else nullcontext():
            logits = model(x)
        totals[0] += F.cross_entropy(logits.float(), y, reduction="sum")
        totals[1] += (logits.argmax(-1) == y).sum()
        count += len(y)
    totals[2] = count
    totals = dist.all_reduce_sum(totals)
    loss_sum, correct, count = totals.tolist()
    return loss_sum / max(count, 1), correct / max(count, 1)


def train(cfg: DictConfig) -> Dict[str, Any]:
    """Train one model as ``cfg`` says; returns the summary written to ``summary.json``."""
    ctx = dist.setup()
    device = ctx.device if ctx.world_size > 1 else resolve_device(cfg.trainer.device)
    amp = autocast_dtype(cfg.trainer.precision, device)
    own_dir = Path(cfg.paths.output_dir).resolve()
    run_dir = Path(dist.broadcast_object(str(Path(cfg.resume or own_dir).resolve())))  # rank 0's folder for all
    if not ctx.is_main and own_dir != run_dir and own_dir.is_dir() and not cfg.resume:
        # torchrun started this rank's Hydra a second later: drop its folder, which holds only Hydra's files
        if {p.name for p in own_dir.iterdir()} <= {".hydra", "train.log"}:
            shutil.rmtree(own_dir, ignore_errors=True)
    torch.manual_seed(cfg.seed)
    data = build_data(cfg.data, resolve_data_dir(cfg.paths.data_dir), cfg.trainer.batch_size, device, cfg.seed,
                      rank=ctx.rank, world_size=ctx.world_size)
    spec = model_spec(cfg, data.num_classes, data.in_chans, data.img_size)
    start_epoch, best_acc, best_epoch = 0, -1.0, -1
    ckpt = None
    if cfg.resume:
        ckpt = load_checkpoint(run_dir / "checkpoints" / "last.pt")
        spec = {"model_name": ckpt["model_name"], "model_kwargs": ckpt["model_kwargs"]}
        model = build_model_from_checkpoint(ckpt)
    else:
        import timm

        model = timm.create_model(spec["model_name"], **spec["model_kwargs"])
    model.to(device)
    n_params = sum(p.numel() for p in model.parameters())
    optimizer = build_optimizer(cfg, model)
    steps_per_epoch = len(data.train) if cfg.trainer.limit_train_batches is None else min(len(data.train), cfg.trainer.limit_train_batches)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg, steps_per_epoch))
    if ckpt is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        start_epoch, best_acc, best_epoch = ckpt["epoch"] + 1, ckpt["best_val_acc"], ckpt["best_epoch"]
        set_rng_state(ckpt["rng"])
    net = dist.wrap(model, ctx)
    if cfg.trainer.compile and device.type == "cuda":
        # static shapes: a smaller last validation batch gets its own graph instead of symbolic sizes
        net = torch.compile(net, mode=cfg.trainer.get("compile_mode"), dynamic=False)

    mix = None
    if cfg.trainer.mixup > 0 or cfg.trainer.cutmix > 0:
        from timm.data import Mixup

        mix = Mixup(mixup_alpha=cfg.trainer.mixup, cutmix_alpha=cfg.trainer.cutmix, prob=cfg.trainer.mix_prob,
                    label_smoothing=cfg.trainer.label_smoothing, num_classes=data.num_classes)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    run_name = f"{spec['model_name']}-{cfg.data.name}-s{cfg.seed}"
    logger = RunLogger(run_dir, cfg.get("logger"), resolved, run_name, enabled=ctx.is_main)
    if ctx.is_main:
        OmegaConf.save(OmegaConf.create(resolved), run_dir / "config.yaml")
    has_kan = any(True for _ in kan_layers(model))
    summary: Dict[str, Any] = {"model_name": spec["model_name"], "data": cfg.data.name, "seed": cfg.seed,
                               "params": n_params, "git_commit": git_commit(), "world_size": ctx.world_size,
                               "status": "running"}
    if ctx.is_main:
        report(f"{spec['model_name']}: {n_params / 1e6:.2f} M parameters | {cfg.data.name}: {data.n_train} train / "
               f"{data.n_val} val images | {device}{f' x {ctx.world_size}' if ctx.world_size > 1 else ''}"
               f"{f', {amp} autocast' if amp else ''} | run folder {run_dir}")
    wall0 = time.perf_counter()
    rates, step = [], start_epoch * steps_per_epoch
    failed = True
    try:
        stop = cfg.trainer.epochs
        if cfg.trainer.get("max_epochs_this_run"):
            stop = min(stop, start_epoch + cfg.trainer.max_epochs_this_run)
        for epoch in range(start_epoch, stop):
            net.train()
            for source in (data.train, getattr(data.train, "sampler", None)):  # GpuLoader / DistributedSampler
                if hasattr(source, "set_epoch"):
                    source.set_epoch(epoch)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            totals = torch.zeros(3, device=device)  # loss sum, correct, count
            count = 0  # a Python int: no host-to-device copy per step
            t0 = time.perf_counter()
            batches = progress(limited(data.train, cfg.trainer.limit_train_batches), steps_per_epoch,
                               f"epoch {epoch + 1}/{cfg.trainer.epochs}", cfg.trainer.progress_bar and ctx.is_main)
            for x, y in batches:
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                gu = cfg.trainer.grid_update
                if has_kan and gu.every and epoch < gu.until_epoch and step % gu.every == 0:
                    with torch.autocast(device.type, dtype=amp) if amp else nullcontext():
                        update_grids(model, x, max_samples=gu.max_samples)
                    # every rank re-fitted on its own batch: adopt rank 0's grids and coefficients everywhere
                    dist.broadcast_tensors(t for _, layer in kan_layers(model) for t in
                                           (layer.grid, layer.spline_weight, layer.spline_scaler) if t is not None)
                targets = y
                if mix is not None:
                    x, targets = mix(x, y)
                with torch.autocast(device.type, dtype=amp) if amp else nullcontext():
                    logits = net(x)
                if mix is not None:
                    loss = torch.sum(-targets * F.log_softmax(logits.float(), dim=-1), dim=-1).mean()
                else:
                    loss = F.cross_entropy(logits.float(), targets, label_smoothing=cfg.trainer.label_smoothing)
                if has_kan and cfg.trainer.kan_reg_weight:
                    loss = loss + cfg.trainer.kan_reg_weight * kan_regularization_loss(model)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.trainer.grad_clip:
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.trainer.grad_clip)
                optimizer.step()
                scheduler.step()
                step += 1
                totals[0] += loss.detach() * len(y)
                totals[1] += (logits.argmax(-1) == y).sum()
                count += len(y)
            totals[2] = count
            totals = dist.all_reduce_sum(totals)
            loss_sum, correct, count = totals.tolist()
            if not math.isfinite(loss_sum):
                raise NonFiniteLossError(
                    f"training loss became {loss_sum} in epoch {epoch + 1}; stopped before checkpointing it, "
                    f"{run_dir / 'checkpoints' / 'last.pt'} holds the last good epoch. Lower optimizer.lr, keep "
                    f"trainer.grad_clip on, or use trainer.precision=fp32")
            epoch_s = time.perf_counter() - t0
            rates.append(count / epoch_s)
            row = {"epoch": epoch + 1, "train_loss": loss_sum / count, "train_acc": correct / count,
                   "lr": optimizer.param_groups[0]["lr"], "img_per_s": count / epoch_s, "epoch_s": epoch_s,
                   "peak_mem_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None}
            last = epoch + 1 == cfg.trainer.epochs
            if (epoch + 1) % cfg.trainer.eval_every == 0 or last:
                row["val_loss"], row["val_acc"] = evaluate(net, data.val, device, amp, cfg.trainer.limit_val_batches)
            logger.log_epoch(row)
            if ctx.is_main:
                report(f"epoch {epoch + 1:3d}/{cfg.trainer.epochs} | loss {row['train_loss']:.4f} acc {row['train_acc']:.4f}"
                       + (f" | val loss {row['val_loss']:.4f} acc {row['val_acc']:.4f}" if "val_acc" in row else "")
                       + f" | lr {row['lr']:.2e} | {row['img_per_s']:.0f} img/s | {epoch_s:.1f} s")
            improved = row.get("val_acc", -1.0) > best_acc
            if improved:
                best_acc, best_epoch = row["val_acc"], epoch + 1
            if ctx.is_main:
                payload = {**spec, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                           "scheduler": scheduler.state_dict(), "epoch": epoch, "best_val_acc": best_acc,
                           "best_epoch": best_epoch, "rng": rng_state(), "config": resolved, "metrics": row}
                save_checkpoint(run_dir / "checkpoints" / "last.pt", payload)
                if improved:
                    save_checkpoint(run_dir / "checkpoints" / "best.pt", payload)
            summary.update(best_val_acc=best_acc, best_epoch=best_epoch, final_val_acc=row.get("val_acc"),
                           epochs_done=epoch + 1, img_per_s=sum(rates[1:]) / max(1, len(rates) - 1) if len(rates) > 1 else rates[0],
                           wall_time_s=time.perf_counter() - wall0)
        if ctx.world_size > 1:
            summary["ranks_in_sync"] = dist.ranks_in_sync(model)
        summary["status"] = "finished" if summary.get("epochs_done", 0) >= cfg.trainer.epochs else "paused (resume=<run_dir>)"
        if ctx.is_main:
            report(f"{summary['status']}: best val acc {best_acc:.4f} (epoch {best_epoch}) | results in {run_dir}")
        failed = False
        return summary
    except BaseException as e:
        summary["status"] = f"failed: {type(e).__name__}: {e}"
        raise
    finally:
        summary.setdefault("wall_time_s", time.perf_counter() - wall0)
        logger.write_summary(summary)
        logger.finish(failed=failed)
        dist.cleanup(ctx)

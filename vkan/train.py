"""The training loop: ``train(cfg)`` in named steps: set up a run, train an epoch, end the epoch (evaluate,
log, checkpoint), finish. Each step reads in one sitting; ``Run`` (``vkan.run_state``) carries what they share."""
from __future__ import annotations

import contextlib
import copy
import gc
import io
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from omegaconf import DictConfig, OmegaConf

from vkan import distributed as dist
from vkan.checkpoint import (build_model_from_checkpoint, copy_checkpoint, epochs_done, load_checkpoint, rng_state,
                             save_checkpoint, set_rng_state)
from vkan.config import ADDED_KEYS, holds_a_run, model_spec, used_folder_message, validate
from vkan.compiled_check import check_compiled_scores, check_due, disable_compile_caches, drop_compiled_graphs
from vkan.data import build_data, resolve_data_dir
from vkan.engine import (ModelWithLoss, autocast, autocast_dtype, clip_gradients, evaluate, limited, progress,
                         resolve_device)
from vkan.ffn_graphs import (FEED_FORWARD_NAME, feed_forwards, graph_feed_forwards, graph_loss_head,
                             plain_feed_forwards, plain_forward, unallocated_reserved)
from vkan.ffn_graphs import graph_replays, replays as ffn_graph_replays
from vkan.errors import CompiledPathError, ConfigError, DeviceStateError, NonFiniteLossError, VkanError
from vkan.interrupt import Interrupted, StopSignal, interruption
from vkan.kan_tools import copy_kan_grids, kan_layers, param_groups, update_grids
from vkan.run_logger import RunLogger, report, write_json
from vkan.run_state import EpochClock, EpochTotals, Run

log = logging.getLogger("vkan.train")


def train(cfg: DictConfig) -> Dict[str, Any]:
    """Train one model as ``cfg`` says; return the summary written to ``summary.json``.

    Stops early on SIGINT/SIGTERM at a step boundary, after writing a resumable checkpoint, by raising
    ``Interrupted``; ``cfg.resume`` set (``vkan.config.resumed_config``) continues that run's folder.
    """
    validate(cfg)
    refuse_a_used_folder(cfg)
    ckpt = checkpoint_to_resume(cfg)
    ctx = dist.setup()
    run = None
    with StopSignal() as stop:
        try:
            run = set_up(cfg, ctx, stop, ckpt)
            last = cfg.trainer.epochs
            if cfg.trainer.get("max_epochs_this_run"):
                last = min(last, run.epochs_done + cfg.trainer.max_epochs_this_run)
            while run.epochs_done < last and not run.out_of_time and not pause_due(run):
                train_and_close_epoch(run)
            save_unsaved_epoch(run)  # a pause or trainer.max_epochs_this_run ends this invocation here
            return finish(run)
        except BaseException as err:
            stopped = interruption(err)
            record_failure(cfg, ctx, run, stopped or err)
            if stopped is not None and stopped is not err:
                raise stopped from None  # a signal inside torch.compile, which wrapped it: exit as interrupted
            raise
        finally:
            if run is not None and run.caches_were is not None:  # the next run in this process (a sweep's) uses them
                disable_compile_caches(run.caches_were)
            if run is not None and run.logger is not None:
                run.logger.finish(failed=run.summary.get("status") != "finished")
            if run is not None and run.model is not None and plain_feed_forwards(run.model):
                gc.collect()  # the graphs hold GPU memory, freed with a cycle (torch's graphed autograd function)
            dist.cleanup(ctx)


# --- set-up ------------------------------------------------------------------------------------------------

def checkpoint_to_resume(cfg: DictConfig) -> Optional[Dict[str, Any]]:
    """A resume's checkpoint (None for a new run, or when it is missing or unreadable: ``set_up`` then loads it
    again and says what is wrong). One whose run has already trained ``trainer.epochs`` whole epochs would train
    nothing and replace the run's summary.json with one that has no scores: stop before anything is written."""
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.pt"
    if not cfg.get("resume") or not last.is_file():
        return None
    try:
        ckpt = load_checkpoint(last)
    except Exception:  # noqa: BLE001 - set_up loads it again and says what is wrong with it
        return None
    done, partial = epochs_done(ckpt), ckpt.get("batches_done", 0)
    if done >= cfg.trainer.epochs and not partial:
        raise ConfigError(
            f"resume={cfg.paths.output_dir}: that run has trained {done} epoch(s), and trainer.epochs="
            f"{cfg.trainer.epochs} asks for no more, so a resume would train nothing and only replace its "
            f"summary.json. Train it on with trainer.epochs=<more than {done}> (the schedule then spans the new "
            f"length), or score its checkpoints with python -m vkan.evaluate {cfg.paths.output_dir}")
    return ckpt


def refuse_a_used_folder(cfg: DictConfig) -> None:
    """A new run (not ``resume``) in a folder that holds another run's records (``holds_a_run``) would append to its
    metrics.csv and replace its checkpoints: stop before this run writes anything (``vkan.cli.preflight`` stops a
    command line's explicit ``hydra.run.dir`` / ``hydra.sweep.dir`` earlier, before Hydra writes its .hydra/)."""
    folder = Path(cfg.paths.output_dir)
    if not cfg.get("resume") and holds_a_run(folder):
        raise ConfigError(used_folder_message(folder))


def set_up(cfg: DictConfig, ctx: dist.DistContext, stop: StopSignal, ckpt: Optional[Dict[str, Any]] = None) -> Run:
    """Data, model, optimizer, EMA and logger of a new or resumed run (from ``ckpt``, ``checkpoint_to_resume``'s),
    in its (rank 0's) folder."""
    device = ctx.device if ctx.world_size > 1 else resolve_device(cfg.trainer.device)
    run_dir = Path(dist.broadcast_object(str(Path(cfg.paths.output_dir).resolve())))
    drop_duplicate_rank_folder(cfg, ctx, run_dir)
    run = Run(cfg, ctx, device, autocast_dtype(cfg.trainer.precision, device), run_dir, stop, base_summary(cfg, ctx))
    minutes = cfg.trainer.get("max_minutes")
    run.clock = EpochClock(60 * minutes if minutes else None, start=run.wall0)
    if cfg.resume and ckpt is None:  # missing or unreadable: the load says which
        ckpt = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    seed_everything(cfg.seed, ctx.rank)
    started = time.perf_counter()
    with dist.local_main_first(ctx):  # downloads and the decoded-photo cache: once per machine
        run.data = build_data(cfg.data, resolve_data_dir(cfg.paths.data_dir), cfg.trainer.batch_size, device,
                              cfg.seed, rank=ctx.rank, world_size=ctx.world_size)
    run.data_s = time.perf_counter() - started
    if ckpt is not None:
        run.spec = {"model_name": ckpt["model_name"], "model_kwargs": ckpt["model_kwargs"]}
        run.model = build_model_from_checkpoint(ckpt).to(device)
    else:
        import timm

        run.spec = model_spec(cfg, run.data.num_classes, run.data.in_chans, run.data.img_size)
        try:
            run.model = timm.create_model(run.spec["model_name"], **run.spec["model_kwargs"])
        except (TypeError, ValueError) as err:  # a model kwarg the model does not take, or a value it refuses
            raise ConfigError(f"{run.spec['model_name']} cannot be built with the model.kwargs given: {err}. Change "
                              f"or drop the model.kwargs override this names") from err
        run.model = run.model.to(device)
        if getattr(run.model, "kan_hidden", None) is not None:  # the checkpoint rebuilds the width it was trained at,
            run.spec["model_kwargs"]["kan_hidden"] = run.model.kan_hidden  # whatever the width rule becomes
    layers = [layer for _, layer in kan_layers(run.model)]
    run.has_kan = bool(layers)
    pin_kernel_paths(run, layers)  # before the EMA copies the model
    limit = cfg.trainer.limit_train_batches
    run.steps_per_epoch = len(run.data.train) if limit is None else min(len(run.data.train), limit)
    build_optimization(run)
    if ckpt is not None:
        restore(run, ckpt)
    run.net = build_net(run)
    graph_sublayers(run)
    earlier = (ckpt or {}).get("steady_rates") or {}
    if earlier.get("setup") == run.setup():  # img/s of a resume on other hardware or another path is not averaged in
        run.rates_before = list(earlier["rates"])
    open_records(run)
    if ckpt is not None:
        check_resumed_model(run, ckpt.get("metrics") or {})
    return run


# A resumed model's accuracy, scored outside torch.compile, against the one its run recorded (on the compiled path
# when the run had one): restored models scored within 0.18 points of their records on the GPU; the one fault seen
# was 11.7 points (bench/RESULTS.md).
RESUMED_ACC_TOLERANCE = 0.01


def check_resumed_model(run: Run, row: Dict[str, Any]) -> None:
    """Resumed after an evaluated epoch (its metrics.csv ``row``): score the restored model on the validation split
    outside torch.compile before training, and stop if its accuracy is not what the run recorded then (within
    ``RESUMED_ACC_TOLERANCE`` or 5 images). A difference means the model, the data or the code is not what the run
    had."""
    recorded = row.get("val_acc")
    if recorded is None or run.batches_done or run.cfg.trainer.limit_val_batches:  # nothing to compare like for like
        return
    _, acc = evaluate(run.model, run.data.val, run.device, run.amp)
    if abs(acc - recorded) > max(RESUMED_ACC_TOLERANCE, 5 / max(run.data.n_val, 1)):
        raise DeviceStateError(
            f"the resumed model scores {acc:.4f} on the validation split, but the run recorded {recorded:.4f} after "
            f"epoch {run.epochs_done} with the same weights; nothing was trained and the checkpoints are as they "
            f"were. Check that paths.data_dir holds the run's dataset and that the code is the run's "
            f"(summary.json's git_commit); if either changed on purpose, this is no longer the same run: start a new "
            f"one")
    if run.ctx.is_main:
        report(f"resumed model scores {acc:.4f} on the validation split, as recorded after epoch {run.epochs_done}")


def seed_everything(seed: int, rank: int) -> None:
    """torch (model init: the same on every rank), numpy (timm's mixup) and random, per rank."""
    import random

    import numpy as np

    torch.manual_seed(seed)
    np.random.seed(seed + rank)
    random.seed(seed + rank)


def base_summary(cfg: DictConfig, ctx: dist.DistContext) -> Dict[str, Any]:
    return {"model_name": cfg.model.name, "data": cfg.data.name, "seed": cfg.seed, "val_split": cfg.data.val_split,
            "git_commit": git_commit(), "world_size": ctx.world_size, "status": "running"}


def drop_duplicate_rank_folder(cfg: DictConfig, ctx: dist.DistContext, run_dir: Path) -> None:
    """torchrun starts every rank's Hydra: a later rank's own folder holds only Hydra's files; drop it."""
    own = Path(cfg.paths.output_dir).resolve()
    if not ctx.is_main and own != run_dir and own.is_dir() and not cfg.resume:
        if {p.name for p in own.iterdir()} <= {".hydra", "train.log"}:
            shutil.rmtree(own, ignore_errors=True)


def build_optimizer(cfg: DictConfig, model: nn.Module) -> torch.optim.Optimizer:
    """timm's optimizer factory: AdamW (fused on a GPU) or (Nesterov) SGD, no weight decay for the model's
    ``no_weight_decay()`` names (KAN spline_scaler included), biases and norms; the KAN spline branch's own lr
    scale and weight decay (``vkan.param_groups``). Build it after moving the model."""
    from timm.optim import create_optimizer_v2

    o = cfg.optimizer
    extra = {"betas": tuple(o.betas)} if o.name == "adamw" else {"momentum": o.momentum}
    if o.name == "adamw" and next(model.parameters()).is_cuda:
        extra["fused"] = True  # one kernel for all parameters: the step is host-bound otherwise
    name = o.name if o.name == "adamw" else ("sgd" if o.get("nesterov", True) else "momentum")
    scale, spline_decay = o.get("kan_spline_lr_scale", 1.0), o.get("kan_spline_weight_decay")
    own = scale != 1.0 or spline_decay is not None  # else timm's own groups, as before these options
    groups = partial(param_groups, weight_decay=o.weight_decay, spline_lr_scale=scale, spline_weight_decay=spline_decay)
    optimizer = create_optimizer_v2(model, opt=name, lr=o.lr, weight_decay=o.weight_decay,
                                    param_group_fn=groups if own else None, **extra)
    for group in optimizer.param_groups:  # LambdaLR scales each group's lr as set here (lr_scale applied once)
        group["lr"] = o.lr * group.pop("lr_scale", 1.0)
    return optimizer


def build_optimization(run: Run) -> None:
    """Optimizer, per-step schedule, EMA (timm ModelEmaV3), mixup (timm) and the loss (timm's soft-target loss
    under mixup)."""
    from timm.loss import SoftTargetCrossEntropy

    cfg = run.cfg.trainer
    run.optimizer = build_optimizer(run.cfg, run.model)
    run.trained = [p for group in run.optimizer.param_groups for p in group["params"]]
    run.scheduler = torch.optim.lr_scheduler.LambdaLR(run.optimizer, lr_lambda(run.cfg, run.steps_per_epoch))
    if cfg.ema.decay > 0:
        from timm.utils import ModelEmaV3

        run.ema = ModelEmaV3(run.model, decay=cfg.ema.decay, use_warmup=cfg.ema.warmup, exclude_buffers=True)
    if cfg.mixup > 0 or cfg.cutmix > 0:
        from timm.data import Mixup

        run.mixup = Mixup(mixup_alpha=cfg.mixup, cutmix_alpha=cfg.cutmix, prob=cfg.mix_prob,
                          label_smoothing=cfg.label_smoothing, num_classes=run.data.num_classes)
        run.criterion = SoftTargetCrossEntropy()  # mixup's targets carry the smoothing
    else:
        run.criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)


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
        progress_ = min(1.0, (step - warmup) / max(1, total - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress_))

    return factor


def restore(run: Run, ckpt: Dict[str, Any]) -> None:
    """Continue from a checkpoint: optimizer, schedule, EMA, position (mid-epoch too), bests and RNGs."""
    run.optimizer.load_state_dict(ckpt["optimizer"])
    run.scheduler.load_state_dict(ckpt["scheduler"])
    if run.ema is not None and "ema" in ckpt:
        run.ema.module.load_state_dict(ckpt["ema"])
    run.epochs_done, run.batches_done = epochs_done(ckpt), int(ckpt.get("batches_done", 0))
    run.step = int(ckpt.get("step", run.epochs_done * run.steps_per_epoch + run.batches_done))
    run.wall_before = float(ckpt.get("wall_time_s", 0.0))
    run.best.update(acc=ckpt["best_val_acc"], epoch=ckpt["best_epoch"], acc_ema=ckpt.get("best_val_acc_ema", -1.0))
    if run.batches_done and ckpt.get("world_size", 1) != run.ctx.world_size:
        report(f"the checkpoint stopped inside epoch {run.epochs_done + 1} with {ckpt.get('world_size', 1)} "
               f"process(es); with {run.ctx.world_size} that epoch starts again from its beginning")
        run.step -= run.batches_done
        run.batches_done = 0
    elif run.batches_done:
        run.partial = EpochTotals.zeros(run.device, ckpt["partial"])
    set_rng_state(ckpt["rng"])


def kan_kernel_path(cfg: DictConfig) -> str:
    """``trainer.kan_kernel_path`` (``vkan.ops.PATHS``); a run saved before the key ran on "auto"."""
    return OmegaConf.select(cfg, "trainer.kan_kernel_path", default=ADDED_KEYS["trainer.kan_kernel_path"])


def pin_kernel_paths(run: Run, layers: List[nn.Module]) -> None:
    """Set the kernels that run the KAN ``layers`` on a GPU (``KANLinear.kernel_path``): ``trainer.kan_kernel_path``
    as given, "auto" being "auto-keep" when the step is compiled as CUDA graphs: 16-bit KAN layers with 80 or more
    outputs on the GEMM path, keeping their bases tensor A for the backward (``kan_op.keeps_bases``; eager passes, the
    EMA copy's evaluation among them, stay fused). At ViT-tiny/4 that includes fc1 (80 outputs), which "auto" keeps
    fused: 9.913 ms a step with both layers keeping A against 10.118 with fc1 fused, for a peak of 3.59 GiB against
    the MLP twin's 2.68 (bench/RESULTS.md, forty-second session). ``trainer.graph_ffn`` keeps "auto", which its
    capture runs on the kernels chosen by shape: keeping the bases there was up to 4% faster at 224 px and took 1.5x
    the memory (bench/RESULTS.md, thirty-second session).

    Keeping A saves a kernel a layer and a step but holds A (tokens x inputs x 9 in 16 bits a layer) from forward to
    backward. Measured on an H200 under CUDA graphs (bench/RESULTS.md, twenty-sixth session), "gemm-keep" against
    "gemm" on every layer: steps 1.05x (base/16, batch 64) and 1.07x (small/16, batch 128) faster, with the KAN
    model's peak memory about 2x the GEMM path's and 1.3-1.4x the MLP twin's. In the default compile mode (torchrun) it
    was mixed (base/16 1.04x, small/16 slower, with rounds spread widely), so "auto" stays "auto" there.
    ``trainer.kan_kernel_path=gemm`` gives the memory back (the same kernels as "auto" where every KAN layer has
    128 or more outputs, as at 224 px; at tiny/4 it also moves fc1, 80 outputs, to the GEMM path, slower than the
    fused path there when it does not keep A)."""
    kernels = kan_kernel_path(run.cfg)
    if kernels == "auto" and run.amp is not None and cuda_graphs(run):  # fp32 layers stay fused: nothing to keep
        kernels = "auto-keep"
    for layer in layers:
        layer.kernel_path = kernels
    run.kernel_note = f"KAN kernel path {kernels}" if layers and kernels != "auto" else ""


def compiles(run: Run) -> bool:
    """Whether the run's model is compiled: on a GPU, with ``trainer.compile`` true or auto."""
    want = run.cfg.trainer.compile
    return run.device.type == "cuda" and (want is True or want == "auto")


def cuda_graphs(run: Run) -> bool:
    """Whether the run's steps are CUDA graphs (compiled in ``reduce-overhead`` or ``max-autotune`` mode)."""
    return compiles(run) and compile_mode(run) in ("reduce-overhead", "max-autotune")


def compile_mode(run: Run) -> Optional[str]:
    """``trainer.compile_mode`` with ``auto`` resolved: ``reduce-overhead`` (CUDA graphs) for a one-GPU run, None
    (the default mode) under torchrun; a named mode as given.

    Measured on an H200 (bench/RESULTS.md), CUDA graphs against the default mode: tiny/4 steps 2.0x (KAN) and 2.7x
    (MLP) faster (tenth session); in the app at 224 px, small/16 1.67x (KAN) and 1.44x (MLP) with no more peak
    memory (twenty-fifth session); the bare steps of small/16 1.09x and 1.17x, of base/16 1.36x and 1.20x
    (twenty-fourth). Multi-GPU runs keep the default mode: DDP under CUDA graphs is not measured."""
    mode = run.cfg.trainer.get("compile_mode")
    if mode != "auto":
        return mode
    return "reduce-overhead" if run.ctx.world_size == 1 else None


def build_net(run: Run) -> nn.Module:
    """The model as it runs: with its loss (``ModelWithLoss``), DDP-wrapped under torchrun, compiled as ``compiled``
    says."""
    ddp = run.cfg.trainer.ddp
    scored = ModelWithLoss(run.model, run.criterion, run.cfg.trainer.kan_reg_weight if run.has_kan else 0.0)
    return compiled(run, dist.wrap(scored, run.ctx, ddp.bucket_cap_mb, ddp.static_graph, ddp.comm_dtype))


def compiled(run: Run, net: nn.Module) -> nn.Module:
    """``torch.compile`` on a GPU when ``trainer.compile`` is true or auto (the faster path measured in
    bench/RESULTS.md), in ``compile_mode(run)``; static shapes: evaluation pads a split's short last batch to the
    batch size (``full_batch_forward``), so one evaluation graph serves every split."""
    use, mode = compiles(run), compile_mode(run)
    run.summary["path"] = f"torch.compile ({mode or 'default'} mode)" if use else "eager"
    if run.cfg.trainer.compile is True and run.device.type != "cuda":
        run.summary["path"] = "eager (torch.compile is used on GPUs only)"
    if run.device.type == "cuda" and run.kernel_note:
        run.summary["path"] += f", {run.kernel_note}"
    return torch.compile(net, mode=mode, dynamic=False) if use else net


def graph_sublayers(run: Run) -> None:
    """``trainer.graph_ffn``: every block's feed-forward sublayer, and the loss on the logits (``LossHead``: the
    criterion and the accuracy count), replayed as CUDA graphs in an eager one-GPU run (``vkan.ffn_graphs``),
    captured here for the training batch. ``true`` stops with what to change where that cannot be
    (``why_not_graphed``); ``auto``, the default, graphs where it can and leaves the sublayers and the loss plain
    elsewhere: saying why in the log where the run is eager on a GPU, and with a warning where a capture itself fails
    (out of memory, say), after which the run trains plainly."""
    want = run.cfg.trainer.get("graph_ffn", ADDED_KEYS["trainer.graph_ffn"])
    why = why_not_graphed(run) if want else None
    if why and want is True:
        raise ConfigError(f"trainer.graph_ffn=true: {why}. Or train without it (trainer.graph_ffn=false): the "
                          f"recipe is the same, only the speed and the memory a step takes differ")
    if why and run.device.type == "cuda" and not compiles(run):
        log.info("trainer.graph_ffn=auto: the feed-forward sublayers and the loss run plainly: %s", why)
    if not want or why:
        return
    started, cfg, data = time.perf_counter(), run.cfg.trainer, run.data
    images = torch.zeros(cfg.batch_size, data.in_chans, data.img_size, data.img_size, device=run.device)
    pool_before = unallocated_reserved(run.device)
    failed = None
    try:
        # training_step sets the gradients to None before each backward and is done with them before the next
        # forward, so they may stay in the graphs' buffers (GraphedForward)
        names = graph_feed_forwards(run.model, images, run.amp, copy_grads=False)
        graph_loss_head(run.net.loss_head, *loss_head_inputs(run, images), run.amp)
    except Exception as err:  # out of memory, an op a graph cannot hold, a sublayer torch cannot capture
        if want is True or isinstance(err, Interrupted):  # a second Ctrl-C or a signal stops the run as anywhere
            raise
        failed = ": ".join([type(err).__name__, *str(err).splitlines()[:1]])
    if failed:  # the model as it was (each capture sets its forwards last); free what the captures held
        plain_feed_forwards(run.model)
        plain_forward(run.net.loss_head)
        gc.collect()
        torch.cuda.empty_cache()
        log.warning("trainer.graph_ffn=auto: capturing the feed-forward sublayers and the loss as CUDA graphs failed "
                    "(%s), so this run trains them plainly: the same recipe, at the plain eager speed. Set "
                    "trainer.graph_ffn=false to skip the attempt, or true to make it an error.", failed)
        return
    run.summary["path"] += f", {len(names)} feed-forward sublayers and the loss as CUDA graphs"
    run.summary["graph_s"] = time.perf_counter() - started
    # what the capture holds beyond its live tensors (the graphs' pool, whose blocks replays reuse): metrics.csv's
    # peak_mem_gib counts allocated memory, the graphs' static inputs, outputs and gradients among it, but not this
    run.summary["graph_gib"] = (unallocated_reserved(run.device) - pool_before) / 2**30


def loss_head_inputs(run: Run, images: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits, targets and labels shaped as a training step on ``images`` hands them to the loss (``LossHead``): the
    model's logits under the run's autocast (a forward without gradients, its random draws undone), labels, and
    targets: the labels, or mixup's soft targets (timm's ``mixup_target``, which draws nothing, where the mixing
    itself would draw from NumPy's generator and change the run's later mixes)."""
    from timm.data.mixup import mixup_target

    labels = torch.zeros(len(images), dtype=torch.long, device=images.device)
    targets = labels if run.mixup is None else mixup_target(labels, run.mixup.num_classes,
                                                             smoothing=run.mixup.label_smoothing)
    with torch.random.fork_rng(devices=[images.device] if images.is_cuda else []), torch.no_grad(), \
            autocast(run.device, run.amp):
        logits = run.model(images)
    return logits, targets, labels


def why_not_graphed(run: Run) -> Optional[str]:
    """Why ``trainer.graph_ffn`` cannot apply to this run, or None."""
    if run.device.type != "cuda":
        return "it needs a CUDA GPU (trainer.device)"
    if compiles(run):
        return ("torch.compile runs the step its own way (as CUDA graphs under reduce-overhead, the one-GPU "
                "default): set trainer.compile=false to graph the sublayers of an eager run")
    if run.ctx.world_size > 1:
        return "it is for one-GPU runs: run python train.py in one process, not under torchrun"
    if refits_ahead(run):
        return ("a grid re-fit (trainer.grid_update, until epoch trainer.grid_update.until_epoch) changes which "
                "kernels a KAN layer runs, which a captured graph cannot follow: set trainer.grid_update.every=0, "
                "which changes the recipe")
    if not feed_forwards(run.model):
        return f"{type(run.model).__name__} has no feed-forward sublayers (modules named {FEED_FORWARD_NAME!r})"
    return None


def refits_ahead(run: Run) -> bool:
    """Whether the run re-fits its KAN grids from here on (``trainer.grid_update``)."""
    gu = run.cfg.trainer.grid_update
    return bool(run.has_kan and gu.every and run.epochs_done < gu.until_epoch)


def open_records(run: Run) -> None:
    """The run's logger (metrics.csv, summary.json, W&B), its config.yaml (a new run's; a resume keeps it), and the
    first line."""
    cfg, ctx, data = run.cfg, run.ctx, run.data
    resolved = OmegaConf.to_container(cfg, resolve=True)
    name = f"{run.spec['model_name']}-{cfg.data.name}-s{cfg.seed}"
    run.logger = RunLogger(run.run_dir, cfg.get("logger"), resolved, name, enabled=ctx.is_main)
    if ctx.is_main and not (cfg.resume and (run.run_dir / "config.yaml").exists()):  # a resume keeps the first
        OmegaConf.save(OmegaConf.create(resolved), run.run_dir / "config.yaml")
    n_params = sum(p.numel() for p in run.model.parameters())
    run.summary.update(model_name=run.spec["model_name"], params=n_params)
    if not ctx.is_main:
        return
    if cfg.resume:
        run.logger.record_resume(cfg, run.epochs_done, run.batches_done)
        dropped = run.logger.drop_epochs_after(run.epochs_done)
        if dropped:
            report(f"metrics.csv: dropped the rows of the {dropped} epoch(s) after epoch {run.epochs_done}, the "
                   f"checkpoint's, which this resume trains again")
    val = "the test split (quick run; tune with data.val_split=holdout)" if data.val_split == "test" else \
        f"the {data.val_split} split"
    report(f"{run.spec['model_name']}: {n_params / 1e6:.2f} M parameters | {cfg.data.name} at {data.img_size} px: "
           f"{data.n_train} train / "
           f"{data.n_val} val images, validating on {val} | {run.device}"
           f"{f' x {ctx.world_size}' if ctx.world_size > 1 else ''}{f', {run.amp} autocast' if run.amp else ''}, "
           f"{run.summary['path']} | set up in {time.perf_counter() - run.wall0:.0f} s (data {run.data_s:.0f} s) | "
           f"run folder {run.run_dir}")
    if cfg.resume:
        report(f"resuming after epoch {run.epochs_done}" + (f", batch {run.batches_done}" if run.batches_done else ""))


def git_commit() -> Optional[str]:
    """The checkout's commit; ``VKAN_COMMIT``, when set, names it instead (code run from a copy of a checkout,
    whose ``.git`` may be missing or stale)."""
    if os.environ.get("VKAN_COMMIT"):
        return os.environ["VKAN_COMMIT"]
    try:
        root = Path(__file__).resolve().parents[1]
        return subprocess.check_output(["git", "rev-parse", "HEAD"], cwd=root, stderr=subprocess.DEVNULL, text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return None


# --- one epoch -----------------------------------------------------------------------------------------------

def train_and_close_epoch(run: Run) -> None:
    """``train_epoch`` then ``end_epoch``. Until the invocation's compiled path has passed its check
    (``check_compiled_scores``), a copy of the epoch's starting state is kept in host memory; if the check fails,
    the run goes back to it and trains the epoch again on graphs compiled afresh (``compile_afresh``), which are
    checked in turn: the check has caught graphs scoring another model after a resume (bench/RESULTS.md), with
    nothing logged. Only the checked epoch is trained again: under ``trainer.eval_every`` > 1 the invocation's
    epochs before it are logged already. The failed check's second pass, the retry's compilation and its epoch are
    not foreseen by ``trainer.pause_after_minutes`` or ``max_minutes``; the epochs after it are."""
    if not check_due(run):
        end_epoch(run, train_epoch(run))
        return
    start = epoch_start(run)
    try:
        end_epoch(run, train_epoch(run))
        return
    except CompiledPathError as err:
        if run.compiled_afresh:  # the afresh graphs' check (a later epoch's under trainer.eval_every > 1)
            raise
        failed = err
    rewind(run, start)
    del start
    compile_afresh(run, failed)
    end_epoch(run, train_epoch(run))


def train_epoch(run: Run) -> EpochTotals:
    """Train the current epoch (from ``run.batches_done`` on a mid-epoch resume); stop at a step on a signal."""
    epoch, total = run.epochs_done, run.steps_per_epoch
    run.net.train()
    run.data.train.set_epoch(epoch, run.batches_done)
    totals, run.partial = run.partial or EpochTotals.zeros(run.device), None
    if run.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(run.device)
    show = run.cfg.trainer.progress_bar and run.ctx.is_main
    t0 = time.perf_counter()
    batches = limited(run.data.train, total - run.batches_done)
    for x, y in progress(batches, total - run.batches_done, f"epoch {epoch + 1}/{run.cfg.trainer.epochs}", show):
        first = run.step == 0 and "compile_s" not in run.summary
        training_step(run, x, y, totals)
        run.batches_done += 1
        run.step += 1
        if first:
            time_first_step(run, t0)
        signum = run.stop.requested(run.step)
        if signum and run.batches_done < total:
            totals.seconds += time.perf_counter() - t0
            stop_mid_epoch(run, totals, signum)
    if run.device.type == "cuda":
        torch.cuda.synchronize(run.device)  # the epoch's time includes the GPU work still queued (end_epoch syncs anyway)
    totals.seconds += time.perf_counter() - t0
    return totals


def training_step(run: Run, x: torch.Tensor, y: torch.Tensor, totals: EpochTotals) -> None:
    """One optimizer step on a batch: grid update (KAN), mixup, forward, loss, backward, clip, step, EMA."""
    cfg = run.cfg.trainer
    x, y = x.to(run.device, non_blocking=True), y.to(run.device, non_blocking=True)
    if refits_ahead(run) and run.step % cfg.grid_update.every == 0:
        refit_grids(run, x)
    targets = y
    if run.mixup is not None:
        x, targets = run.mixup(x, y)
    with autocast(run.device, run.amp):
        loss, sums = run.net(x, targets, y)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip:
        clip_gradients(run.trained, cfg.grad_clip)
    run.optimizer.step()
    run.scheduler.step()
    if run.ema is not None:
        run.ema.update(run.model, step=run.step)
    totals.add(sums, len(y))


def refit_grids(run: Run, x: torch.Tensor) -> None:
    """Re-fit every KAN layer's grid on this batch; every rank adopts rank 0's grids; the EMA follows the grids."""
    with autocast(run.device, run.amp):
        update_grids(run.model, x, max_samples=run.cfg.trainer.grid_update.max_samples)
    dist.broadcast_tensors(t for _, layer in kan_layers(run.model) for t in
                           (layer.grid, layer.spline_weight, layer.spline_scaler) if t is not None)
    if run.ema is not None:
        copy_kan_grids(run.model, run.ema.module)


def time_first_step(run: Run, t0: float) -> None:
    """Record (and say) how long the first step took: compilation, on the compiled path."""
    if run.device.type == "cuda":
        torch.cuda.synchronize(run.device)
    run.summary["compile_s" if run.is_compiled else "first_step_s"] = \
        time.perf_counter() - t0
    if run.ctx.is_main and "compile_s" in run.summary:
        report(f"compiled the training step in {run.summary['compile_s']:.1f} s")


def stop_mid_epoch(run: Run, totals: EpochTotals, signum: int) -> None:
    """Checkpoint this exact step (the epoch's totals included), record it and raise ``Interrupted``."""
    if run.ctx.is_main:
        save_checkpoint(run.run_dir / "checkpoints" / "last.pt", checkpoint_payload(run, totals))
    raise_interrupted(run, signum)


def raise_interrupted(run: Run, signum: int) -> None:
    run.summary.update(status="interrupted", epochs_done=run.epochs_done, batches_done=run.batches_done,
                       wall_time_s=run.wall_time())
    where = f"epoch {run.epochs_done + (1 if run.batches_done else 0)} step {run.batches_done or run.steps_per_epoch}"
    message = f"interrupted at {where}; continue with: python train.py resume={run.run_dir}"
    if run.ctx.is_main:
        report(message)
    raise Interrupted(signum, message)


# --- end of an epoch -----------------------------------------------------------------------------------------

def end_epoch(run: Run, totals: EpochTotals) -> None:
    """Sum the epoch across ranks, evaluate, log, checkpoint; the last epoch also scores the test split once."""
    cfg = run.cfg.trainer
    sums = dist.all_reduce_sum(torch.cat([totals.sums, totals.sums.new_tensor([totals.count])]))
    loss_sum, correct, count = sums.tolist()  # the epoch's one host sync for training metrics
    epoch = run.epochs_done + 1
    if not math.isfinite(loss_sum):
        raise NonFiniteLossError(
            f"training loss became {loss_sum} in epoch {epoch}; stopped before checkpointing it, "
            f"{last_good_state(run)}. Lower optimizer.lr, keep trainer.grad_clip on, or use trainer.precision=fp32")
    run.rates.append(count / totals.seconds)
    if "graph_s" in run.summary:
        count_graph_replays(run)
    row = {"epoch": epoch, "train_loss": loss_sum / count, "train_acc": correct / count,
           "lr": run.optimizer.param_groups[0]["lr"], "img_per_s": count / totals.seconds, "epoch_s": totals.seconds,
           "peak_mem_gib": torch.cuda.max_memory_allocated(run.device) / 2**30 if run.device.type == "cuda" else None}
    run.clock.trained(totals.seconds, run.summary.get("compile_s", run.summary.get("first_step_s", 0.0)))
    final = is_final_epoch(run, epoch)
    scoring = time.perf_counter()
    if epoch % cfg.eval_every == 0 or final:
        row.update(validation_metrics(run))
    if final and cfg.get("score_test", True):
        row.update(test_metrics(run, row))
    if "val_acc" in row:
        row["eval_s"] = time.perf_counter() - scoring  # ends in a host sync; the first also compiles and checks
    check_device_data(run, epoch)  # after the epoch's training and scoring, before anything is logged or saved
    run.epochs_done, run.batches_done = epoch, 0
    improved = {key: row.get(f"val_acc{key}", -1.0) > run.best[f"acc{key}"] for key in ("", "_ema")}
    if improved[""]:
        run.best.update(acc=row["val_acc"], epoch=epoch)
    if improved["_ema"]:
        run.best["acc_ema"] = row["val_acc_ema"]
    row["wall_s"] = run.wall_time()  # as summary.json's wall_time_s counts it: every invocation from train() on
    run.logger.log_epoch(row)
    if run.ctx.is_main:
        report(epoch_line(run, row))
        write_checkpoints(run, row, improved, final)
    update_summary(run, row)
    run.clock.ended()
    signum = run.stop.requested(run.step, force_sync=True)
    if signum and not final:
        save_unsaved_epoch(run)
        raise_interrupted(run, signum)


def count_graph_replays(run: Run) -> None:
    """``trainer.graph_ffn``: the calls of this invocation that replayed their graphs, in summary.json, of the
    feed-forward sublayers (``ffn_graph_replays``) and of the loss where it is graphed (``loss_graph_replays``); a
    warning after an epoch in which either replayed none."""
    counts = {"ffn_graph_replays": ffn_graph_replays(run.model)}
    loss = graph_replays(run.net.loss_head)
    if loss is not None:
        counts["loss_graph_replays"] = loss
    parts = {"ffn_graph_replays": "the feed-forward sublayers", "loss_graph_replays": "the loss"}
    idle = [parts[key] for key, n in counts.items() if n == run.summary.get(key, 0)]
    if idle:
        log.warning("trainer.graph_ffn: this epoch ran %s without the CUDA graphs captured at set-up: its batches or "
                    "autocast differ from the captured ones (trainer.batch_size images of the data's size, under "
                    "trainer.precision's autocast); it trained at eager speed there", " and ".join(idle))
    run.summary.update(counts)


def check_device_data(run: Run, epoch: int) -> None:
    """Stop the run, before it logs or checkpoints ``epoch``, if the images or labels on the device are no longer
    those loaded (``GpuLoader.fingerprint``): something wrote into them, and the epoch's numbers may be wrong."""
    loaders = {name: loader for name, loader in (("training", run.data.train), ("validation", run.data.val),
                                                 ("test", run.data.test)) if loader is not None}
    flags = dist.all_reduce_max(torch.stack([~loader.unchanged() for loader in loaders.values()]).float())
    changed = [name for name, flag in zip(loaders, flags.tolist()) if flag]  # one host sync; every rank agrees
    if changed:
        raise DeviceStateError(
            f"the {' and '.join(changed)} data on {run.device} changed during epoch {epoch} (the sums of its images "
            f"or labels, or its normalising mean or std, differ from those at loading): something wrote into it, so "
            f"this epoch is not logged or checkpointed, and {last_good_state(run)}. Continue with python train.py "
            f"resume={run.run_dir}, which loads the data again, and report it with the run's train.log and "
            f"summary.json")


def last_good_state(run: Run) -> str:
    """What a run that stops before checkpointing its epoch leaves to resume from, in words."""
    last = run.run_dir / "checkpoints" / "last.pt"
    if not last.exists():
        return "no checkpoint has been written yet"
    if run.unsaved is not None:
        return (f"{last} holds the last good state written, from before epoch {run.epochs_done} "
                f"(trainer.checkpoint_every)")
    return f"{last} holds the last good state"


def is_final_epoch(run: Run, epoch: int) -> bool:
    """The last of ``trainer.epochs``, or the last that ``trainer.max_minutes`` leaves room for (every rank
    follows the slowest one's answer); the final epoch is always evaluated and scores the test split."""
    if epoch >= run.cfg.trainer.epochs:
        return True
    if run.clock.budget_s:
        overruns = torch.tensor([float(run.clock.another_overruns(run.is_compiled))], device=run.device)
        run.out_of_time = bool(dist.all_reduce_max(overruns).item())
    return run.out_of_time


def pause_due(run: Run) -> bool:
    """After an epoch: whether ``trainer.pause_after_minutes`` leaves no room for another (every rank follows the
    slowest); the run then pauses, as after ``max_epochs_this_run``: no test scoring, ``resume=`` continues it."""
    minutes = run.cfg.trainer.get("pause_after_minutes")
    if not minutes or run.clock.epochs == 0 or run.epochs_done >= run.cfg.trainer.epochs:
        return False
    tails = 2 if run.epochs_done + 1 == run.cfg.trainer.epochs else 1
    overruns = torch.tensor([float(run.clock.next_epoch_overruns(60 * minutes, tails))], device=run.device)
    if not dist.all_reduce_max(overruns).item():
        return False
    if run.ctx.is_main:
        report(f"pausing after epoch {run.epochs_done}: another would pass trainer.pause_after_minutes={minutes}; "
               f"continue with: python train.py resume={run.run_dir}")
    return True


def validation_metrics(run: Run) -> Dict[str, float]:
    """val_loss / val_acc of the model, and of its EMA when there is one."""
    limit = run.cfg.trainer.limit_val_batches
    out = dict(zip(("val_loss", "val_acc"), evaluate(run.net, run.data.val, run.device, run.amp, limit,
                                                     full_batches=run.is_compiled)))
    check_compiled_scores(run)
    if run.ema is not None:
        out.update(zip(("val_loss_ema", "val_acc_ema"), evaluate(run.ema.module, run.data.val, run.device, run.amp,
                                                                 limit)))
    return out


def epoch_start(run: Run) -> Dict[str, Any]:
    """What ``rewind`` needs to train the coming epoch again: the run's checkpoint payload, serialised in host
    memory (so the device's memory and the epoch's ``peak_mem_gib`` are as without it), and this invocation's
    clock, img/s list and earlier wall time."""
    payload = io.BytesIO()
    torch.save(checkpoint_payload(run, run.partial), payload)
    return {"payload": payload, "clock": copy.deepcopy(run.clock), "rates": list(run.rates),
            "wall_before": run.wall_before}


def rewind(run: Run, start: Dict[str, Any]) -> None:
    """Put the run back where ``epoch_start`` found it: weights, optimizer, schedule, EMA, position, bests, RNGs."""
    run.optimizer.zero_grad(set_to_none=True)  # under CUDA graphs the gradients live in the graphs' memory
    start["payload"].seek(0)
    payload = torch.load(start["payload"], map_location="cpu", weights_only=True)  # as a resume loads last.pt
    run.model.load_state_dict(payload["model"])
    restore(run, payload)
    run.clock, run.rates, run.wall_before = start["clock"], start["rates"], start["wall_before"]


def compile_afresh(run: Run, failed: CompiledPathError) -> None:
    """Drop every compiled graph of the process and compile the model again, torch.compile's on-disk caches off
    until the run ends (``drop_compiled_graphs``); say so in train.log and the summary."""
    epoch = run.epochs_done + 1
    if run.ctx.is_main:
        log.warning(f"epoch {epoch} is trained again from its start on graphs compiled afresh, torch.compile's "
                    f"on-disk caches off until this run ends: the compiled path scored another model "
                    f"(logits {100 * failed.gap:.1f}% apart)")
    run.summary["compiled_afresh"] = {"epoch": epoch, **failed.record}
    run.summary.pop("compile_s", None)  # a new run's first step then times the compilation again
    was = drop_compiled_graphs()
    run.caches_were = was if run.caches_were is None else run.caches_were
    run.net = build_net(run)
    run.compiled_afresh, run.compiled_checked = True, False  # the new graphs' first evaluation is checked too


def test_metrics(run: Run, row: Dict[str, Any]) -> Dict[str, float]:
    """The test split, scored once at the end (the validation numbers when the test split is the val split)."""
    if run.data.test is None:
        return {"test_loss": row.get("val_loss"), "test_acc": row.get("val_acc"), "test_acc_ema": row.get("val_acc_ema")}
    limit = run.cfg.trainer.limit_val_batches
    loss, acc = evaluate(run.net, run.data.test, run.device, run.amp, limit, full_batches=run.is_compiled)
    out = {"test_loss": loss, "test_acc": acc}
    if run.ema is not None:
        out["test_acc_ema"] = evaluate(run.ema.module, run.data.test, run.device, run.amp, limit)[1]
    return out


def epoch_line(run: Run, row: Dict[str, Any]) -> str:
    line = f"epoch {row['epoch']:3d}/{run.cfg.trainer.epochs} | loss {row['train_loss']:.4f} acc {row['train_acc']:.4f}"
    if "val_acc" in row:
        line += f" | val loss {row['val_loss']:.4f} acc {row['val_acc']:.4f}"
    if "val_acc_ema" in row:
        line += f" (EMA {row['val_acc_ema']:.4f})"
    if "test_acc" in row and run.data.test is not None:
        line += f" | test acc {row['test_acc']:.4f}"
    n = run.cfg.trainer.limit_val_batches
    scored = [run.data.val] + ([run.data.test] if "test_acc" in row and run.data.test is not None else [])
    if "val_acc" in row and n and any(n < len(loader) for loader in scored):
        line += f" (on {n} batch{'es' if n > 1 else ''}: trainer.limit_val_batches)"
    line += f" | lr {row['lr']:.2e} | {row['img_per_s']:.0f} img/s | {row['epoch_s']:.1f} s"
    return line + (f" + eval {row['eval_s']:.1f} s" if "eval_s" in row else "")


def checkpoint_payload(run: Run, partial: Optional[EpochTotals] = None, row: Optional[dict] = None) -> Dict[str, Any]:
    """A self-describing checkpoint of the run's exact position (``partial``: the totals of an unfinished epoch)."""
    payload = {**run.spec, "model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(),
               "scheduler": run.scheduler.state_dict(), "epochs_done": run.epochs_done,
               "batches_done": run.batches_done, "step": run.step, "best_val_acc": run.best["acc"],
               "best_epoch": run.best["epoch"], "best_val_acc_ema": run.best["acc_ema"], "rng": rng_state(),
               "config": OmegaConf.to_container(run.cfg, resolve=True), "metrics": row or {},
               "world_size": run.ctx.world_size, "wall_time_s": run.wall_time(),
               "steady_rates": {"setup": run.setup(), "rates": run.steady_rates()}, "format": 2}
    if run.ema is not None:
        payload["ema"] = run.ema.module.state_dict()
    if partial is not None:
        payload["partial"] = partial.state()
    return payload


def write_checkpoints(run: Run, row: Dict[str, Any], improved: Dict[str, bool], final: bool) -> None:
    """last.pt after every ``trainer.checkpoint_every``-th epoch, the final one and every one that improved on the
    best holdout score, when best.pt (best_ema.pt) becomes the same file, linked. An epoch in between stays in
    ``run.unsaved``: ``save_unsaved_epoch`` writes it if this invocation ends there (a pause, a signal)."""
    run.unsaved = row
    if not (final or any(improved.values()) or run.epochs_done % run.cfg.trainer.get("checkpoint_every", 1) == 0):
        return
    save_unsaved_epoch(run)
    folder = run.run_dir / "checkpoints"
    if improved[""]:
        copy_checkpoint(folder / "last.pt", folder / "best.pt")
    if improved["_ema"] and run.ema is not None:
        copy_checkpoint(folder / "last.pt", folder / "best_ema.pt")


def save_unsaved_epoch(run: Run) -> None:
    """Write last.pt for the latest epoch if it is not written yet (nothing has changed since it ended)."""
    if run.ctx.is_main and run.unsaved is not None:
        save_checkpoint(run.run_dir / "checkpoints" / "last.pt", checkpoint_payload(run, row=run.unsaved))
        run.unsaved = None


def update_summary(run: Run, row: Dict[str, Any]) -> None:
    steady = run.steady_rates() or run.rates  # no invocation had a second epoch yet: this one's first (warm-up too)
    run.summary.update(best_val_acc=run.best["acc"], best_epoch=run.best["epoch"], final_val_acc=row.get("val_acc"),
                       epochs_done=run.epochs_done, img_per_s=sum(steady) / len(steady),
                       wall_time_s=run.wall_time())
    if run.ema is not None:
        run.summary.update(best_val_acc_ema=run.best["acc_ema"], final_val_acc_ema=row.get("val_acc_ema"))
    for key in ("test_loss", "test_acc", "test_acc_ema"):
        if row.get(key) is not None:
            run.summary[key] = row[key]
    run.logger.write_summary(run.summary)


# --- the end -------------------------------------------------------------------------------------------------

def finish(run: Run) -> Dict[str, Any]:
    """Status, rank agreement and the last line; the summary is written by the logger."""
    if run.ctx.world_size > 1:
        run.summary["ranks_in_sync"] = dist.ranks_in_sync(run.model)
    done = run.epochs_done >= run.cfg.trainer.epochs or run.out_of_time
    run.summary["status"] = "finished" if done else "paused (resume=<run_dir>)"
    if run.out_of_time:
        run.summary["stopped_by"] = f"trainer.max_minutes={run.cfg.trainer.max_minutes}"
        report(f"stopped after epoch {run.epochs_done} of {run.cfg.trainer.epochs}: another epoch would pass "
               f"trainer.max_minutes={run.cfg.trainer.max_minutes}")
    run.summary["wall_time_s"] = run.wall_time()
    run.logger.write_summary(run.summary)
    if run.ctx.is_main:
        test = f", test acc {run.summary['test_acc']:.4f}" if done and run.summary.get("test_acc") is not None else ""
        report(f"{run.summary['status']}: best val acc {run.best['acc']:.4f} (epoch {run.best['epoch']}){test} | "
               f"results in {run.run_dir}")
    return run.summary


# What a resumed run's summary.json keeps of its earlier invocations' record when it fails before its first epoch
PROGRESS_KEYS = ("params", "best_val_acc", "best_epoch", "best_val_acc_ema", "final_val_acc", "final_val_acc_ema",
                 "epochs_done", "img_per_s", "wall_time_s")


def record_failure(cfg: DictConfig, ctx: dist.DistContext, run: Optional[Run], err: BaseException) -> None:
    """summary.json says how the run ended (interrupted, or failed with the error), whatever step failed."""
    summary = run.summary if run is not None else base_summary(cfg, ctx)
    run_dir = run.run_dir if run is not None else Path(cfg.paths.output_dir)
    if cfg.get("resume"):  # what the earlier invocations recorded (bests, epochs, wall time) stays beside the failure
        with contextlib.suppress(OSError, ValueError, AttributeError):
            earlier = json.loads((run_dir / "summary.json").read_text())
            for key in PROGRESS_KEYS:
                if key in earlier:
                    summary.setdefault(key, earlier[key])
    if not isinstance(err, Interrupted):
        summary.update(status=f"failed: {type(err).__name__}", error=str(err))
    elif summary.get("status") != "interrupted":  # a second signal: stopped without a checkpoint
        summary.update(status="interrupted", error=str(err))
    if isinstance(err, CompiledPathError):  # the check that stopped the run (``compiled_afresh``: the one before it)
        summary["compiled_failed"] = err.record
    if ctx.is_main:
        write_json(run_dir / "summary.json", summary)
        if not isinstance(err, Interrupted):
            log_error_to(f"{summary['status']}: {err}", files=True, exc_info=not isinstance(err, VkanError))
            with contextlib.suppress(AttributeError):  # an error type without attributes: logged twice at worst
                err.in_train_log = True  # a sweep's report of the failed job then goes to the console only


def log_error_to(message: str, files: bool, logger: logging.Logger = log, exc_info: bool = False) -> None:
    """An error line for the run's train.log only (Hydra's file handler; ``files``) or for the console only (the
    other handlers), so that each gets the error once: the console has it as the command line's one-paragraph
    ``error:`` or the sweep's ``job N failed``, train.log from ``record_failure``."""
    record = logger.makeRecord(logger.name, logging.ERROR, __file__, 0, message, None,
                               sys.exc_info() if exc_info else None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler) == files and record.levelno >= handler.level:
            handler.handle(record)

"""The training app's step against the bare training step, side by side in one process (issue 20, point 1).

    python bench/app_step.py                                   # model=vit_kan data=mnist (the app's defaults)
    python bench/app_step.py model=vit data=cifar10 --steps 40 --rounds 3 --json out.json

The run is built as ``train.py`` builds it (``vkan.train.set_up``: data on the device, augmentation, model,
optimizer, schedule, ``torch.compile`` on a GPU, or in an eager one-GPU run the feed-forward sublayers and the loss
as CUDA graphs), in a temporary folder, from the given Hydra overrides. Then three ways of taking ``--steps``
optimizer steps are timed in interleaved rounds (every way sees the same host conditions), each ended by a device
sync:

- ``app``: the app's ``training_step`` on batches from its loader, with the step count advancing as in an epoch
  (so grid updates, EMA and the schedule follow it); the epoch's own bookkeeping (the stop-signal check, an
  all-reduce every 16 steps under torchrun) is left out;
- ``app, one batch``: the same ``training_step`` on one batch held fixed (loader and augmentation left out);
- ``bare``: forward, loss, backward and optimizer step on that batch (``python -m vkan.bench``'s model rows):
  no gradient clipping, schedule, label smoothing, mixing, EMA, KAN penalty, grid updates or metric sums.

With ``--parts-off PART ...``, the one-batch way is also timed without each named part of the app's step in turn
(``clipping``, label ``smoothing``, the ``schedule``'s step, the loss head's CUDA graphs, ``loss-graphs``): what each
part costs a step, or gains. ``smoothing`` runs the loss without its graphs too: compare it with ``loss-graphs``.

    python bench/app_step.py model=vit_kan data=mnist trainer.compile=false --rounds 40 \
        --parts-off loss-graphs clipping

Each round starts with the next way. img/s is the median over rounds; ``vs_bare`` is the median of per-round
ratios. ``app / bare`` is the issue's ratio (target >= 0.9); ``app / app, one batch`` is what the loader and
augmentation cost.

``--profile N`` then runs each way for N more steps under ``torch.profiler`` and says where a step's time goes: the
device's busy time a step (the union of its kernels' and copies' intervals) against the profiled wall time, and
the kernel and graph launches and calls into torch's operators a step (counts, which the host's noise leaves
alone), the host calls with the most self time, with how often each is made a step, and those the app's ways make
beyond the bare step (more self time or more calls a step: what its own work costs the host). A device sync shows
there (``cudaStreamSynchronize``, ``cudaMemcpy`` from pageable memory; the one sync that ends the profiled steps is
among them), and so do the launches that a short device step cannot hide. The profiler's own overhead slows the
host, so its wall times are not the benchmark's.

    python bench/app_step.py model=vit data=synthetic --steps 100 --profile 20 --json out.json

``--checkpoints N`` then writes the run's checkpoint N times as an epoch's end does (``vkan.train.checkpoint_payload``
through ``vkan.checkpoint.save_checkpoint``, into the temporary folder) and gives the median time and the file's
size, beside the time an epoch's training takes at the app's img/s: what the checkpoint costs an epoch.

    python bench/app_step.py experiment=cifar10 model=vit_kan --checkpoints 5
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence
from unittest.mock import patch

import torch
import torch.nn as nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def build_run(overrides: List[str], out_dir: Path):
    """A run as train.py sets it up (``vkan.train.set_up``) from Hydra ``overrides``, writing into ``out_dir``."""
    from hydra import compose, initialize_config_dir
    from omegaconf import open_dict

    from vkan import distributed as dist
    from vkan.config import validate
    from vkan.interrupt import StopSignal
    from vkan.train import set_up

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["logger=none", "trainer.progress_bar=false", *overrides])
    with open_dict(cfg):
        cfg.paths.output_dir = str(out_dir)
    validate(cfg)
    return set_up(cfg, dist.setup(), StopSignal())


PARTS = ("clipping", "smoothing", "schedule", "loss-graphs")  # what ``--parts-off`` can switch off, one at a time


@contextmanager
def part_off(run, part: str):
    """The app's ``training_step`` without one of its ``PARTS`` inside the block: gradient clipping
    (``trainer.grad_clip`` null), label smoothing (the loss as plain cross-entropy, run by the loss head itself where
    the run has it as CUDA graphs), the schedule's step, or the loss head's CUDA graphs (``trainer.graph_ffn``: the
    same loss run by the head itself)."""
    from omegaconf import open_dict

    from vkan.engine import ModelWithLoss

    if part == "clipping":
        clip = run.cfg.trainer.grad_clip
        with open_dict(run.cfg):
            run.cfg.trainer.grad_clip = None
        try:
            yield
        finally:
            with open_dict(run.cfg):
                run.cfg.trainer.grad_clip = clip
    elif part in ("smoothing", "loss-graphs"):
        if not isinstance(run.net, ModelWithLoss):
            raise ValueError(f"--parts-off {part} changes the loss head of an eager one-process run's ModelWithLoss; "
                             f"this run's net is a {type(run.net).__name__} (compiled or under torchrun): add "
                             f"trainer.compile=false")
        if part == "smoothing" and run.mixup is not None:
            raise ValueError("--parts-off smoothing: under mixup the smoothing is in mixup's targets, which plain "
                             "cross-entropy reads as the soft-target loss does; leave trainer.mixup and cutmix at 0")
        head = run.net.loss_head  # its own forward, not its graphs where the run has them (trainer.graph_ffn)
        criterion = nn.CrossEntropyLoss() if part == "smoothing" else head.criterion
        with patch.object(head, "criterion", criterion), \
                patch.object(head, "forward", type(head).forward.__get__(head)):
            yield
    elif part == "schedule":
        with patch.object(run.scheduler, "step", lambda: None):
            yield
    else:
        raise ValueError(f"unknown part {part!r}; one of {', '.join(PARTS)}")


def step_loops(run, parts_off: Sequence[str] = ()) -> Dict[str, Callable[[int], int]]:
    """{way: a function taking n optimizer steps that way and returning the images it saw}; ``parts_off`` (of
    ``PARTS``) adds ``app, one batch`` without each of them in turn (``part_off``)."""
    from vkan.engine import autocast
    from vkan.run_state import EpochTotals
    from vkan.train import training_step

    batches = iter(())
    x0, y0 = next(iter(run.data.train))

    def next_batch():
        nonlocal batches
        try:
            return next(batches)
        except StopIteration:  # a new epoch of the loader
            batches = iter(run.data.train)
            return next(batches)

    def app(n: int, one_batch: bool = False) -> int:
        totals = EpochTotals.zeros(run.device)
        for _ in range(n):
            x, y = (x0, y0) if one_batch else next_batch()
            training_step(run, x, y, totals)
            run.step += 1  # as train_epoch does: grid updates, EMA warm-up and the schedule follow the step
        return totals.count

    def app_one_batch(n: int) -> int:
        return app(n, one_batch=True)

    def bare(n: int) -> int:
        for _ in range(n):
            with autocast(run.device, run.amp):
                loss = nn.functional.cross_entropy(run.net(x0).float(), y0)
            run.optimizer.zero_grad(set_to_none=True)  # before the backward, as training_step: with graphed
            loss.backward()  # sublayers (trainer.graph_ffn) the gradients are the graphs' buffers
            run.optimizer.step()
        return n * len(y0)

    def without(part: str) -> Callable[[int], int]:
        def loop(n: int) -> int:
            with part_off(run, part):
                return app(n, one_batch=True)
        return loop

    loops = {"app": app, "app, one batch": app_one_batch}
    loops.update({f"app, one batch, no {part}": without(part) for part in parts_off})
    return {**loops, "bare": bare}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(run, steps: int, rounds: int, parts_off: Sequence[str] = ()) -> List[dict]:
    """Rows per way (``step_loops``): img/s (median over rounds) and the per-round ratio to ``bare`` (median, min,
    max)."""
    from vkan.bench import per_round_ratios

    loops = step_loops(run, parts_off)
    for loop in loops.values():  # warm-up: compilation, allocator, first-call work
        loop(2)
    sync(run.device)
    rates: Dict[str, List[float]] = {way: [] for way in loops}
    ways = list(loops)
    for r in range(rounds):
        for way in ways[r % len(ways):] + ways[:r % len(ways)]:  # each round starts with the next way
            loop = loops[way]
            t0 = time.perf_counter()
            images = loop(steps)
            sync(run.device)
            rates[way].append(images / (time.perf_counter() - t0))
    rows = []
    for way, values in rates.items():
        ratio, low, high = per_round_ratios(values, rates["bare"])
        rows.append({"way": way, "img_per_s": statistics.median(values), "vs_bare": ratio, "vs_bare_min": low,
                     "vs_bare_max": high, "rounds": values})
    return rows


def device_busy_us(events) -> float:
    """How long the device was busy, in µs: the union of the intervals of its kernels and copies (profiler events
    on the CUDA device, user annotations left out; streams may overlap, so intervals are merged, not added)."""
    from torch.autograd import DeviceType

    spans = sorted((e.time_range.start, e.time_range.end) for e in events
                   if e.device_type == DeviceType.CUDA and not e.is_user_annotation)
    busy, reached = 0.0, float("-inf")
    for begin, end in spans:
        if end > reached:
            busy += end - max(begin, reached)
            reached = end
    return busy


def profile(run, steps: int, top: Optional[int] = 8, parts_off: Sequence[str] = ()) -> List[dict]:
    """Per way (``step_loops``), ``steps`` steps under ``torch.profiler`` after one unprofiled step: profiled wall ms
    a step, the device's busy ms a step (``device_busy_us``; None on a CPU), launches and operator calls a step
    (``host_work``) and the ``top`` host calls by self time (all with None), each with its ms and calls a step; the
    ways other than ``bare`` also get ``beyond_bare``, their ``top`` calls by self time more than the bare step's
    (``beyond``). The region ends with one device sync, which is among the calls."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    on_gpu = run.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_gpu else [])
    rows, every = [], {}
    for way, loop in step_loops(run, parts_off).items():
        loop(1)  # the loader's epoch start and any first-call work stay outside
        sync(run.device)
        with torch_profile(activities=activities) as prof:
            t0 = time.perf_counter()
            loop(steps)
            sync(run.device)
            wall = time.perf_counter() - t0
        host = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
        every[way] = [{"name": e.key, "self_ms": e.self_cpu_time_total / 1e3 / steps, "calls": e.count / steps}
                      for e in host]
        rows.append({"way": way, "wall_ms": 1e3 * wall / steps,
                     "device_busy_ms": device_busy_us(prof.events()) / 1e3 / steps if on_gpu else None,
                     **host_work(every[way]),
                     "host_calls": [c for c in every[way] if c["self_ms"] > 0][:top]})
    for row in rows:
        if row["way"] != "bare":
            row["beyond_bare"] = beyond(every[row["way"]], every["bare"])[:top]
    return rows


LAUNCHES = ("cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cuLaunchKernelEx", "cudaGraphLaunch")


def host_work(calls: List[dict]) -> dict:
    """What the host does a step, counted rather than timed (``profile``'s calls a step): ``launches``, the kernel
    and graph launches (``LAUNCHES``), and ``aten_ops``, the calls into torch's operators, nested ones included."""
    return {"launches": sum(c["calls"] for c in calls if c["name"] in LAUNCHES),
            "aten_ops": sum(c["calls"] for c in calls if c["name"].startswith("aten::"))}


def beyond(calls: List[dict], reference: List[dict]) -> List[dict]:
    """The host calls of ``calls`` (``profile``'s, a step) whose self time or count a step exceeds ``reference``'s,
    with the differences (``self_ms``, ``calls``), most self time first: what one way's step does beyond another's."""
    ref = {c["name"]: c for c in reference}
    more = []
    for c in calls:
        base = ref.get(c["name"], {"self_ms": 0.0, "calls": 0.0})
        extra = {"name": c["name"], "self_ms": c["self_ms"] - base["self_ms"], "calls": c["calls"] - base["calls"]}
        if extra["self_ms"] > 0 or extra["calls"] > 0:
            more.append(extra)
    return sorted(more, key=lambda c: c["self_ms"], reverse=True)


def print_profile(rows: List[dict]) -> None:
    print("| way (profiled) | wall ms a step | device busy ms a step | launches, aten ops a step | host calls with the "
          "most self time: ms, calls a step |")
    print("|---|---|---|---|---|")
    for r in rows:
        busy = "-" if r["device_busy_ms"] is None else f"{r['device_busy_ms']:.2f}"
        calls = "; ".join(f"{c['name']} {c['self_ms']:.2f}, {c['calls']:g}" for c in r["host_calls"])
        print(f"| {r['way']} | {r['wall_ms']:.2f} | {busy} | {r['launches']:g}, {r['aten_ops']:g} | {calls} |")
    print("| way (profiled) | host calls beyond the bare step's, by self time: + ms, + calls a step |")
    print("|---|---|")
    for r in (r for r in rows if "beyond_bare" in r):
        extra = "; ".join(f"{c['name']} {c['self_ms']:+.2f}, {c['calls']:+g}" for c in r["beyond_bare"])
        print(f"| {r['way']} | {extra} |")


def time_checkpoints(run, n: int) -> dict:
    """The epoch end's checkpoint write, ``n`` times (each after a device sync, so earlier work is not counted):
    the median and every time in seconds, and the file's size in MB."""
    from vkan.checkpoint import save_checkpoint
    from vkan.train import checkpoint_payload

    path = run.run_dir / "checkpoints" / "timed.pt"
    seconds = []
    for _ in range(n):
        sync(run.device)
        t0 = time.perf_counter()
        save_checkpoint(path, checkpoint_payload(run, row={}))
        seconds.append(time.perf_counter() - t0)
    return {"save_s": statistics.median(seconds), "saves_s": seconds, "mb": path.stat().st_size / 1e6}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for train.py (default: model=vit_kan data=mnist)")
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps per way and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--parts-off", nargs="+", choices=PARTS, default=[], metavar="PART",
                        help="also time the one-batch app step without each of these parts in turn: "
                             + ", ".join(PARTS) + " (smoothing also runs the loss without its graphs)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="then N steps of each way under torch.profiler: device busy time and host calls a step")
    parser.add_argument("--checkpoints", type=int, default=0, metavar="N",
                        help="then write the run's checkpoint N times: median seconds and size, against an epoch")
    parser.add_argument("--json", type=Path, help="also write the rows (and the run's facts) here")
    args = parser.parse_args(argv)
    from vkan import distributed as dist
    from vkan.run_logger import write_json

    with tempfile.TemporaryDirectory(prefix="vkan_app_step_") as tmp:
        run = build_run(args.overrides, Path(tmp))
        failed = True
        try:
            rows = measure(run, args.steps, args.rounds, args.parts_off)
            profiled = profile(run, args.profile, parts_off=args.parts_off) if args.profile > 0 else []
            checkpoint = time_checkpoints(run, args.checkpoints) if args.checkpoints > 0 else None
            failed = False
        finally:
            run.logger.finish(failed=failed)
            dist.cleanup(run.ctx)
        facts = {"model": run.spec["model_name"], "data": run.cfg.data.name, "batch": run.cfg.trainer.batch_size,
                 "device": str(run.device), "path": run.summary["path"], "overrides": args.overrides,
                 "git_commit": run.summary["git_commit"], "steps_taken": run.step,
                 "steps_per_epoch": run.steps_per_epoch}
    print(f"# {facts['model']} on {facts['data']}, batch {facts['batch']}, {facts['device']}, {facts['path']}")
    print("| way | img/s | vs bare (median, min-max over rounds) |\n|---|---|---|")
    for r in rows:
        print(f"| {r['way']} | {r['img_per_s']:,.0f} | {r['vs_bare']:.2f} ({r['vs_bare_min']:.2f}-{r['vs_bare_max']:.2f}) |")
    if profiled:
        print_profile(profiled)
    if checkpoint:
        app = next(r for r in rows if r["way"] == "app")
        checkpoint["epoch_train_s"] = facts["steps_per_epoch"] * facts["batch"] / app["img_per_s"]
        print(f"checkpoint: {checkpoint['mb']:.1f} MB, written in {checkpoint['save_s']:.3f} s (median of "
              f"{args.checkpoints}), against {checkpoint['epoch_train_s']:.2f} s to train an epoch of "
              f"{facts['steps_per_epoch']} steps at the app's {app['img_per_s']:,.0f} img/s")
    if args.json:
        write_json(args.json, {**facts, "rows": rows, "profile": profiled, "checkpoint": checkpoint})


if __name__ == "__main__":
    main()

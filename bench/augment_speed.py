"""StrongAugment's speed on the GPU, next to one training step of the model it feeds, in one process.

    python bench/augment_speed.py                          # every policy and mode, both sizes
    python bench/augment_speed.py --sizes cifar --modes compiled,cudagraphs --json aug.json
    python bench/augment_speed.py --cpu-smoke              # tiny sizes on the CPU: the script runs end to end

Sizes: ``cifar`` (512 images of 32 px, vit_kan_tiny_patch4_32) and ``photo`` (128 of 224 px,
vit_kan_small_patch16_224). An augmentation row times the policy's part of a ``GpuLoader`` batch (which compiles it
with its views and normalisation): re-seed the generator, uint8 -> float, ``StrongAugment`` (each policy at its defaults plus erasing 0.25; ``erasing``
is erasing alone), with ``triton.testing.do_bench`` (median). Modes: ``eager``; ``compiled``, ``transform``
under ``torch.compile``; ``cudagraphs``, the same with ``mode="reduce-overhead"``. The step row times AdamW +
bf16 autocast forward/backward of the compiled model at the same batch (``vkan.bench.triton_time_ms``);
``pct_of_step`` = augmentation time / step time. ``host_syncs``: synchronising CUDA calls in one warm
augmentation call (``torch.cuda.set_sync_debug_mode``; the first one's place is printed); ``kernels``:
device kernels it launches; ``differs_from_eager``: share of output values of a compiled row more than 1
grey level away from the eager output for the same seed (nearest-pixel rounding at borders).
"""
from __future__ import annotations

import argparse
import json
import time
import traceback
import warnings
from typing import Callable, Dict, List, Optional

import torch
import torch.nn.functional as F

from vkan.data.augment import StrongAugment

AUGMENTS = {  # name -> StrongAugment kwargs
    "randaugment": dict(policy="randaugment", num_ops=2, magnitude=9, erasing=0.25),
    "trivialaugment": dict(policy="trivialaugment", erasing=0.25),
    "autoaugment": dict(policy="autoaugment", erasing=0.25),
    "erasing": dict(policy="none", erasing=0.25),
}
SIZES = {"cifar": (512, 32, "vit_kan_tiny_patch4_32"), "photo": (128, 224, "vit_kan_small_patch16_224")}
SMOKE_SIZES = {"cifar": (2, 32, "vit_kan_tiny_patch4_32"), "photo": (2, 64, "vit_kan_small_patch16_224")}
COMPILE = {"eager": False, "compiled": True, "cudagraphs": "reduce-overhead"}  # mode -> StrongAugment(compile=)
TARGET_IMG_PER_S = 250_000  # CIFAR batches: about 2 ms per batch of 512


def time_ms(fn: Callable[[], object], device: torch.device, rep_ms: int) -> float:
    """Median ms per call: do_bench on CUDA; on the CPU (smoke runs) the time of one call after a first."""
    if device.type == "cuda":
        from vkan.bench import triton_time_ms

        return triton_time_ms(fn, rep_ms=rep_ms)
    fn()
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def train_step(name: str, batch: int, img: int, device: torch.device, compiled: bool) -> Callable[[], None]:
    """One AdamW step of ``name`` on random data under bf16 autocast, already run (compiled, warm)."""
    import timm

    import vkan  # noqa: F401  (registers the models)

    torch.manual_seed(0)
    model = timm.create_model(name, num_classes=10, img_size=img).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    run = torch.compile(model) if compiled else model
    x = torch.randn(batch, 3, img, img, device=device)
    y = torch.randint(0, 10, (batch,), device=device)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss = F.cross_entropy(run(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(3 if device.type == "cuda" else 1):
        step()
    return step


def host_syncs_and_kernels(call: Callable[[], torch.Tensor], device: torch.device):
    """(synchronising CUDA calls, where the first is, device kernels) of one call; Nones off CUDA."""
    if device.type != "cuda":
        return None, None, None
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            call()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    # only the per-op message: set_sync_debug_mode itself warns once per process that it is a prototype
    syncs = sum("called a synchronizing" in str(w.message) for w in caught)
    where = None
    if syncs:
        torch.cuda.set_sync_debug_mode("error")
        try:
            call()
        except RuntimeError as err:
            frames = traceback.extract_tb(err.__traceback__)[-2:]
            where = " <- ".join(f"{f.filename.split('/')[-1]}:{f.lineno} {f.name}" for f in reversed(frames))
        finally:
            torch.cuda.set_sync_debug_mode("default")
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        call()
        torch.cuda.synchronize()
    kernels = sum(1 for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA)
    return syncs, where, kernels


def augment_row(name: str, images: torch.Tensor, mode: str, rep_ms: int,
                eager_out: Optional[torch.Tensor]) -> Dict:
    """Times one augmentation config on ``images`` (B, 3, S, S) uint8, the policy alone (GpuLoader compiles it with its views)."""
    device = images.device
    aug = StrongAugment(**AUGMENTS[name], compile=COMPILE[mode])
    gen = torch.Generator(device=device)

    def call(seed: int = 1) -> torch.Tensor:
        gen.manual_seed(seed)  # the loader re-seeds per batch; a host-side op
        return aug(images.float(), gen)

    t0 = time.perf_counter()
    out = call(0).clone()  # builds the tables (host-to-device copies) and compiles; a CUDA-graph output is
    # overwritten by the next replay, hence the clone
    if device.type == "cuda":
        torch.cuda.synchronize()
    first_s = time.perf_counter() - t0
    syncs, sync_at, kernels = host_syncs_and_kernels(call, device)
    ms = time_ms(call, device, rep_ms)
    row = {"augment": name, "mode": mode, "batch": images.shape[0],
           "img": images.shape[-1], "ms": ms, "img_per_s": images.shape[0] / ms * 1e3, "first_call_s": first_s,
           "host_syncs": syncs, "sync_at": sync_at, "kernels": kernels, "out": out}
    if eager_out is not None:
        row["differs_from_eager"] = ((out - eager_out).abs() > 1).float().mean().item()
    return row


def bench_size(size: str, batch: int, img: int, model: str, modes: List[str], augments: List[str],
               device: torch.device, rep_ms: int, skip_step: bool) -> List[Dict]:
    rows = []
    step_ms = None
    if not skip_step:
        step = train_step(model, batch, img, device, compiled=device.type == "cuda")
        step_ms = time_ms(step, device, rep_ms)
        rows.append({"size": size, "augment": f"train step: {model}", "mode": "compiled" if device.type == "cuda"
                     else "eager", "batch": batch, "img": img, "ms": step_ms, "img_per_s": batch / step_ms * 1e3})
        print("measured:", rows[-1], flush=True)
        del step
    images = torch.randint(0, 256, (batch, 3, img, img), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0)).to(device)
    for name in augments:
        eager_out = None
        for mode in modes:
            row = augment_row(name, images, mode, rep_ms, eager_out)
            out = row.pop("out")
            if mode == "eager":
                eager_out = out
            row.update(size=size, pct_of_step=100 * row["ms"] / step_ms if step_ms else None)
            rows.append(row)
            print("measured:", row, flush=True)
    return rows


def markdown(rows: List[Dict], cols: List[str]) -> str:
    def fmt(v):
        return f"{v:.3g}" if isinstance(v, float) else ("" if v is None else str(v))

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    return "\n".join(lines + ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="cifar,photo", help=f"comma list of {sorted(SIZES)}")
    parser.add_argument("--augments", default=",".join(AUGMENTS), help=f"comma list of {list(AUGMENTS)}")
    parser.add_argument("--modes", default=None,
                        help=f"comma list of {list(COMPILE)} (default all; eager on --cpu-smoke)")
    parser.add_argument("--rep-ms", type=int, default=200, help="do_bench's measuring time per row")
    parser.add_argument("--skip-step", action="store_true", help="time the augmentations only")
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny batches on the CPU, to check the script runs")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    if args.cpu_smoke:
        device, sizes, modes = torch.device("cpu"), SMOKE_SIZES, (args.modes or "eager").split(",")
        torch.set_num_threads(1)  # tiny tensors: a second thread only waits at barriers (8x slower on a busy host)
    elif torch.cuda.is_available():
        device, sizes, modes = torch.device("cuda"), SIZES, (args.modes or ",".join(COMPILE)).split(",")
    else:
        raise SystemExit("augment_speed needs a CUDA GPU (or --cpu-smoke)")
    # one compiled transform per (config, size): more than dynamo's default of 8 recompiles of one function
    torch._dynamo.config.recompile_limit = 64
    out = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu", "torch": torch.__version__,
           "rows": []}
    print(f"# {out['device']}, torch {out['torch']}", flush=True)
    for size in args.sizes.split(","):
        batch, img, model = sizes[size]
        out["rows"] += bench_size(size, batch, img, model, modes, args.augments.split(","), device, args.rep_ms,
                                  args.skip_step)
        if args.json:  # after each size, so that an interrupted run keeps what it measured
            with open(args.json, "w") as f:
                json.dump(out, f, indent=1)
    print(markdown(out["rows"], ["size", "augment", "mode", "batch", "img", "ms", "img_per_s", "pct_of_step",
                                 "host_syncs", "kernels", "first_call_s", "differs_from_eager"]))
    for row in out["rows"]:
        if row.get("sync_at"):
            print(f"host sync in {row['augment']} ({row['mode']}, {row['img']} px): {row['sync_at']}")
    print(f"target: {TARGET_IMG_PER_S:,} img/s on CIFAR batches")


if __name__ == "__main__":
    main()

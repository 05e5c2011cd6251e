"""torchrun / DistributedDataParallel plumbing; every helper is a no-op in a single process."""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import torch
import torch.distributed as tdist
import torch.nn as nn


@dataclass
class DistContext:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup() -> DistContext:
    """Join the process group torchrun describes (WORLD_SIZE > 1): NCCL on GPUs, gloo on CPUs."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and os.environ.get("VKAN_DIST_BACKEND", "") != "gloo"
    device = torch.device(f"cuda:{local}") if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    owns = not tdist.is_initialized()
    if owns:
        tdist.init_process_group("nccl" if use_cuda else "gloo", rank=rank, world_size=world)
    return DistContext(rank, local, world, device, owns)


def cleanup(ctx: DistContext) -> None:
    if ctx.owns_group and tdist.is_initialized():
        tdist.destroy_process_group()


def wrap(model: nn.Module, ctx: DistContext, bucket_cap_mb: float = 25, static_graph: bool = False,
         comm_dtype: str = "fp32") -> nn.Module:
    """DistributedDataParallel around ``model`` when there are several processes.

    Gradients are reduced straight out of the buckets (``gradient_as_bucket_view``: no copy per step);
    ``static_graph`` lets DDP skip its per-step search for unused parameters; ``comm_dtype="bf16"`` sends
    gradients in bf16 (half the bytes; PyTorch's bf16 compression hook, NCCL only)."""
    if ctx.world_size <= 1:
        return model
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    ddp = nn.parallel.DistributedDataParallel(model, device_ids=ids, bucket_cap_mb=bucket_cap_mb,
                                              gradient_as_bucket_view=True, static_graph=static_graph)
    if comm_dtype == "bf16" and ctx.device.type == "cuda":
        from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

        ddp.register_comm_hook(None, default_hooks.bf16_compress_hook)
    return ddp


def world_size() -> int:
    """Number of processes in the group (1 without one)."""
    return tdist.get_world_size() if tdist.is_available() and tdist.is_initialized() else 1


def default_device() -> torch.device:
    """The device collectives run on: this rank's GPU under NCCL, else the CPU."""
    if tdist.is_available() and tdist.is_initialized() and tdist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    if tdist.is_available() and tdist.is_initialized():
        t = t.clone()
        tdist.all_reduce(t)
    return t


def all_reduce_max(t: torch.Tensor) -> torch.Tensor:
    if tdist.is_available() and tdist.is_initialized():
        t = t.clone()
        tdist.all_reduce(t, op=tdist.ReduceOp.MAX)
    return t


def barrier() -> None:
    if tdist.is_available() and tdist.is_initialized():
        tdist.barrier()


@contextmanager
def local_main_first(ctx: DistContext) -> Iterator[None]:
    """Each machine's local rank 0 runs the block first, the other ranks after it: a dataset is downloaded, or a
    photo set decoded and cached, once per machine, and the others read its files. A no-op in a single process."""
    if ctx.world_size > 1 and ctx.local_rank != 0:
        barrier()
    try:
        yield
    finally:  # also when rank 0 fails: the others go on and meet the same error instead of waiting for it
        if ctx.world_size > 1 and ctx.local_rank == 0:
            barrier()


def broadcast_object(obj: Any) -> Any:
    """Rank 0's value of ``obj`` on every rank (e.g. the run folder, so all ranks agree)."""
    if not (tdist.is_available() and tdist.is_initialized()):
        return obj
    box = [obj]
    tdist.broadcast_object_list(box, src=0)
    return box[0]


def broadcast_tensors(tensors: Iterable[torch.Tensor]) -> None:
    """Overwrite ``tensors`` on every rank with rank 0's values (after per-rank in-place updates)."""
    if tdist.is_available() and tdist.is_initialized():
        for t in tensors:
            tdist.broadcast(t.data, src=0)


def ranks_in_sync(model: nn.Module) -> bool:
    """Whether every rank holds bit-identical parameters (a checksum per rank, gathered and compared)."""
    if not (tdist.is_available() and tdist.is_initialized()):
        return True
    flat = torch.cat([p.detach().double().flatten() for p in model.parameters()])
    ramp = torch.arange(1, flat.numel() + 1, device=flat.device, dtype=torch.float64) / flat.numel()
    sums = torch.stack([flat.sum(), (flat * ramp).sum(), flat.square().sum()])  # (3,)
    gathered = [torch.empty_like(sums) for _ in range(tdist.get_world_size())]
    tdist.all_gather(gathered, sums)
    return all(torch.equal(g, gathered[0]) for g in gathered)

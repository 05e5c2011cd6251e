"""Self-describing checkpoints: atomic save, clear errors on corrupt files, ``load_run`` for notebooks."""
from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np
import timm
import torch
from omegaconf import DictConfig, OmegaConf

import vkan.models  # noqa: F401  (registers the vkan models with timm before create_model)
from vkan.errors import CheckpointError

CHECKPOINTS = {"best": "best.pt", "last": "last.pt", "best_ema": "best_ema.pt", "last_ema": "last.pt"}


def rng_state() -> Dict[str, Any]:
    """Every RNG the training loop draws from (python, numpy, torch CPU and CUDA)."""
    np_state = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:]),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: Dict[str, Any]) -> None:
    random.setstate(tuple(v if not isinstance(v, list) else tuple(v) for v in state["python"]))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy(), *rest))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, payload: Dict[str, Any]) -> None:
    """Write to a temporary file in the same folder, then rename: a crash never leaves a half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def copy_checkpoint(source: Path, target: Path) -> None:
    """``target`` becomes a copy of the checkpoint file ``source`` (a hard link where the file system has them: no
    second serialisation), atomically; a later ``save_checkpoint`` to ``source`` replaces its file and leaves
    ``target`` as it was."""
    if target.exists() and os.path.samefile(source, target):
        return  # already the same file (renaming one link of a file onto another would leave the temporary name)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:  # no hard links here (some network or FAT file systems): copy the bytes
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def load_checkpoint(path: Union[str, Path], map_location: Union[str, torch.device] = "cpu") -> Dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint`` (tensors and plain containers only)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; a run folder holds checkpoints/last.pt and best.pt. Use "
                              f"{_other_checkpoint(path)} or train again")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, pickle garbage, ...: torch's own advice does not apply here
        raise CheckpointError(f"{path} is corrupt or truncated and cannot be read ({type(e).__name__}); use "
                              f"{_other_checkpoint(path)} or train again") from None
    missing = {"model_name", "model_kwargs", "model"} - set(ckpt if isinstance(ckpt, dict) else ())
    if missing:
        raise CheckpointError(f"{path} is not a vkan checkpoint (missing {sorted(missing)}); use "
                              f"{_other_checkpoint(path)}")
    return ckpt


def _other_checkpoint(path: Path) -> str:
    """What an error about ``path`` suggests instead: the run's other checkpoints, if it has any."""
    others = [p.name for p in sorted(path.parent.glob("*.pt")) if p != path]
    return f"the run's other checkpoint ({', '.join(others)})" if others else "another run's checkpoint"


def epochs_done(ckpt: Dict[str, Any]) -> int:
    """Completed epochs (1-based, like metrics.csv); checkpoints before this field stored the 0-based last epoch."""
    return int(ckpt["epochs_done"]) if "epochs_done" in ckpt else int(ckpt.get("epoch", -1)) + 1


def build_model_from_checkpoint(ckpt: Dict[str, Any], weights: str = "model") -> torch.nn.Module:
    """Rebuild the timm model a checkpoint describes and load its weights (grids included): ``weights`` is
    "model" or "ema" (the exponential moving average, when the run kept one)."""
    if weights not in ckpt:
        raise CheckpointError(f"this checkpoint has no {weights!r} weights (the run kept no EMA: "
                              f"trainer.ema.decay was 0)")
    kwargs = dict(ckpt["model_kwargs"])
    if ckpt["model_name"].startswith("vit_kan_") and "kan_hidden" not in kwargs:
        kwargs.setdefault("kan_hidden_multiple", 1)  # saved before checkpoints named the width: the matched one
    model = timm.create_model(ckpt["model_name"], **kwargs)
    model.load_state_dict(ckpt[weights])
    return model


@dataclass
class LoadedRun:
    """A trained model with the facts of its run: ``epoch`` counts like metrics.csv (1 = after the first
    epoch), ``config`` is the run's OmegaConf config."""

    model: torch.nn.Module
    config: DictConfig
    epoch: int
    checkpoint_path: Path
    summary: Optional[Dict[str, Any]]


def load_run(run_dir: Union[str, Path], which: str = "best", device: Union[str, torch.device] = "cpu") -> LoadedRun:
    """Rebuild the trained model of a run folder from the folder alone. ``which``: "best" (best validation
    accuracy), "last", "best_ema" or "last_ema" (the EMA weights, for runs with ``trainer.ema.decay > 0``)."""
    if which not in CHECKPOINTS:
        raise CheckpointError(f"which={which!r}: choose one of {', '.join(CHECKPOINTS)}")
    run_dir = Path(run_dir)
    path = run_dir / "checkpoints" / CHECKPOINTS[which]
    ckpt = load_checkpoint(path)
    model = build_model_from_checkpoint(ckpt, "ema" if which.endswith("_ema") else "model").to(device).eval()
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
    return LoadedRun(model, OmegaConf.create(ckpt.get("config", {})), epochs_done(ckpt), path, summary)

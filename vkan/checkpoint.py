"""Self-describing checkpoints: atomic save, clear errors on corrupt files, ``load_run`` for notebooks."""
from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np
import timm
import torch

import vkan.models  # noqa: F401  (registers the vkan models with timm before create_model)


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated or not a vkan checkpoint; the message says what to do."""


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


def load_checkpoint(path: Union[str, Path], map_location: Union[str, torch.device] = "cpu") -> Dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint`` (tensors and plain containers only)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; a run folder holds checkpoints/last.pt and best.pt")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, pickle garbage, ...
        raise CheckpointError(f"{path} is corrupt or truncated ({type(e).__name__}: {e}); use the run's other "
                              f"checkpoint (best.pt / last.pt) or train again") from e
    missing = {"model_name", "model_kwargs", "model"} - set(ckpt if isinstance(ckpt, dict) else ())
    if missing:
        raise CheckpointError(f"{path} is not a vkan checkpoint (missing {sorted(missing)})")
    return ckpt


def build_model_from_checkpoint(ckpt: Dict[str, Any]) -> torch.nn.Module:
    """Rebuild the timm model a checkpoint describes and load its weights (grids included)."""
    model = timm.create_model(ckpt["model_name"], **ckpt["model_kwargs"])
    model.load_state_dict(ckpt["model"])
    return model


@dataclass
class LoadedRun:
    """A trained model with the facts of its run."""

    model: torch.nn.Module
    config: Dict[str, Any]
    epoch: int
    checkpoint_path: Path
    summary: Optional[Dict[str, Any]]


def load_run(run_dir: Union[str, Path], which: str = "best", device: Union[str, torch.device] = "cpu") -> LoadedRun:
    """Rebuild the trained model of a run folder from the folder alone (``which`` = "best" or "last")."""
    run_dir = Path(run_dir)
    ckpt = load_checkpoint(run_dir / "checkpoints" / f"{which}.pt")
    model = build_model_from_checkpoint(ckpt).to(device).eval()
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
    return LoadedRun(model, ckpt.get("config", {}), ckpt.get("epoch", -1), run_dir / "checkpoints" / f"{which}.pt", summary)

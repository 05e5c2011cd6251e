"""Fixed, stratified divisions of a labelled set: the holdout that tuning uses, and flowers' 80/20 test split.

The seed of a division is fixed here, never the run's ``seed``: every run, sweep and model sees the same
images in each part, so numbers from different runs are comparable.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
import torch

SPLIT_SEED = 0  # seed of every fixed division (flowers 80/20, holdouts)


def stratified_split(labels: torch.Tensor, held: float, seed: int = SPLIT_SEED) -> Tuple[torch.Tensor, torch.Tensor]:
    """(kept, held-out) sorted index tensors. ``held`` >= 1 is a number of samples (spread over the classes
    in proportion to their sizes, largest remainders first); < 1 is a fraction, rounded per class.

    Per class, the samples' positions are shuffled with ``seed`` and the first ones are held out.
    """
    y = np.asarray(labels)
    classes, counts = np.unique(y, return_counts=True)
    if held >= 1:
        if held >= len(y):
            raise ValueError(f"cannot hold out {int(held)} of {len(y)} samples")
        exact = counts * held / len(y)
        per_class = np.floor(exact).astype(int)
        extra = np.argsort(-(exact - per_class), kind="stable")[: int(held) - per_class.sum()]
        per_class[extra] += 1
    else:
        per_class = np.round(counts * held).astype(int)
    rng = np.random.default_rng(seed)
    out = []
    for c, n_out in zip(classes, per_class):
        members = np.flatnonzero(y == c)
        out.append(members[rng.permutation(len(members))][:n_out])
    held_idx = np.sort(np.concatenate(out))
    kept = np.setdiff1d(np.arange(len(y)), held_idx)
    return torch.from_numpy(kept), torch.from_numpy(held_idx)

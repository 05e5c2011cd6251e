"""Datasets for vkan: ``build_data(cfg)`` returns GPU-resident train/val/test loaders and the facts the model needs.

Splits: every dataset has ``train`` and ``test`` (MNIST/CIFAR's test sets; for flowers and a single
class-folder tree, a fixed stratified 20 % of the photos; Flowers-102's and an ImageFolder's ``test/``),
some a published ``val``. ``data.val_split`` picks what model selection sees each epoch: ``holdout`` (a
fixed stratified part of the training set, ``data.holdout`` images or fraction: the honest choice for
tuning), ``test`` (quick runs; then the test split is scored every epoch) or ``val`` (a published one).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

import torch

from vkan.data.arrays import load_arrays
from vkan.data.augment import build_augment, compile_choice
from vkan.data.gpu_loader import GpuLoader, PhotoGpuLoader
from vkan.data.photos import decode, photo_splits
from vkan.data.splits import stratified_split
from vkan.errors import ConfigError, DatasetError

ARRAY_DATASETS = ("mnist", "cifar10", "cifar100")
SYNTHETIC = "synthetic"  # random images and labels of any size: speed and scaling benchmarks without data
PHOTO_DATASETS = ("flowers", "flowers102", "imagefolder")
VAL_SPLITS = ("holdout", "test", "val")
Arrays = Tuple[torch.Tensor, torch.Tensor]  # (N, C, H, W) uint8 images, (N,) int64 labels

__all__ = ["DataBundle", "DatasetError", "build_data", "resolve_data_dir"]


@dataclass
class DataBundle:
    """Loaders plus the shape facts the model is built from. ``test`` is None when ``val`` is the test split."""

    train: GpuLoader
    val: GpuLoader
    test: Optional[GpuLoader]
    num_classes: int
    in_chans: int
    img_size: int
    n_train: int
    n_val: int
    n_test: int
    val_split: str


def resolve_data_dir(path: Optional[str]) -> Path:
    """``paths.data_dir`` if set, else ``$VKAN_DATA_DIR``, else ``data/`` of the checkout vkan runs from
    (or of the working folder for an installed copy)."""
    if path or os.environ.get("VKAN_DATA_DIR"):
        return Path(path or os.environ["VKAN_DATA_DIR"]).expanduser().resolve()
    repo = Path(__file__).resolve().parents[2]
    return (repo / "data") if (repo / "conf" / "train.yaml").exists() else Path("data").resolve()


def source_splits(cfg, data_dir: Path) -> Dict[str, Callable[[], Arrays]]:
    """The dataset's own splits as loaders of uint8 arrays, decoded only when called."""
    if cfg.name in ARRAY_DATASETS:
        def arrays(split: str) -> Arrays:
            x, y = load_arrays(data_dir, cfg.name, split, cfg.download)
            return torch.from_numpy(x), torch.from_numpy(y)
        return {"train": lambda: arrays("train"), "test": lambda: arrays("test")}
    if cfg.name == SYNTHETIC:
        def random_images(n: int, seed: int) -> Arrays:
            gen = torch.Generator().manual_seed(seed)
            shape = (n, cfg.in_chans, cfg.img_size, cfg.img_size)
            return (torch.randint(0, 256, shape, dtype=torch.uint8, generator=gen),
                    torch.randint(0, cfg.num_classes, (n,), generator=gen))
        return {"train": lambda: random_images(cfg.n_train, 0), "test": lambda: random_images(cfg.n_test, 1)}
    if cfg.name not in PHOTO_DATASETS:
        raise DatasetError(f"unknown dataset {cfg.name!r}; choose one of "
                           f"{ARRAY_DATASETS + PHOTO_DATASETS + (SYNTHETIC,)}")
    side = int(round(cfg.img_size / 0.875))  # training crops and the central 87.5 % come out of these squares
    found = photo_splits(cfg, data_dir, side)
    if "all" not in found:
        return {name: (lambda ds=ds: decode(ds, cfg.num_workers)) for name, ds in found.items()}
    cache: Dict[str, Arrays] = {}

    def part(name: str) -> Arrays:  # one class-folder tree: a fixed stratified test_fraction is the test split
        if not cache:
            x, y = decode(found["all"], cfg.num_workers)
            kept, held = stratified_split(y, cfg.test_fraction)
            cache.update(train=(x[kept], y[kept]), test=(x[held], y[held]))
        return cache[name]
    return {"train": lambda: part("train"), "test": lambda: part("test")}


def _subset(arrays: Arrays, n: Optional[int]) -> Arrays:
    return arrays if not n else (arrays[0][:n], arrays[1][:n])


def select_splits(cfg, data_dir: Path, wanted: Tuple[str, ...]) -> Dict[str, Arrays]:
    """Each of ``wanted`` ("train", "holdout", "test", "val"), and only those are read: the holdout comes out of the
    training set, and "train" is then the rest of it."""
    sources = source_splits(cfg, data_dir)
    missing = [w for w in wanted if w != "holdout" and w not in sources]
    if missing:
        raise DatasetError(f"{cfg.name} has no {missing[0]!r} split; its splits are "
                           f"{', '.join(['holdout'] + sorted(sources))} (set data.val_split or --split to one of them)")
    out: Dict[str, Arrays] = {}
    if "train" in wanted or "holdout" in wanted:
        x, y = _subset(sources["train"](), cfg.get("subset"))
        if "holdout" in wanted:
            try:
                kept, held = stratified_split(y, cfg.holdout)
            except ValueError:  # more images than there are
                kept = held = ()
            if not (len(held) and len(kept)):
                raise ConfigError(f"data.holdout={cfg.holdout} does not fit {cfg.name}'s {len(y)} training images"
                                  f"{' (data.subset=' + str(cfg.subset) + ')' if cfg.get('subset') else ''}: it "
                                  f"must hold out at least one image and keep at least one; set data.holdout to fewer "
                                  f"images (e.g. data.holdout={max(1, len(y) // 10)}) or to a fraction such as 0.1")
            out["holdout"] = (x[held], y[held])
            x, y = x[kept], y[kept]
        out["train"] = (x, y)
    for name in wanted:
        if name not in ("train", "holdout"):
            out[name] = _subset(sources[name](), cfg.get("subset"))
    return out


def make_loader(cfg, arrays: Arrays, batch_size: int, device: torch.device, train: bool, seed: int = 0,
                rank: int = 0, world_size: int = 1) -> GpuLoader:
    """A GPU-resident loader of one split: training views augmented per ``cfg.augment`` (compiled as its ``compile``
    key says), evaluation views fixed."""
    aug = cfg.augment
    common = dict(batch_size=batch_size, mean=cfg.mean, std=cfg.std, train=train, seed=seed, rank=rank,
                  world_size=world_size, device=device, compile=compile_choice(aug, device) if train else False)
    strong = build_augment({**aug, "compile": False}) if train else None  # compiled within the loader's function
    if cfg.name in PHOTO_DATASETS:
        return PhotoGpuLoader(*arrays, img_size=cfg.img_size, scale_min=aug.scale_min, augment=strong, **common)
    if not train:
        return GpuLoader(*arrays, **common)
    return GpuLoader(*arrays, crop_padding=aug.crop_padding, flip=aug.flip, cutout=aug.cutout, augment=strong,
                     **common)


def build_data(cfg, data_dir: Path, batch_size: int, device: torch.device, seed: int, rank: int = 0,
               world_size: int = 1) -> DataBundle:
    """Train, val (``cfg.val_split``) and test loaders for ``cfg.name``."""
    val_split = cfg.val_split
    if val_split not in VAL_SPLITS:
        raise DatasetError(f"data.val_split={val_split!r}: choose one of {', '.join(VAL_SPLITS)}")
    wanted = tuple(dict.fromkeys(["train", val_split, "test"]))
    parts = select_splits(cfg, data_dir, wanted)
    shards = dict(rank=rank, world_size=world_size)
    train = make_loader(cfg, parts["train"], batch_size, device, True, seed, **shards)
    val = make_loader(cfg, parts[val_split], batch_size, device, False, **shards)
    test = None if val_split == "test" else make_loader(cfg, parts["test"], batch_size, device, False, **shards)
    num_classes = cfg.num_classes or int(parts["train"][1].max()) + 1
    return DataBundle(train, val, test, num_classes, parts["train"][0].shape[1], cfg.img_size,
                      len(parts["train"][1]), len(parts[val_split][1]), len(parts["test"][1]), val_split)


def build_eval_loader(cfg, data_dir: Path, split: str, batch_size: int, device: torch.device) -> Tuple[GpuLoader, int]:
    """(loader, number of images) of one split: ``test``, ``val``, ``holdout`` or ``train`` (unaugmented views)."""
    parts = select_splits(cfg, data_dir, (split,))  # the test split alone reads no training images
    return make_loader(cfg, parts[split], batch_size, device, False), len(parts[split][1])

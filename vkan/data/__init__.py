"""Datasets for vkan: ``build_data(cfg)`` returns train/val loaders and what the model needs to know."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

import torch

from vkan.data.arrays import DatasetError, load_arrays
from vkan.data.folder import decode_squares, flowers102_samples, photo_loader, scan_image_folder, stratified_split
from vkan.data.gpu_loader import GpuLoader, PhotoGpuLoader

ARRAY_DATASETS = ("mnist", "cifar10", "cifar100")
FOLDER_DATASETS = ("flowers", "flowers102", "imagefolder")
FLOWERS_SPLIT_SEED = 0  # the fixed seed of the flowers 80/20 split (never the run's seed)

__all__ = ["DataBundle", "DatasetError", "build_data", "resolve_data_dir"]


@dataclass
class DataBundle:
    """Loaders plus the shape facts the model is built from."""

    train: Iterable
    val: Iterable
    num_classes: int
    in_chans: int
    img_size: int
    n_train: int
    n_val: int


def resolve_data_dir(path: Optional[str]) -> Path:
    """``paths.data_dir`` if set, else ``$VKAN_DATA_DIR``, else ``./data``."""
    return Path(path or os.environ.get("VKAN_DATA_DIR") or "data").expanduser().resolve()


def build_data(cfg, data_dir: Path, batch_size: int, device: torch.device, seed: int, split: str = "val",
               rank: int = 0, world_size: int = 1) -> DataBundle:
    """Loaders for ``cfg.name``; ``split="test"`` makes ``val`` the test split (evaluation entry point)."""
    name = cfg.name
    if name in ARRAY_DATASETS:
        if cfg.get("loader", "gpu") != "gpu":
            raise ValueError(f"data.loader={cfg.loader!r}: {name} is always loaded onto the device (data.loader=gpu)")
        x_tr, y_tr = load_arrays(data_dir, name, "train", cfg.download)
        x_va, y_va = load_arrays(data_dir, name, "test", cfg.download)  # CIFAR/MNIST validate on the test split
        if cfg.get("subset"):
            x_tr, y_tr = x_tr[: cfg.subset], y_tr[: cfg.subset]
            x_va, y_va = x_va[: cfg.subset], y_va[: cfg.subset]
        aug = cfg.augment
        common = dict(batch_size=batch_size, mean=cfg.mean, std=cfg.std, seed=seed, rank=rank,
                      world_size=world_size, device=device)
        train = GpuLoader(torch.from_numpy(x_tr), torch.from_numpy(y_tr), train=True, crop_padding=aug.crop_padding,
                          flip=aug.flip, cutout=aug.cutout, **common)
        val = GpuLoader(torch.from_numpy(x_va), torch.from_numpy(y_va), train=False, **common)
        return DataBundle(train, val, cfg.num_classes, x_tr.shape[1], cfg.img_size, len(y_tr), len(y_va))
    if name not in FOLDER_DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {ARRAY_DATASETS + FOLDER_DATASETS}")
    if name == "flowers102":
        train_s = flowers102_samples(data_dir, "train", cfg.download)
        val_s = flowers102_samples(data_dir, "test" if split == "test" else "val", cfg.download)
    else:
        root = Path(cfg.root) if name == "imagefolder" else data_dir / "flowers"
        if name == "imagefolder" and (root / "train").is_dir():
            train_s, _ = scan_image_folder(root / "train")
            val_s, _ = scan_image_folder(root / ("test" if split == "test" and (root / "test").is_dir() else "val"))
        else:
            if not root.is_dir():
                raise DatasetError(
                    f"{name}: no images at {root}. Download TensorFlow's flower_photos archive and extract it so "
                    f"that {root}/<class>/*.jpg exist (daisy, dandelion, roses, sunflowers, tulips), or set "
                    f"paths.data_dir / VKAN_DATA_DIR to the folder that holds flowers/")
            samples, _ = scan_image_folder(root)
            train_s, val_s = stratified_split(samples, cfg.val_fraction, FLOWERS_SPLIT_SEED)
    if cfg.get("subset"):
        train_s, val_s = train_s[: cfg.subset], val_s[: cfg.subset]
    n_classes = cfg.num_classes or len({y for _, y in train_s})
    if cfg.loader == "gpu":  # decode once, keep uint8 squares on the device, augment there
        side = int(round(cfg.img_size / 0.875))
        common = dict(batch_size=batch_size, mean=cfg.mean, std=cfg.std, seed=seed, rank=rank, world_size=world_size,
                      device=device, img_size=cfg.img_size)
        x_tr, y_tr = decode_squares(train_s, side, cfg.num_workers)
        x_va, y_va = decode_squares(val_s, side, cfg.num_workers)
        train = PhotoGpuLoader(x_tr, y_tr, train=True, scale_min=cfg.augment.scale_min, **common)
        val = PhotoGpuLoader(x_va, y_va, train=False, **common)
    elif cfg.loader == "dataloader":
        train = photo_loader(train_s, cfg, batch_size, True, seed, rank, world_size)
        val = photo_loader(val_s, cfg, batch_size, False, seed, rank, world_size)
    else:
        raise ValueError(f"data.loader={cfg.loader!r}: use gpu or dataloader")
    return DataBundle(train, val, n_classes, 3, cfg.img_size, len(train_s), len(val_s))

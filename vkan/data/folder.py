"""Photo datasets (flowers, Flowers-102, any ImageFolder) through a worker-process DataLoader."""
from __future__ import annotations

from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from torchvision import transforms

from vkan.data.arrays import DatasetError

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def scan_image_folder(root: Path) -> Tuple[List[Tuple[str, int]], List[str]]:
    """(path, class index) for every image under ``root/<class>/``, classes sorted by name."""
    if not root.is_dir():
        raise DatasetError(f"image folder {root} does not exist")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    samples = [(str(f), i) for i, c in enumerate(classes) for f in sorted((root / c).iterdir())
               if f.suffix.lower() in IMG_EXTENSIONS]
    if not samples:
        raise DatasetError(f"no images found under {root}/<class>/*.jpg")
    return samples, classes


def stratified_split(samples: Sequence[Tuple[str, int]], val_fraction: float, seed: int):
    """Per class: shuffle the (sorted) files with ``seed``, the first ``round(n * val_fraction)`` are val."""
    train, val = [], []
    labels = np.array([y for _, y in samples])
    rng = np.random.default_rng(seed)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        members = members[rng.permutation(len(members))]
        n_val = int(round(len(members) * val_fraction))
        val += [samples[i] for i in sorted(members[:n_val])]
        train += [samples[i] for i in sorted(members[n_val:])]
    return train, val


class FileDataset(Dataset):
    """(path, label) pairs decoded with PIL and transformed."""

    def __init__(self, samples, transform):
        self.samples, self.transform = list(samples), transform

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        from PIL import Image

        path, label = self.samples[i]
        try:
            with Image.open(path) as img:
                image = img.convert("RGB")
        except OSError as e:
            raise DatasetError(f"{path} is not a readable image ({e}); remove or replace it") from e
        return self.transform(image), label


def photo_transforms(img_size: int, mean, std, train: bool, scale_min: float):
    norm = [transforms.ToTensor(), transforms.Normalize(mean, std)]
    if train:
        return transforms.Compose([transforms.RandomResizedCrop(img_size, scale=(scale_min, 1.0)),
                                   transforms.RandomHorizontalFlip(), *norm])
    return transforms.Compose([transforms.Resize(int(round(img_size / 0.875))), transforms.CenterCrop(img_size), *norm])


def photo_loader(samples, cfg, batch_size: int, train: bool, seed: int, rank: int, world_size: int) -> DataLoader:
    """A DataLoader over image files; sharded with a DistributedSampler when ``world_size > 1``."""
    ds = FileDataset(samples, photo_transforms(cfg.img_size, cfg.mean, cfg.std, train, cfg.augment.scale_min))
    sampler = DistributedSampler(ds, world_size, rank, shuffle=train, seed=seed, drop_last=train) if world_size > 1 else None
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(ds, batch_size=batch_size, shuffle=train and sampler is None, sampler=sampler, drop_last=train,
                      num_workers=cfg.num_workers, pin_memory=torch.cuda.is_available(), generator=gen,
                      persistent_workers=cfg.num_workers > 0)


def flowers102_samples(data_dir: Path, split: str, download: bool):
    """(path, label) pairs of torchvision's Flowers102 split ("train", "val", "test")."""
    import torchvision.datasets as tvd

    try:
        ds = tvd.Flowers102(root=str(data_dir), split=split, download=download)
    except RuntimeError as e:
        raise DatasetError(f"Flowers-102 not found under {data_dir} ({e}); set data.download=true or point "
                           f"paths.data_dir at a folder that holds flowers-102/") from e
    return [(str(p), int(y)) for p, y in zip(ds._image_files, ds._labels)]


def decode_squares(samples, side: int, workers: int = 0):
    """Decode every photo once: shorter side resized to ``side``, centre square kept: ((N, 3, side, side) uint8, (N,))."""
    from concurrent.futures import ThreadPoolExecutor

    def load(item):
        from PIL import Image

        path, _ = item
        try:
            with Image.open(path) as img:
                img.draft("RGB", (side, side))  # JPEG: decode at a reduced scale when possible
                img = img.convert("RGB")
        except OSError as e:
            raise DatasetError(f"{path} is not a readable image ({e}); remove or replace it") from e
        scale = side / min(img.size)
        img = img.resize((max(side, round(img.size[0] * scale)), max(side, round(img.size[1] * scale))), Image.BICUBIC)
        left, top = (img.size[0] - side) // 2, (img.size[1] - side) // 2
        return np.asarray(img.crop((left, top, left + side, top + side)), dtype=np.uint8).transpose(2, 0, 1)

    with ThreadPoolExecutor(max(1, workers)) as pool:
        images = list(pool.map(load, samples))
    return torch.from_numpy(np.stack(images)), torch.tensor([y for _, y in samples], dtype=torch.int64)

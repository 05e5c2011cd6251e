"""A loader for small datasets that live on the device as uint8 and are augmented there in batches."""
from __future__ import annotations

from typing import Iterator, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F


class GpuLoader:
    """Iterates (images float (B, C, H, W) normalised, labels (B,)) over a uint8 tensor on one device.

    Shuffling and augmentation draw from a generator seeded by ``(seed, epoch)``, so an epoch is the
    same whether or not the run was resumed. With ``world_size > 1`` each rank takes every
    ``world_size``-th sample of the epoch's permutation (equal shares; the remainder is dropped when
    training). Training batches drop the last partial batch; evaluation covers every sample once.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, mean: Sequence[float],
                 std: Sequence[float], train: bool, seed: int = 0, crop_padding: int = 0, flip: bool = False,
                 cutout: int = 0, rank: int = 0, world_size: int = 1, device: Optional[torch.device] = None):
        device = torch.device(device or images.device)
        self.images = images.to(device)  # (N, C, H, W) uint8
        self.labels = labels.to(device)  # (N,) int64
        self.batch_size, self.train, self.seed = batch_size, train, seed
        self.crop_padding, self.flip, self.cutout = crop_padding, flip, cutout
        self.rank, self.world_size = rank, world_size
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1) * 255
        self.std = torch.tensor(std, device=device).view(1, -1, 1, 1) * 255
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _indices(self) -> torch.Tensor:
        n = len(self.labels)
        if self.train:
            gen = torch.Generator(device="cpu").manual_seed(self.seed * 100003 + self.epoch)
            order = torch.randperm(n, generator=gen)
            order = order[: n - n % self.world_size]
        else:
            order = torch.arange(n)
        return order[self.rank::self.world_size].to(self.labels.device)

    def __len__(self) -> int:
        n = len(self.labels) // self.world_size if self.train else len(range(self.rank, len(self.labels), self.world_size))
        return n // self.batch_size if self.train else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        idx = self._indices()
        gen = torch.Generator(device=self.images.device).manual_seed(self.seed * 7919 + self.epoch * 31 + self.rank)
        for b in range(len(self)):
            sel = idx[b * self.batch_size:(b + 1) * self.batch_size]
            x = self.images[sel].float()  # (B, C, H, W) in [0, 255]
            x = self._augment(x, gen) if self.train else self._eval_view(x)
            yield (x - self.mean) / self.std, self.labels[sel]

    def _eval_view(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def _augment(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        b, _, h, w = x.shape
        dev = x.device
        if self.crop_padding:  # random translation: reflect-pad, then a per-sample crop by index arithmetic
            p = self.crop_padding
            padded = F.pad(x, (p, p, p, p), mode="reflect")  # (B, C, H+2p, W+2p)
            dy = torch.randint(0, 2 * p + 1, (b,), device=dev, generator=gen)
            dx = torch.randint(0, 2 * p + 1, (b,), device=dev, generator=gen)
            rows = (dy[:, None] + torch.arange(h, device=dev))[:, None, :, None]  # (B, 1, H, 1)
            cols = (dx[:, None] + torch.arange(w, device=dev))[:, None, None, :]  # (B, 1, 1, W)
            x = padded.gather(2, rows.expand(-1, x.shape[1], -1, w + 2 * p)).gather(3, cols.expand(-1, x.shape[1], h, -1))
        if self.flip:
            mirror = torch.rand(b, device=dev, generator=gen) < 0.5
            x = torch.where(mirror[:, None, None, None], x.flip(3), x)
        if self.cutout:  # zero (i.e. the mean after normalisation) a random square per sample
            s = self.cutout
            cy = torch.randint(0, h, (b,), device=dev, generator=gen)[:, None, None]
            cx = torch.randint(0, w, (b,), device=dev, generator=gen)[:, None, None]
            yy = torch.arange(h, device=dev)[None, :, None]
            xx = torch.arange(w, device=dev)[None, None, :]
            hole = ((yy - cy).abs() <= s // 2) & ((xx - cx).abs() <= s // 2)  # (B, H, W)
            x = torch.where(hole[:, None], self.mean.expand_as(x), x)
        return x


class PhotoGpuLoader(GpuLoader):
    """GpuLoader for photos stored once as (N, 3, S, S) uint8 squares, S = img_size / 0.875.

    Training views: a random-resized crop (area fraction in [scale_min, 1], aspect ratio in [3/4, 4/3])
    and a random horizontal flip, resampled to ``img_size`` in one batched ``grid_sample``. Evaluation
    views: the central 87.5 % resized to ``img_size`` (the usual resize + center crop).
    """

    def __init__(self, *args, img_size: int, scale_min: float = 0.35, **kwargs):
        super().__init__(*args, **kwargs)
        self.img_size, self.scale_min = img_size, scale_min

    def _resample(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        grid = F.affine_grid(theta, [x.shape[0], x.shape[1], self.img_size, self.img_size], align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    def _augment(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        b, dev = x.shape[0], x.device
        rand = torch.rand(b, 5, device=dev, generator=gen)
        area = self.scale_min + (1 - self.scale_min) * rand[:, 0]
        log_ratio = (rand[:, 1] - 0.5) * 2 * 0.2877  # ln(4/3): aspect ratio in [3/4, 4/3]
        w = (area * log_ratio.exp()).sqrt().clamp(max=1.0)  # crop width / image width
        h = (area / log_ratio.exp()).sqrt().clamp(max=1.0)
        cx = (2 * rand[:, 2] - 1) * (1 - w)  # crop centre in [-1, 1] coordinates, crop inside the image
        cy = (2 * rand[:, 3] - 1) * (1 - h)
        flip = torch.where(rand[:, 4] < 0.5, -1.0, 1.0)
        theta = torch.zeros(b, 2, 3, device=dev)
        theta[:, 0, 0], theta[:, 0, 2] = w * flip, cx
        theta[:, 1, 1], theta[:, 1, 2] = h, cy
        return self._resample(x, theta)

    def _eval_view(self, x: torch.Tensor) -> torch.Tensor:
        theta = torch.tensor([[0.875, 0.0, 0.0], [0.0, 0.875, 0.0]], device=x.device).expand(x.shape[0], 2, 3)
        return self._resample(x, theta)

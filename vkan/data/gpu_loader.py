"""Loaders for datasets that live on the device as uint8 and are augmented there, a whole batch at a time."""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from vkan.data.augment import StrongAugment


class GpuLoader:
    """Iterates (images float (B, C, H, W) normalised, labels (B,)) over a uint8 tensor on one device.

    The order of an epoch comes from ``(seed, epoch)``, and the augmentation of each batch from ``(seed,
    epoch, batch, rank)`` alone, so an epoch is the same whether or not the run was resumed, and resuming
    in the middle of an epoch (``set_epoch(epoch, start_batch)``) continues it exactly. With
    ``world_size > 1`` each rank takes every ``world_size``-th sample of the epoch's permutation (equal
    shares; the remainder is dropped when training). Training batches drop the last partial batch;
    evaluation covers every sample once.

    Training views: ``crop_padding`` (random translation by reflect-padding and a per-sample crop),
    ``flip`` (random horizontal mirror), ``cutout`` (a random square set to the mean), then ``augment`` (a
    ``vkan.data.augment.StrongAugment``). A training batch's randomness is drawn first (``draw``: one
    ``torch.rand`` for the views, the augmentation's own draws); the rest (``train_batch``: views, augmentation,
    normalisation) is a function of those draws without host syncs, which ``compile`` (true or a torch.compile
    mode) runs under ``torch.compile``: a few kernels a batch instead of some twenty launches, host time that a
    small model's step under CUDA graphs cannot hide (issue 20, bench/RESULTS.md).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, mean: Sequence[float],
                 std: Sequence[float], train: bool, seed: int = 0, crop_padding: int = 0, flip: bool = False,
                 cutout: int = 0, augment: Optional["StrongAugment"] = None, rank: int = 0, world_size: int = 1,
                 device: Optional[torch.device] = None, compile: Union[bool, str] = False):
        device = torch.device(device or images.device)
        self.images = images.to(device)  # (N, C, H, W) uint8
        self.labels = labels.to(device)  # (N,) int64
        self.batch_size, self.train, self.seed = batch_size, train, seed
        self.crop_padding, self.flip, self.cutout = crop_padding, flip, cutout
        self.augment = augment if augment is not None and augment.active else None
        self.rank, self.world_size = rank, world_size
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1) * 255
        self.std = torch.tensor(std, device=device).view(1, -1, 1, 1) * 255
        self.epoch, self.start_batch = 0, 0
        self.generator = torch.Generator(device=device)
        self.loaded = self.fingerprint()
        mode = compile if isinstance(compile, str) else None
        self._train_batch = torch.compile(self.train_batch, dynamic=False, mode=mode) if compile else self.train_batch

    def fingerprint(self) -> torch.Tensor:
        """The sums of the images and of the labels on the device, then the normalising mean and std (float64, no
        host sync): most writes into any of them change it. The images are summed 4M values at a time, so that
        the int64 copy a sum makes stays small (32 MB); their sum stays far below 2^53, exact in float64."""
        flat = self.images.reshape(-1)
        image_sum = sum(chunk.sum(dtype=torch.int64) for chunk in flat.split(1 << 22))
        sums = torch.stack([torch.as_tensor(image_sum, device=flat.device), self.labels.sum(dtype=torch.int64)])
        return torch.cat([sums.double(), self.mean.reshape(-1).double(), self.std.reshape(-1).double()])

    def unchanged(self) -> torch.Tensor:
        """Whether the images, labels, mean and std are still those loaded, as a 0-d bool tensor on the device."""
        return (self.fingerprint() == self.loaded).all()

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """The epoch whose order and augmentation the next iteration gives, from its ``start_batch``-th batch."""
        self.epoch, self.start_batch = epoch, start_batch

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
        start, self.start_batch = self.start_batch, 0  # a resumed epoch skips its first batches once
        for b in range(start, len(self)):
            sel = idx[b * self.batch_size:(b + 1) * self.batch_size]
            x = self.images[sel]  # (B, C, H, W) uint8
            if self.train:
                self.generator.manual_seed(((self.seed * 1_000_003 + self.epoch) * 100_003 + b) * 64 + self.rank)
                x = self._train_batch(x, *self.draw(x, self.generator))
            else:
                x = self.normalise(self._eval_view(x.float()))
            yield x, self.labels[sel]

    # columns of the views' uniform draw: translation (2), flip (1), cutout (2)
    @property
    def view_draws(self) -> int:
        return 2 * bool(self.crop_padding) + bool(self.flip) + 2 * bool(self.cutout)

    def draw(self, x: torch.Tensor, gen: torch.Generator) -> tuple:
        """All the randomness of a training batch ``x``: the views' uniforms (B, ``view_draws``), then the
        augmentation's draws and tables (None without one), the arguments of ``train_batch`` after ``x``."""
        u = torch.rand(x.shape[0], self.view_draws, device=x.device, generator=gen)
        if self.augment is None:
            return u, None
        views = x.new_empty(self.view_shape(x))  # what the augmentation will see (allocated, never written)
        return u, (*self.augment.draw(views, gen), self.augment.tables(views))

    def train_batch(self, x: torch.Tensor, u: torch.Tensor, augment_args: Optional[tuple]) -> torch.Tensor:
        """A training batch from its draws (``draw``): uint8 (B, C, H, W) -> views, augmentation, normalised float."""
        x = self._view(x.float(), u)
        if augment_args is not None:
            x = self.augment.transform(x, *augment_args)
        return self.normalise(x)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 255] -> the dataset's mean 0 and std 1 per channel."""
        return (x - self.mean) / self.std

    def view_shape(self, x: torch.Tensor) -> Tuple[int, ...]:
        """The shape of ``x``'s training views."""
        return tuple(x.shape)

    def _eval_view(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def _view(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) float in [0, 255]: translated, mirrored and cut out as the columns of ``u`` say."""
        cols = iter(u.unbind(1))
        if self.crop_padding:
            x = random_translate(x, self.crop_padding, next(cols), next(cols))
        if self.flip:
            x = torch.where((next(cols) < 0.5)[:, None, None, None], x.flip(3), x)
        if self.cutout:
            x = random_cutout(x, self.cutout, self.mean, next(cols), next(cols))
        return x


def pick(u: torch.Tensor, n: int) -> torch.Tensor:
    """Uniforms on [0, 1) -> integers uniform on 0..n-1."""
    return (u * n).long().clamp_(max=n - 1)


def random_translate(x: torch.Tensor, pad: int, uy: torch.Tensor, ux: torch.Tensor) -> torch.Tensor:
    """Shift each image by up to ``pad`` pixels (offsets from the uniforms ``uy``, ``ux``, (B,)): reflect-pad, then
    a per-sample crop by index arithmetic."""
    _, c, h, w = x.shape
    dev = x.device
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")  # (B, C, H+2p, W+2p)
    rows = (pick(uy, 2 * pad + 1)[:, None] + torch.arange(h, device=dev))[:, None, :, None]  # (B, 1, H, 1)
    cols = (pick(ux, 2 * pad + 1)[:, None] + torch.arange(w, device=dev))[:, None, None, :]  # (B, 1, 1, W)
    return padded.gather(2, rows.expand(-1, c, -1, w + 2 * pad)).gather(3, cols.expand(-1, c, h, -1))


def random_cutout(x: torch.Tensor, size: int, fill: torch.Tensor, uy: torch.Tensor, ux: torch.Tensor) -> torch.Tensor:
    """Set a ``size`` x ``size`` square of each image, centred where the uniforms ``uy``, ``ux`` (B,) say, to
    ``fill`` (the mean: zero after normalising)."""
    _, _, h, w = x.shape
    dev = x.device
    cy, cx = pick(uy, h)[:, None, None], pick(ux, w)[:, None, None]
    yy = torch.arange(h, device=dev)[None, :, None]
    xx = torch.arange(w, device=dev)[None, None, :]
    hole = ((yy - cy).abs() <= size // 2) & ((xx - cx).abs() <= size // 2)  # (B, H, W)
    return torch.where(hole[:, None], fill.expand_as(x), x)


class PhotoGpuLoader(GpuLoader):
    """GpuLoader for photos stored once as (N, 3, S, S) uint8 squares, S = img_size / 0.875.

    Training views: a random-resized crop (area fraction in [scale_min, 1], aspect ratio in [3/4, 4/3])
    and a random horizontal flip, resampled to ``img_size`` in one batched ``grid_sample``, then
    ``augment``. Evaluation views: the central 87.5 % resized to ``img_size`` (the usual resize + centre crop).
    """

    def __init__(self, *args, img_size: int, scale_min: float = 0.35, **kwargs):
        super().__init__(*args, **kwargs)
        self.img_size, self.scale_min = img_size, scale_min

    def _resample(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        grid = F.affine_grid(theta, [x.shape[0], x.shape[1], self.img_size, self.img_size], align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    view_draws = 5  # area, log aspect ratio, centre x, centre y, flip

    def view_shape(self, x: torch.Tensor) -> Tuple[int, ...]:
        return (*x.shape[:2], self.img_size, self.img_size)

    def _view(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """The random-resized crop and flip that the columns of ``u`` say, resampled to ``img_size``."""
        area = self.scale_min + (1 - self.scale_min) * u[:, 0]
        log_ratio = (u[:, 1] - 0.5) * 2 * 0.2877  # ln(4/3): aspect ratio in [3/4, 4/3]
        w = (area * log_ratio.exp()).sqrt().clamp(max=1.0)  # crop width / image width
        h = (area / log_ratio.exp()).sqrt().clamp(max=1.0)
        cx = (2 * u[:, 2] - 1) * (1 - w)  # crop centre in [-1, 1] coordinates, crop inside the image
        cy = (2 * u[:, 3] - 1) * (1 - h)
        flip = torch.where(u[:, 4] < 0.5, -1.0, 1.0)
        zero = torch.zeros_like(w)
        theta = torch.stack([torch.stack([w * flip, zero, cx], 1), torch.stack([zero, h, cy], 1)], 1)  # (B, 2, 3)
        return self._resample(x, theta)

    def _eval_view(self, x: torch.Tensor) -> torch.Tensor:
        theta = torch.tensor([[0.875, 0.0, 0.0], [0.0, 0.875, 0.0]], device=x.device).expand(x.shape[0], 2, 3)
        return self._resample(x, theta)

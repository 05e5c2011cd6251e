"""Photo datasets (flowers, Flowers-102, any ImageFolder) through torchvision's public dataset API, decoded
once into uint8 squares that the GPU-resident loader crops and flips."""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Dict, Iterator, Optional, Tuple

import numpy as np
import torch

from vkan.errors import DatasetError

log = logging.getLogger(__name__)

# TensorFlow's flower_photos archive (3,670 photos, 5 classes) and its published sha256
FLOWERS_URL = "https://storage.googleapis.com/download.tensorflow.org/example_images/flower_photos.tgz"
FLOWERS_SHA256 = "4c54ace7911aaffe13a365c34f650e71dd5bf1be0a58b464e5a7183e3e595d9c"


class SquarePhoto:
    """PIL image -> (3, side, side) uint8 tensor: shorter side resized to ``side``, centre square kept."""

    def __init__(self, side: int):
        self.side = side

    def __call__(self, img) -> torch.Tensor:
        from PIL import Image

        side = self.side
        img = img.convert("RGB")
        scale = side / min(img.size)
        img = img.resize((max(side, round(img.size[0] * scale)), max(side, round(img.size[1] * scale))), Image.BICUBIC)
        left, top = (img.size[0] - side) // 2, (img.size[1] - side) // 2
        square = np.asarray(img.crop((left, top, left + side, top + side)), dtype=np.uint8)
        return torch.from_numpy(square.transpose(2, 0, 1).copy())


def draft_loader(side: int):
    """An ImageFolder ``loader`` that lets JPEG decode at a reduced scale when the photo is much larger."""
    def load(path):
        from PIL import Image

        try:
            with Image.open(path) as img:
                img.draft("RGB", (side, side))
                return img.convert("RGB")
        except OSError as e:
            raise DatasetError(f"{path} is not a readable image ({e}); remove or replace it") from e
    return load


# Part of every cache key: bump it whenever SquarePhoto or draft_loader changes how a photo becomes a square.
DECODE_VERSION = 1


def decode(dataset, workers: int = 4) -> Tuple[torch.Tensor, torch.Tensor]:
    """Every item of a torchvision dataset whose transform gives uint8 squares: ((N, 3, S, S), (N,) int64).

    An ImageFolder (flowers, any class-folder tree) is decoded once per photo set and square side: the result is
    kept in ``VKAN_CACHE_DIR`` (default ``$XDG_CACHE_HOME/vkan`` or ``~/.cache/vkan``; set it empty to turn the
    cache off), under a name that changes when a photo is added, removed or relabelled, or its size or modification
    time changes (or Pillow's version, or ``DECODE_VERSION``), and later runs load it instead of decoding. Runs that
    start side by side (a campaign, a multirun) take turns (``cache_turn``): one decodes, the others load its file."""
    cached = cache_file(dataset)
    if cached is None:
        return decode_photos(dataset, workers)
    existed = cached.exists()
    found = load_cache(cached, dataset) if existed else None
    if found is not None:
        return found
    with cache_turn(cached) as waited:
        if waited or not existed:  # written while this run waited, or just before its turn
            found = load_cache(cached, dataset) if cached.exists() else None
        if found is None and not waited:  # this run's turn: decode, and leave the file for the others
            found = decode_photos(dataset, workers)
            save_cache(cached, *found)
    if found is None:  # the turn before left no file (a full disk, a crash, a hung run): decode side by side
        found = decode_photos(dataset, workers)
        save_cache(cached, *found)
    return found


def decode_photos(dataset, workers: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Open and square every photo, ``workers`` at a time."""
    with ThreadPoolExecutor(max(1, workers)) as pool:  # PIL decodes outside the GIL
        items = list(pool.map(dataset.__getitem__, range(len(dataset))))
    if not items:
        raise DatasetError(f"no images in {getattr(dataset, 'root', dataset)}")
    return torch.stack([x for x, _ in items]), torch.tensor([int(y) for _, y in items], dtype=torch.int64)


# how long a run waits for another's decoding turn before it decodes as well (a stopped or hung run holds it)
TURN_WAIT_S = 600.0


@contextlib.contextmanager
def cache_turn(path: Path) -> Iterator[bool]:
    """Hold the lock file beside cache entry ``path`` (``<name>.lock``, an ``flock``, which the system lets go when
    the process ends, however it ends), and say whether this run waited for another's turn. Six flowers runs that
    all decoded at once spent 152-157 s each on it on an H200 host (bench/RESULTS.md). After ``TURN_WAIT_S`` it
    stops waiting (without the lock); where no lock can be had (a read-only cache, no ``fcntl``) it does not wait."""
    handle, waited = take_turn(path)
    try:
        yield waited
    finally:
        if handle is not None:
            handle.close()


def take_turn(path: Path) -> Tuple[Optional[IO], bool]:
    """(the lock file, locked, or None if no lock was had; whether another run held it meanwhile)."""
    try:
        import fcntl

        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock_file(path), "a")
    except (ImportError, OSError):
        return None, False
    deadline, waited = time.monotonic() + TURN_WAIT_S, False
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle, waited
        except BlockingIOError:
            if not waited:
                log.info("another run is decoding these photos; waiting to load its cache %s", path)
            waited = True
            if time.monotonic() > deadline:
                log.warning("waited %.0f s for another run to decode the photos of %s; decoding them here too",
                            TURN_WAIT_S, path)
                break
            time.sleep(0.2)
        except OSError:  # a file system without flock
            break
    handle.close()
    return None, waited


def cache_dir() -> Optional[Path]:
    """``VKAN_CACHE_DIR`` (empty: None, no cache), else ``$XDG_CACHE_HOME/vkan``, else ``~/.cache/vkan``."""
    if "VKAN_CACHE_DIR" in os.environ:
        root = os.environ["VKAN_CACHE_DIR"]
        return Path(root).expanduser() if root else None
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "vkan"


def cache_file(dataset) -> Optional[Path]:
    """Where ``decode`` keeps this dataset's squares, or None (no cache directory, or not a class-folder tree)."""
    from PIL import __version__ as pillow

    root, samples = cache_dir(), getattr(dataset, "samples", None)
    side = getattr(getattr(dataset, "transform", None), "side", None)
    if root is None or samples is None or side is None:
        return None
    key = hashlib.sha256(f"{DECODE_VERSION}\n{pillow}\n{side}\n{sorted(dataset.class_to_idx.items())}\n".encode())
    for path, label in samples:  # a photo's name, size and modification time, and its class
        try:
            stat = os.stat(path)
        except OSError as e:
            raise DatasetError(f"{path} went missing while the photos were listed ({e}); run again") from e
        key.update(f"{os.path.relpath(path, dataset.root)}\t{stat.st_size}\t{stat.st_mtime_ns}\t{label}\n".encode())
    return root / "photos" / f"{Path(dataset.root).name}-{side}px-{key.hexdigest()[:16]}.pt"


def load_cache(path: Path, dataset) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
    """The cached squares, if the file reads and fits the dataset (count, side, labels); else None, with a warning."""
    side = dataset.transform.side
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        images, labels = saved["images"], saved["labels"]
        fits = (images.dtype == torch.uint8 and tuple(images.shape) == (len(dataset.samples), 3, side, side)
                and labels.tolist() == [label for _, label in dataset.samples])
    except Exception as e:  # a partial or foreign file
        log.warning("decoded-photo cache %s is unreadable (%s); decoding the photos again", path, e)
        return None
    if not fits:
        log.warning("decoded-photo cache %s does not fit %s; decoding the photos again", path, dataset.root)
        return None
    return images, labels


def lock_file(path: Path) -> Path:
    """The file whose ``flock`` is the decoding turn of cache entry ``path`` (``cache_turn``); it stays, empty."""
    return path.with_name(path.name + ".lock")


def partial_file(path: Path) -> Path:
    """This process's temporary file beside ``path`` (unique per host and process: a cache may be shared)."""
    return path.with_name(f"{path.name}.{socket.gethostname()}.{os.getpid()}.tmp")


def save_cache(path: Path, images: torch.Tensor, labels: torch.Tensor) -> None:
    """Write atomically (runs side by side may decode the same set at once); a failure (a full disk, a read-only
    folder) only costs the cache, never the run."""
    tmp = partial_file(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"images": images, "labels": labels}, tmp)  # reports its file errors as RuntimeError
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        log.warning("could not cache the decoded photos at %s (%s); set VKAN_CACHE_DIR to a writable folder, "
                    "or empty to turn the cache off", path, e)


def image_folder(root: Path, side: int, what: str):
    """torchvision ``ImageFolder`` over ``root/<class>/*`` whose items are (3, side, side) uint8 squares."""
    from torchvision.datasets import ImageFolder

    if not root.is_dir():
        raise DatasetError(f"{what}: image folder {root} does not exist")
    try:
        return ImageFolder(str(root), transform=SquarePhoto(side), loader=draft_loader(side))
    except (FileNotFoundError, RuntimeError) as e:  # no class folders / no images
        raise DatasetError(f"{what}: no images under {root}/<class>/ ({e})") from e


def download_flowers(data_dir: Path) -> None:
    """Fetch and unpack TensorFlow's flower_photos archive to ``data_dir/flowers`` (checked by sha256)."""
    import hashlib
    import tarfile
    import urllib.request

    archive = data_dir / "flower_photos.tgz"
    data_dir.mkdir(parents=True, exist_ok=True)
    urllib.request.urlretrieve(FLOWERS_URL, archive)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if digest != FLOWERS_SHA256:
        archive.unlink()
        raise DatasetError(f"the downloaded {FLOWERS_URL} has sha256 {digest}, not the published {FLOWERS_SHA256}; "
                           f"try again later")
    with tarfile.open(archive) as tar:
        tar.extractall(data_dir, filter="data")
    (data_dir / "flower_photos").rename(data_dir / "flowers")
    archive.unlink()


def flowers_root(data_dir: Path, download: bool) -> Path:
    """``data_dir/flowers``, downloaded first when absent and allowed; a clear error naming both fixes otherwise."""
    root = data_dir / "flowers"
    if root.is_dir():
        return root
    fixes = (f"Either download it (data.download=true, the default: needs internet access to {FLOWERS_URL}), "
             f"or extract flower_photos.tgz so that {root}/<class>/*.jpg exist (daisy, dandelion, roses, sunflowers, "
             f"tulips), or point VKAN_DATA_DIR (or paths.data_dir) at a folder that holds flowers/.")
    if not download:
        raise DatasetError(f"flowers: no photos at {root}. {fixes}")
    try:
        download_flowers(data_dir)
    except OSError as e:  # URLError, timeouts, a read-only folder ...
        raise DatasetError(f"flowers: no photos at {root}, and downloading them failed ({e}). {fixes}") from e
    return root


def flowers102_split(data_dir: Path, split: str, side: int, download: bool):
    """torchvision's Flowers102 split ("train", "val", "test") with uint8-square items."""
    from torchvision.datasets import Flowers102

    try:
        return Flowers102(str(data_dir), split=split, transform=SquarePhoto(side), download=download)
    except (RuntimeError, OSError) as e:
        raise DatasetError(
            f"Flowers-102 not found under {data_dir} and not downloaded ({e}). Either allow the download "
            f"(data.download=true, needs internet access) or point VKAN_DATA_DIR (or paths.data_dir) at a folder "
            f"that holds flowers-102/") from e


def photo_splits(cfg, data_dir: Path, side: int) -> Dict[str, object]:
    """The published splits of a photo dataset, as torchvision datasets: {"train": ..., "val": ..., "test": ...}
    (only those that exist). A single class-folder tree (flowers, or an imagefolder without train/) is one
    "all" split, which ``vkan.data`` divides."""
    if cfg.name == "flowers102":
        return {s: flowers102_split(data_dir, s, side, cfg.download) for s in ("train", "val", "test")}
    if cfg.name == "flowers":
        return {"all": image_folder(flowers_root(data_dir, cfg.download), side, "flowers")}
    root = Path(cfg.root).expanduser()
    if (root / "train").is_dir():
        return {s: image_folder(root / s, side, f"imagefolder {s}/") for s in ("train", "val", "test")
                if (root / s).is_dir()}
    return {"all": image_folder(root, side, "imagefolder")}

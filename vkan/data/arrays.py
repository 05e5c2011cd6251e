"""Small datasets as uint8 arrays: the offline ``.npz`` layout (checksummed) or a torchvision download."""
from __future__ import annotations

import functools
import hashlib
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from vkan.errors import DatasetError

# sha256 of the offline files (shared/data/README.md); a mismatch means a corrupt or altered copy
KNOWN_SHA256 = {
    "mnist/train.npz": "33e9753a8d3ed06561a816bf46d6d686b20801696e497f092853c1634577f43f",
    "mnist/test.npz": "af5595f05f0cc260498196e07655cfa443d2d96874d5ba0dcfeaea06defbda81",
    "cifar10/train-0.npz": "29da4923f9d0730fbb8185cf65eb761d8e6354796e38a88722c7be8aa06a1fb1",
    "cifar10/train-1.npz": "4019a79383857f058cac32fad71ef5b9c6acf69a680eff35d74fafb636193df5",
    "cifar10/train-2.npz": "062f3ef5f428cc394bd6c7f89d3af2ba6821782853f3a7280684e945658749bd",
    "cifar10/train-3.npz": "1817758c73e081996f5b886664f06d00cb5323cfa7d0dec2f375bdc0dc7d8b02",
    "cifar10/train-4.npz": "9b1415595741ce15d330300c39ac737e5d6087a69eee096979cf4745d4ad7efe",
    "cifar10/test.npz": "f9b0516e305a9f5bb81771c5a1332163fe11ec3dabc585ebc3ba95d151b5fbb0",
}
EXPECTED_COUNTS = {("mnist", "train"): 60000, ("mnist", "test"): 10000,
                   ("cifar10", "train"): 50000, ("cifar10", "test"): 10000,
                   ("cifar100", "train"): 50000, ("cifar100", "test"): 10000}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def offline_files(data_dir: Path, name: str, split: str) -> list:
    """The offline ``.npz`` files of a split: ``<name>/<split>.npz`` or chunks ``<name>/<split>-<i>.npz``."""
    folder = data_dir / name
    single = folder / f"{split}.npz"
    if single.exists():
        return [single]
    return sorted(folder.glob(f"{split}-*.npz"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))


@functools.lru_cache(maxsize=8)
def _read_npz(path: Path, size: int, mtime_ns: int, known_sha256: Optional[str]) -> Tuple[np.ndarray, np.ndarray]:
    """One offline file's (images, labels), read-only; kept per process, since decompressing the LZMA'd arrays
    is most of a load (about 14 s for CIFAR-10 on 2 cores). ``size`` and ``mtime_ns`` make a changed file a
    new entry."""
    if known_sha256 and _sha256(path) != known_sha256:
        raise DatasetError(f"{path} is corrupt (sha256 differs from the published one); copy it again "
                           f"or delete {path.parent} and let torchvision download the dataset")
    try:
        with np.load(path) as d:
            images, labels = d["images"], d["labels"]
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError) as e:
        raise DatasetError(f"{path} is not a readable dataset file ({e}); copy it again") from e
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


def load_offline(data_dir: Path, name: str, split: str, verify: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """Images (N, H, W[, C]) uint8 and labels (N,) int64 from the offline layout, checksums verified (new
    arrays on every call). A split's chunk files are read in threads, as LZMA lets go of the GIL while it
    decompresses (CIFAR-10's train split: 9.7 s one after another, 5.3 s in threads on 2 busy cores)."""
    paths = offline_files(data_dir, name, split)
    if not paths:
        raise FileNotFoundError(name)

    def read(path: Path) -> Tuple[np.ndarray, np.ndarray]:
        stat = path.stat()
        known = KNOWN_SHA256.get(f"{name}/{path.name}") if verify else None
        return _read_npz(path.resolve(), stat.st_size, stat.st_mtime_ns, known)

    with ThreadPoolExecutor(max_workers=min(len(paths), 8)) as pool:
        images, labels = zip(*pool.map(read, paths))  # in the files' order
    x, y = np.concatenate(images), np.concatenate(labels).astype(np.int64)
    expected = EXPECTED_COUNTS.get((name, split))
    if expected is not None and len(x) != expected:
        raise DatasetError(f"{data_dir / name} holds {len(x)} {split} images, expected {expected}; the copy is incomplete")
    return x, y


def load_torchvision(data_dir: Path, name: str, split: str, download: bool) -> Tuple[np.ndarray, np.ndarray]:
    """Images and labels through torchvision's MNIST / CIFAR10 / CIFAR100 (downloads when asked)."""
    import torchvision.datasets as tvd

    cls = {"mnist": tvd.MNIST, "cifar10": tvd.CIFAR10, "cifar100": tvd.CIFAR100}[name]
    copy = (f"point VKAN_DATA_DIR (or paths.data_dir) at a prepared copy: a folder holding {name}/train*.npz and "
            f"{name}/test.npz (uint8 'images' and 'labels') or torchvision's files")
    try:
        ds = cls(root=str(data_dir), train=(split == "train"), download=download)
    except (RuntimeError, OSError) as e:  # not found / corrupted; or a failed download (no internet, read-only folder)
        if not download:
            raise DatasetError(f"{name} not found under {data_dir} (looked for {data_dir / name}/{split}*.npz and "
                               f"torchvision's files). Either let torchvision download it (data.download=true, needs "
                               f"internet access; it goes to {data_dir}), or {copy}.") from e
        reason = getattr(e, "reason", None) or e
        raise DatasetError(f"{name} is not under {data_dir} and downloading it failed ({reason}). Either run again "
                           f"with internet access (torchvision downloads to {data_dir}), or {copy}.") from e
    x = ds.data.numpy() if hasattr(ds.data, "numpy") else np.asarray(ds.data)
    return x, np.asarray(ds.targets, dtype=np.int64)


def load_arrays(data_dir: Path, name: str, split: str, download: bool) -> Tuple[np.ndarray, np.ndarray]:
    """(N, C, H, W) uint8 images and (N,) labels of a small dataset; offline copy first, then torchvision."""
    try:
        x, y = load_offline(data_dir, name, split)
    except FileNotFoundError:
        x, y = load_torchvision(data_dir, name, split, download)
    if x.ndim == 3:  # (N, H, W) grayscale
        x = x[:, None]
    elif x.shape[-1] in (1, 3):  # (N, H, W, C)
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x), y

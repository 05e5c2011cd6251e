"""Shared test setup: Triton's interpreter on CPU-only machines, GPU skipping, the offline data root."""
import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

if not torch.cuda.is_available():
    # Triton kernels run on CPU tensors under the interpreter; must be set before triton.jit decorates them.
    os.environ.setdefault("TRITON_INTERPRET", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
# decoded photo sets are cached per test session, never in the user's own cache; removed at exit
os.environ["VKAN_CACHE_DIR"] = tempfile.mkdtemp(prefix="vkan-test-cache-")
atexit.register(shutil.rmtree, os.environ["VKAN_CACHE_DIR"], ignore_errors=True)

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("VKAN_DATA_DIR", REPO.parent / "shared" / "data"))


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The offline dataset copy (VKAN_DATA_DIR, else ../shared/data); tests that need it skip without it."""
    if not (DATA_DIR / "mnist" / "train.npz").exists():
        pytest.skip(f"offline datasets not found at {DATA_DIR}; set VKAN_DATA_DIR")
    return DATA_DIR


@pytest.fixture(scope="session")
def bench_script():
    """Loads ``bench/<name>.py`` as a module (``bench/`` is not a package): ``bench_script("campaign")``."""
    import importlib.util

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, REPO / "bench" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load

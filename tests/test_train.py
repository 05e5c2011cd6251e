"""The training app: configs compose, a short MNIST run learns, resume is exact, bad input fails clearly."""
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import open_dict

from vkan import load_run
from vkan.checkpoint import CheckpointError, load_checkpoint
from vkan.data import DatasetError, build_data
from vkan.evaluate import evaluate_run
from vkan.run_logger import METRIC_COLUMNS
from vkan.train import NonFiniteLossError, build_optimizer, lr_lambda, model_spec, train

REPO = Path(__file__).resolve().parents[1]
CONF = str(REPO / "conf")
CPU = torch.device("cpu")
# a ViT small enough for CPU tests: one block, 7x7 patches (16 tokens at 28 px)
TINY = ["model.depth=1", "+model.kwargs.patch_size=7", "trainer.device=cpu", "trainer.progress_bar=false"]


def make_cfg(tmp_path, overrides=(), data_dir=None):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=list(overrides))
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
        if data_dir is not None:
            cfg.paths.data_dir = str(data_dir)
    return cfg


def read_metrics(run_dir):
    with open(Path(run_dir) / "metrics.csv") as f:
        return list(csv.DictReader(f))


GROUP_OPTIONS = {
    "model": ["vit_kan", "vit", "vit_kan_seed"],
    "data": ["mnist", "cifar10", "cifar100", "flowers", "flowers102", "imagefolder"],
    "optimizer": ["adamw", "sgd"],
    "scheduler": ["cosine", "none"],
    "logger": ["wandb", "none"],
    "debug": ["fast"],
    "experiment": ["cifar10_kan_vs_mlp"],
}


@pytest.mark.parametrize("group,option", [(g, o) for g, opts in GROUP_OPTIONS.items() for o in opts])
def test_every_config_group_option_composes_and_instantiates(tmp_path, group, option):
    overrides = [f"{group}={option}"] + (["data.root=/nonexistent"] if option == "imagefolder" else [])
    cfg = make_cfg(tmp_path, overrides)
    assert cfg[group if group not in ("debug", "experiment") else "trainer"] is not None
    spec = model_spec(cfg, cfg.data.num_classes or 3, cfg.data.in_chans, cfg.data.img_size)
    assert spec["model_name"].startswith(("vit_kan", "vit_mlp"))
    import timm

    model = timm.create_model(spec["model_name"], **{**spec["model_kwargs"], "depth": 1})
    optimizer = build_optimizer(cfg, model)
    factors = [lr_lambda(cfg, 10)(s) for s in range(0, cfg.trainer.epochs * 10, 7)]
    assert all(0 < f <= 1 for f in factors)
    assert isinstance(optimizer, (torch.optim.AdamW, torch.optim.SGD))


def test_optuna_search_config_composes(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=["hparams_search=optuna"], return_hydra_config=True)
    assert cfg.hydra.sweeper.direction == "maximize" and "model.kan.grid_size" in cfg.hydra.sweeper.params
    assert cfg.optimized_metric == "best_val_acc"


def test_sweep_over_kan_options_composes_for_the_mlp_twin_too(tmp_path):
    cfg = make_cfg(tmp_path, ["model=vit", "model.kan.grid_size=8"])
    assert cfg.model.name == "vit_mlp_tiny_patch4_32"


def test_unknown_keys_and_groups_are_rejected_by_name(tmp_path):
    from hydra.errors import ConfigCompositionException, MissingConfigException

    with pytest.raises(MissingConfigException, match="data/imagenet"):
        make_cfg(tmp_path, ["data=imagenet"])
    with pytest.raises(ConfigCompositionException, match="trainer.epoch"):
        make_cfg(tmp_path, ["trainer.epoch=3"])


# --- data ------------------------------------------------------------------------------------------------

def test_mnist_and_cifar_loaders_return_exact_counts_and_shapes(data_dir):
    for name, shape, n_train, n_test in [("mnist", (1, 28, 28), 60000, 10000), ("cifar10", (3, 32, 32), 50000, 10000)]:
        cfg = make_cfg(Path("."), [f"data={name}"]).data
        data = build_data(cfg, data_dir, 1000, CPU, seed=0)
        assert (data.n_train, data.n_val) == (n_train, n_test)
        assert len(data.train) == n_train // 1000
        seen = 0
        for x, y in data.val:
            assert x.shape[1:] == shape and x.dtype == torch.float32 and y.dtype == torch.int64
            seen += len(y)
        assert seen == n_test  # every test image exactly once
        x, y = next(iter(data.train))
        assert x.shape == (1000, *shape) and abs(x.mean().item()) < 0.3  # normalised
        # the same epoch gives the same batches; the next epoch a different order
        data.train.set_epoch(3)
        a = next(iter(data.train))[1]
        b = next(iter(data.train))[1]
        data.train.set_epoch(4)
        assert torch.equal(a, b) and not torch.equal(a, next(iter(data.train))[1])


def test_flowers_split_is_stratified_80_20_and_fixed(data_dir):
    cfg = make_cfg(Path("."), ["data=flowers", "data.img_size=32", "data.num_workers=0", "data.loader=dataloader"]).data
    one = build_data(cfg, data_dir, 16, CPU, seed=0)
    other = build_data(cfg, data_dir, 16, CPU, seed=123)  # the run's seed must not move the split
    assert (one.n_train, one.n_val) == (2935, 735)  # 3,670 photos: per class round(20 %) held out
    assert one.val.dataset.samples == other.val.dataset.samples
    counts = {}
    for _, label in one.val.dataset.samples:
        counts[label] = counts.get(label, 0) + 1
    assert counts == {0: 127, 1: 180, 2: 128, 3: 140, 4: 160}
    x, y = next(iter(one.train))
    assert x.shape == (16, 3, 32, 32) and y.shape == (16,)


def test_flowers_gpu_resident_loader_gives_augmented_train_and_fixed_val_views(data_dir):
    cfg = make_cfg(Path("."), ["data=flowers", "data.img_size=48", "data.subset=40", "data.loader=gpu"]).data
    data = build_data(cfg, data_dir, 16, CPU, seed=0)
    assert (data.n_train, data.n_val, len(data.train), len(data.val)) == (40, 40, 2, 3)
    x, y = next(iter(data.train))
    assert x.shape == (16, 3, 48, 48) and torch.isfinite(x).all() and x.std() > 0.3
    val_a = torch.cat([v for v, _ in data.val])
    data.val.set_epoch(5)
    val_b = torch.cat([v for v, _ in data.val])
    assert val_a.shape == (40, 3, 48, 48) and torch.equal(val_a, val_b)  # evaluation views do not change
    data.train.set_epoch(1)
    assert not torch.equal(next(iter(data.train))[0], x)  # training views do


def test_imagefolder_with_train_val_folders(tmp_path):
    from PIL import Image

    for split, n in (("train", 6), ("val", 2)):
        for c in ("cat", "dog"):
            (tmp_path / split / c).mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (20, 24), (i * 20, 0, 0)).save(tmp_path / split / c / f"{i}.png")
    cfg = make_cfg(tmp_path, ["data=imagefolder", f"data.root={tmp_path}", "data.img_size=16", "data.num_workers=0",
                              "data.loader=dataloader"]).data
    data = build_data(cfg, tmp_path, 4, CPU, seed=0)
    assert (data.n_train, data.n_val, data.num_classes) == (12, 4, 2)
    assert next(iter(data.val))[0].shape == (4, 3, 16, 16)


def test_missing_dataset_error_names_the_folder_and_the_fix(tmp_path):
    cfg = make_cfg(tmp_path, ["data=mnist", "data.download=false"]).data
    with pytest.raises(DatasetError, match="data.download=true") as err:
        build_data(cfg, tmp_path / "nowhere", 10, CPU, seed=0)
    assert "nowhere" in str(err.value)
    cfg = make_cfg(tmp_path, ["data=flowers"]).data
    with pytest.raises(DatasetError, match="flower_photos"):
        build_data(cfg, tmp_path / "nowhere", 10, CPU, seed=0)


def test_corrupt_dataset_file_is_detected_not_trained_on(tmp_path, data_dir):
    (tmp_path / "mnist").mkdir()
    shutil.copy(data_dir / "mnist" / "test.npz", tmp_path / "mnist" / "test.npz")
    blob = (data_dir / "mnist" / "train.npz").read_bytes()
    (tmp_path / "mnist" / "train.npz").write_bytes(blob[: len(blob) // 2])  # truncated copy
    cfg = make_cfg(tmp_path, ["data=mnist"]).data
    with pytest.raises(DatasetError, match="corrupt"):
        build_data(cfg, tmp_path, 10, CPU, seed=0)


# --- runs ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory, data_dir):
    """One short KAN run on 4,000 MNIST digits, logged to W&B offline: shared by the tests below."""
    run_dir = tmp_path_factory.mktemp("mnist_run")
    cfg = make_cfg(run_dir, TINY + ["data=mnist", "data.subset=4000", "trainer.epochs=3", "trainer.batch_size=100",
                                    "scheduler.warmup_epochs=0", "optimizer.lr=2e-3", "logger=wandb",
                                    "trainer.kan_reg_weight=1e-5", "trainer.grid_update.every=20",
                                    "trainer.grid_update.until_epoch=1"], data_dir)
    summary = train(cfg)
    return run_dir, summary


@pytest.mark.slow
def test_short_mnist_training_learns_well_above_chance(mnist_run):
    run_dir, summary = mnist_run
    assert summary["status"] == "finished" and summary["best_val_acc"] > 0.3  # chance is 0.1
    rows = read_metrics(run_dir)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3] and list(rows[0]) == METRIC_COLUMNS
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    saved = json.loads((run_dir / "summary.json").read_text())
    assert saved["best_val_acc"] == summary["best_val_acc"] and saved["params"] > 0
    assert (run_dir / "config.yaml").exists()
    assert list((run_dir / "wandb").glob("offline-run-*")), "W&B offline run folder missing"


@pytest.mark.slow
def test_load_run_rebuilds_the_trained_model_and_evaluate_scores_it(mnist_run, data_dir):
    run_dir, summary = mnist_run
    run = load_run(run_dir)
    assert run.epoch + 1 == summary["best_epoch"]
    ckpt = load_checkpoint(run_dir / "checkpoints" / "best.pt")
    for name, tensor in run.model.state_dict().items():
        assert torch.equal(tensor, ckpt["model"][name]), name
    assert not run.model.blocks[0].mlp.fc1.grid_uniform  # the updated grids came back with the weights
    result = evaluate_run(str(run_dir), split="test", data_dir=str(data_dir), device="cpu")
    assert result["n_images"] == 4000 and result["acc"] == pytest.approx(summary["best_val_acc"], abs=1e-6)


@pytest.mark.slow
def test_resume_gives_the_same_metrics_as_an_uninterrupted_run(tmp_path, data_dir):
    common = TINY + ["data=mnist", "data.subset=600", "trainer.epochs=3", "trainer.batch_size=50", "logger=none"]
    full = make_cfg(tmp_path / "full", common, data_dir)
    train(full)
    part = make_cfg(tmp_path / "part", common + ["trainer.max_epochs_this_run=1"], data_dir)
    assert train(part)["status"].startswith("paused")
    resumed = make_cfg(tmp_path / "other", common + [f"resume={tmp_path / 'part'}"], data_dir)
    train(resumed)
    a, b = read_metrics(tmp_path / "full"), read_metrics(tmp_path / "part")
    keys = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr"]
    assert [[r[k] for k in keys] for r in a] == [[r[k] for k in keys] for r in b]


def test_corrupt_checkpoint_gives_a_clear_error(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "best.pt").write_bytes(b"PK\x03\x04 not really a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_run(tmp_path)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_run(tmp_path, which="last")


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, data_dir, monkeypatch):
    import vkan.train as vt

    calls = {"n": 0}
    real = vt.F.cross_entropy

    def poisoned(*args, **kwargs):  # training losses of the second epoch become NaN
        loss = real(*args, **kwargs)
        if kwargs.get("reduction") != "sum":
            calls["n"] += 1
            if calls["n"] > 4:
                return loss * float("nan")
        return loss

    monkeypatch.setattr(vt.F, "cross_entropy", poisoned)
    cfg = make_cfg(tmp_path, TINY + ["data=mnist", "data.subset=200", "trainer.epochs=3", "trainer.batch_size=50",
                                     "logger=none"], data_dir)
    with pytest.raises(NonFiniteLossError, match="last good epoch"):
        train(cfg)
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["epoch"] == 0
    assert json.loads((tmp_path / "summary.json").read_text())["status"].startswith("failed: NonFiniteLossError")
    assert len(read_metrics(tmp_path)) == 1


@pytest.mark.slow
def test_multirun_writes_one_folder_per_job_and_survives_a_failing_job(tmp_path, data_dir):
    env = {**os.environ, "VKAN_DATA_DIR": str(data_dir)}
    cmd = [sys.executable, "train.py", "-m", "model=vit_kan,vit", f"paths.data_dir={data_dir},{tmp_path / 'nowhere'}",
           "debug=fast", "data=mnist", "data.subset=200", "data.download=false", "trainer.batch_size=20", *TINY,
           f"hydra.sweep.dir={tmp_path}"]
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    # jobs: (kan, data), (kan, no data), (mlp, data), (mlp, no data)
    names = [json.loads((tmp_path / str(i) / "summary.json").read_text())["model_name"] for i in (0, 2)]
    assert names == ["vit_kan_tiny_patch4_32", "vit_mlp_tiny_patch4_32"]
    for i in (0, 2):
        assert (tmp_path / str(i) / "checkpoints" / "last.pt").exists()
        assert (tmp_path / str(i) / ".hydra" / "config.yaml").exists()
    for i in (1, 3):
        assert "DatasetError" in (tmp_path / str(i) / "train.log").read_text()


def test_wandb_runs_offline_without_a_login_and_online_with_one(tmp_path, monkeypatch):
    from vkan.run_logger import wandb_mode

    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    assert wandb_mode("auto") == "offline"  # a fresh machine: no key anywhere
    (tmp_path / "netrc").write_text("machine api.wandb.ai\n  login user\n  password abc\n")
    assert wandb_mode("auto") == "online"  # after `wandb login`
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert wandb_mode("auto") == "disabled"  # the environment wins
    monkeypatch.delenv("WANDB_MODE")
    assert wandb_mode("offline") == "offline"

"""The training app: configs compose, data splits are right, a short MNIST run learns, resume is exact
(also from the middle of an epoch), failures keep results."""
import csv
import json
import logging
import math
import os
import re
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
import torch.nn as nn
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf, open_dict

import vkan.compiled_check as vcheck
from vkan import load_run
from vkan.checkpoint import build_model_from_checkpoint, load_checkpoint
from vkan.config import model_spec, resumed_config, validate
from vkan.data import DatasetError, build_data
from vkan.errors import CheckpointError, ConfigError, DeviceStateError, NonFiniteLossError
from vkan.evaluate import evaluate_run
from vkan.interrupt import Interrupted
from vkan.run_logger import METRIC_COLUMNS
from vkan.train import build_optimizer, lr_lambda, train

REPO = Path(__file__).resolve().parents[1]
CONF = str(REPO / "conf")
CPU = torch.device("cpu")
# a ViT small enough for CPU tests: one block, 7x7 patches (16 tokens at 28 px)
TINY = ["model.kwargs.depth=1", "+model.kwargs.patch_size=7", "trainer.device=cpu", "trainer.progress_bar=false"]


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
    "data": ["mnist", "cifar10", "cifar100", "flowers", "flowers102", "imagefolder", "synthetic"],
    "augment": ["light", "strong", "trivial", "autoaugment"],
    "optimizer": ["adamw", "sgd"],
    "scheduler": ["cosine", "none"],
    "logger": ["wandb", "none"],
    "debug": ["fast"],
    "experiment": sorted(p.stem for p in (Path(CONF) / "experiment").glob("*.yaml")),
}


@pytest.mark.parametrize("group,option", [(g, o) for g, opts in GROUP_OPTIONS.items() for o in opts])
def test_every_config_group_option_composes_and_instantiates(tmp_path, group, option):
    overrides = [f"{group}={option}"] + (["data.root=/nonexistent"] if option == "imagefolder" else [])
    cfg = make_cfg(tmp_path, overrides)
    from vkan.config import validate

    validate(cfg)
    spec = model_spec(cfg, cfg.data.num_classes or 3, cfg.data.in_chans, cfg.data.img_size)
    assert spec["model_name"] == cfg.model.name and spec["model_kwargs"]["img_size"] == cfg.data.img_size
    import timm

    model = timm.create_model(spec["model_name"], **{**spec["model_kwargs"], "depth": 1})
    optimizer = build_optimizer(cfg, model)
    factors = [lr_lambda(cfg, 10)(s) for s in range(0, cfg.trainer.epochs * 10, 7)]
    assert all(0 < f <= 1 for f in factors)
    assert isinstance(optimizer, torch.optim.Optimizer) and len(optimizer.param_groups) == 2


def test_the_cifar100_experiment_is_the_cifar10_recipe_on_cifar100_data(tmp_path):
    """The recipe lives in experiment/cifar10.yaml only: the two composed configs differ in the data and the W&B group."""
    from vkan.config import flat_items

    c10, c100 = (dict(flat_items(OmegaConf.to_container(make_cfg(tmp_path, [f"experiment={name}"]), resolve=True)))
                 for name in ("cifar10", "cifar100"))
    differ = {key for key in c10.keys() | c100.keys() if c10.get(key) != c100.get(key)}
    assert differ == {"data.name", "data.num_classes", "data.mean", "data.std", "logger.group"}
    assert c100["data.val_split"] == "holdout" and c100["model.kwargs.tokenizer"] == "conv"


def test_a_cifar100_experiment_run_trains_and_scores_100_classes_from_an_offline_copy(tmp_path, monkeypatch):
    """experiment=cifar100 end to end on the CPU, from a small copy in the offline layout (cifar100/train.npz and
    test.npz; the published sizes' check is lifted for it): holdout validation, then the test split scored once."""
    import numpy as np

    import vkan.data.arrays as arrays

    monkeypatch.setattr(arrays, "EXPECTED_COUNTS", {})
    rng = np.random.default_rng(0)
    (tmp_path / "data" / "cifar100").mkdir(parents=True)
    for split, n in (("train", 400), ("test", 100)):
        np.savez(tmp_path / "data" / "cifar100" / f"{split}.npz", labels=np.arange(n) % 100,
                 images=rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8))
    cfg = make_cfg(tmp_path / "run", ["experiment=cifar100", "model.kwargs.depth=1", "trainer.device=cpu",
                                      "trainer.progress_bar=false", "logger=none", "trainer.epochs=1",
                                      "trainer.batch_size=100", "data.holdout=100"], tmp_path / "data")
    summary = train(cfg)
    assert summary["status"] == "finished" and summary["val_split"] == "holdout" and 0 <= summary["test_acc"] <= 1
    assert load_run(tmp_path / "run").model.head.out_features == 100


def test_kan_spline_branch_gets_its_own_lr_scale_and_weight_decay_through_the_schedule(tmp_path):
    import timm

    cfg = make_cfg(tmp_path, ["optimizer.kan_spline_lr_scale=0.1", "optimizer.kan_spline_weight_decay=0.2"])
    model = timm.create_model(cfg.model.name, num_classes=10, depth=1)
    optimizer = build_optimizer(cfg, model)
    fc1 = model.blocks[0].mlp.fc1
    group_of = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    lr = cfg.optimizer.lr
    assert group_of[id(fc1.spline_weight)]["lr"] == pytest.approx(0.1 * lr)
    assert group_of[id(fc1.spline_weight)]["weight_decay"] == 0.2
    assert group_of[id(fc1.spline_scaler)]["lr"] == pytest.approx(0.1 * lr)
    assert group_of[id(fc1.spline_scaler)]["weight_decay"] == 0.0
    assert group_of[id(fc1.base_weight)]["lr"] == lr and group_of[id(fc1.base_weight)]["weight_decay"] == 0.05
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(model.parameters()))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg, 10))
    for _ in range(7):
        optimizer.step()
        schedule.step()
    assert group_of[id(fc1.spline_weight)]["lr"] == pytest.approx(0.1 * group_of[id(fc1.base_weight)]["lr"])
    resumed = build_optimizer(cfg, model)  # a resume: fresh groups, then the saved states
    resumed.load_state_dict(optimizer.state_dict())
    schedule_again = torch.optim.lr_scheduler.LambdaLR(resumed, lr_lambda(cfg, 10))
    schedule_again.load_state_dict(schedule.state_dict())
    resumed.step()
    schedule_again.step()
    schedule.step()
    assert [g["lr"] for g in resumed.param_groups] == pytest.approx([g["lr"] for g in optimizer.param_groups])
    mlp = build_optimizer(make_cfg(tmp_path, ["model=vit", "optimizer.kan_spline_lr_scale=0.1"]),
                          timm.create_model("vit_mlp_tiny_patch4_32", num_classes=10, depth=1))
    assert [g["lr"] for g in mlp.param_groups] == [lr, lr]  # no spline branch: the option changes nothing


@pytest.mark.parametrize("model", ["vit_kan", "vit"])
def test_gradient_clipping_scales_every_trained_parameters_gradient_kan_spline_branch_included(tmp_path, model):
    """trainer.grad_clip bounds the norm of all the step's gradients together: the parameter list kept for it
    (``Run.trained``, listed once at set-up) is every parameter the optimizer trains, in any of its groups."""
    from vkan import distributed as dist
    from vkan.interrupt import StopSignal
    from vkan.run_state import EpochTotals
    from vkan.train import set_up, training_step

    cfg = make_cfg(tmp_path, TINY + [f"model={model}", "data=synthetic", "data.n_train=16", "data.n_test=16",
                                     "trainer.batch_size=8", "trainer.grad_clip=0.001", "logger=none",
                                     "optimizer.kan_spline_lr_scale=0.5"])
    validate(cfg)
    run = set_up(cfg, dist.setup(), StopSignal())
    try:
        trained = [p for p in run.model.parameters() if p.requires_grad]
        assert {id(p) for p in run.trained} == {id(p) for p in trained} and len(run.trained) == len(trained)
        x, y = next(iter(run.data.train))
        training_step(run, x, y, EpochTotals.zeros(run.device))
        grads = [p.grad for p in trained]  # the step's gradients, as the optimizer took them
        assert all(g is not None for g in grads)
        assert torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item() == pytest.approx(0.001, rel=1e-3)
    finally:
        run.logger.finish(failed=False)


@pytest.mark.parametrize("max_norm", [0.5, 1e6])  # clipped; left as they were
def test_clip_gradients_scales_and_returns_the_norm_as_torchs_clip_grad_norm_does(max_norm):
    """vkan's clipping (the total norm over one flat copy of the gradients) against torch's clip_grad_norm_ (one norm a
    gradient, stacked): the same norm returned and the same gradients after, a parameter without a gradient left
    alone."""
    from vkan.engine import clip_gradients

    torch.manual_seed(0)
    shapes = [(3, 4), (7,), (2, 3, 5), (1,)]
    ours, theirs = ([nn.Parameter(torch.randn(shape)) for shape in shapes] for _ in range(2))
    for a, b in zip(ours[:-1], theirs[:-1]):  # the last parameter has no gradient
        a.grad = torch.randn(a.shape)
        b.grad = a.grad.clone()
    norm = clip_gradients(iter(ours), max_norm)  # a generator, as model.parameters() is: read once
    assert norm.item() == pytest.approx(nn.utils.clip_grad_norm_(theirs, max_norm).item(), rel=1e-6)
    assert norm.item() > 1  # above the first max_norm: the first case does clip
    for a, b in zip(ours[:-1], theirs[:-1]):
        assert torch.allclose(a.grad, b.grad, rtol=1e-6, atol=0)
    assert ours[-1].grad is None
    assert clip_gradients([nn.Parameter(torch.randn(2))], 1.0).item() == 0.0  # no gradients: nothing to clip


def test_the_compiled_unit_gives_the_logits_or_the_loss_with_its_kan_penalty_and_the_steps_metric_sums():
    from timm.loss import SoftTargetCrossEntropy

    from vkan.engine import ModelWithLoss
    from vkan.kan_tools import kan_regularization_loss

    torch.manual_seed(0)
    model = timm.create_model("vit_kan_tiny_patch4_32", num_classes=10, depth=1)
    x, y = torch.randn(6, 3, 32, 32), torch.tensor([0, 1, 2, 3, 4, 5])
    smoothing = nn.CrossEntropyLoss(label_smoothing=0.1)
    unit = ModelWithLoss(model, smoothing, kan_reg_weight=0.01)
    logits = unit(x)
    assert torch.equal(logits, model(x))
    loss, sums = unit(x, y, y)
    expected = smoothing(logits, y) + 0.01 * kan_regularization_loss(model)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert sums.tolist() == pytest.approx([6 * expected.item(), (logits.argmax(-1) == y).sum().item()], rel=1e-6)
    assert not sums.requires_grad
    loss.backward()
    assert model.blocks[0].mlp.fc1.spline_weight.grad is not None
    predicted = logits.argmax(-1)  # as labels: every prediction right; the soft targets favour other classes
    soft = nn.functional.one_hot((predicted + 1) % 10, 10).float() * 0.9 + 0.01
    loss, sums = ModelWithLoss(model, SoftTargetCrossEntropy())(x, soft, predicted)
    assert loss.item() == pytest.approx(SoftTargetCrossEntropy()(model(x), soft).item(), rel=1e-6)
    assert sums[1].item() == 6  # the accuracy counts against the labels, not the (mixed) targets
    assert set(unit.state_dict()) == {f"model.{k}" for k in model.state_dict()}  # the loss holds no state


def test_compare_forwards_gives_both_accuracies_and_the_logits_gap_about_each_images_mean_overall_and_per_batch():
    from vkan.engine import compare_forwards

    torch.manual_seed(0)
    reference = nn.Linear(4, 3)
    x = torch.randn(40, 4)
    y = reference(x).argmax(-1)
    y[:10] = (y[:10] + 1) % 3  # a quarter of the labels wrong for the reference
    loader = [(x[:25], y[:25]), (x[25:], y[25:])]

    class Shifted(nn.Module):  # the reference's logits plus a shift common to each image's logits, then ``extra``
        def __init__(self, extra):
            super().__init__()
            self.extra = extra

        def forward(self, inputs):
            logits = reference(inputs)
            return logits + inputs[:, :1] * 5 + self.extra

    acc, ref_acc, gap, batch_gaps = compare_forwards(Shifted(0.0), reference, loader, torch.device("cpu"), None)
    assert (acc, ref_acc) == (0.75, 0.75) and gap == pytest.approx(0.0, abs=1e-6)  # a shift changes nothing
    assert batch_gaps == pytest.approx((0.0, 0.0), abs=1e-6)
    extra = torch.randn(40, 3) * 0.1
    logits = reference(x).detach()
    centred = logits - logits.mean(-1, keepdim=True)
    expected = ((extra - extra.mean(-1, keepdim=True)).square().sum() / centred.square().sum()).sqrt().item()
    batches = iter([extra[:25], extra[25:]])

    class Noisy(nn.Module):
        def forward(self, inputs):
            return reference(inputs) + next(batches)

    acc, ref_acc, gap, batch_gaps = compare_forwards(Noisy(), reference, loader, torch.device("cpu"), None)
    assert gap == pytest.approx(expected, rel=1e-5) and ref_acc == 0.75
    assert acc == ((logits + extra).argmax(-1) == y).float().mean().item()
    noise_in_second = ((extra[25:] - extra[25:].mean(-1, keepdim=True)).square().sum()
                       / centred[25:].square().sum()).sqrt().item()
    batches = iter([torch.zeros(25, 3), extra[25:]])  # only the second batch differs: only its own gap shows it
    assert compare_forwards(Noisy(), reference, loader, torch.device("cpu"), None).batch_gaps == pytest.approx(
        (0.0, noise_in_second), rel=1e-5, abs=1e-6)
    noisy = Noisy().train()
    with pytest.raises(StopIteration):  # its noise is used up: the forward fails inside the comparison
        compare_forwards(noisy, reference, loader, torch.device("cpu"), None)
    assert noisy.training and reference.training  # modes restored all the same
    with pytest.raises(ValueError, match="no images to compare"):
        compare_forwards(reference, reference, [], torch.device("cpu"), None)
    flat = nn.Linear(4, 3)
    nn.init.zeros_(flat.weight), nn.init.zeros_(flat.bias)  # equal logits across classes: no spread to compare to
    assert compare_forwards(flat, flat, loader, torch.device("cpu"), None)[2:] == (0.0, (0.0, 0.0))
    assert compare_forwards(reference, flat, loader, torch.device("cpu"), None)[2:] == (math.inf, (math.inf, math.inf))


def test_full_batches_score_a_static_shape_compiled_model_with_one_graph_and_the_same_numbers():
    from vkan.data.gpu_loader import GpuLoader
    from vkan.engine import compare_forwards, evaluate

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.LayerNorm(8), nn.Linear(8, 3))
    images, labels = torch.randint(0, 256, (50, 3, 2, 2), dtype=torch.uint8), torch.randint(0, 3, (50,))
    loader = GpuLoader(images, labels, 16, mean=[0.5] * 3, std=[0.25] * 3, train=False)  # 16, 16, 16, then 2
    cpu = torch.device("cpu")
    eager = evaluate(model, loader, cpu, None)
    for full_batches, graphs in ((True, 1), (False, 2)):
        compiled_graphs = []

        def backend(gm, example_inputs):  # counts the graphs torch.compile makes, then runs them as traced
            compiled_graphs.append([tuple(t.shape) for t in example_inputs if isinstance(t, torch.Tensor)])
            return gm.forward

        torch._dynamo.reset()
        net = torch.compile(model, backend=backend, dynamic=False)
        loss, acc = evaluate(net, loader, cpu, None, full_batches=full_batches)
        assert (loss, acc) == pytest.approx(eager, rel=1e-6)  # the padding's logits are dropped
        assert len(compiled_graphs) == graphs  # padded: the short batch runs the full batches' graph
        assert compare_forwards(net, model, loader, cpu, None, full_batches=full_batches)[0] == eager[1]
        assert len(compiled_graphs) == graphs
    torch._dynamo.reset()


def test_model_kwargs_reach_timm_as_written_for_both_twins(tmp_path):
    import timm

    for model, kan in (("vit_kan", True), ("vit", False)):
        cfg = make_cfg(tmp_path, [f"model={model}", "model.kwargs.global_pool=avg", "model.kwargs.class_token=false"]
                       + (["model.kwargs.kan.grid_size=8"] if kan else []))
        spec = model_spec(cfg, 10, 3, 32)
        assert spec["model_kwargs"]["global_pool"] == "avg" and ("kan" in spec["model_kwargs"]) == kan
        net = timm.create_model(spec["model_name"], **{**spec["model_kwargs"], "depth": 1})
        assert net.global_pool == "avg" and net.cls_token is None
        if kan:
            assert net.blocks[0].mlp.fc1.grid_size == 8


def test_optuna_search_composes_and_tunes_on_the_holdout_without_seeing_the_test_split(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=["hparams_search=optuna", "data=mnist"], return_hydra_config=True)
    assert cfg.hydra.sweeper.direction == "maximize" and "model.kwargs.kan.grid_size" in cfg.hydra.sweeper.params
    assert cfg.optimized_metric == "best_val_acc"
    assert cfg.data.val_split == "holdout" and cfg.trainer.score_test is False


def test_unknown_kan_option_fails_before_training_naming_the_valid_ones(tmp_path):
    cfg = make_cfg(tmp_path, ["+model.kwargs.kan.grid_sise=5"])
    with pytest.raises(ConfigError, match=r"model.kwargs.kan.grid_sise is not a KAN option \(did you mean "
                                          r"grid_size\?\).*spline_order"):
        train(cfg)
    assert not (tmp_path / "metrics.csv").exists()


@pytest.mark.parametrize("override,message", [
    ("+model.kwargs.tokenizer=sptt", r"cannot be built with the model.kwargs given: tokenizer='sptt': choose one of "
                                     r"patch, spt, conv"),
    ("+model.kwargs.patch_size=3", r"tokenizer='conv' .* a square power-of-two patch size .* pick such a "
                                   r"\+model.kwargs.patch_size"),
])
def test_model_kwargs_the_model_refuses_fail_at_set_up_as_bad_input(tmp_path, override, message):
    cfg = make_cfg(tmp_path, ["data=synthetic", "data.n_train=64", "data.n_test=32", "trainer.device=cpu",
                              "logger=none", "+model.kwargs.tokenizer=conv" if "patch_size" in override else "seed=0",
                              override])
    with pytest.raises(ConfigError, match=message):
        train(cfg)
    assert not (tmp_path / "metrics.csv").exists()


@pytest.mark.parametrize("override,message", [
    ("trainer.batch_size=0", r"trainer.batch_size=0 is not valid: it must be an integer >= 1"),
    ("trainer.batch_size=-4", r"trainer.batch_size=-4 is not valid"),
    ("trainer.epochs=0", r"trainer.epochs=0 is not valid"),
    ("optimizer.lr=0", r"optimizer.lr=0 is not valid: it must be a number > 0"),
    ("data.val_split=valid", r"data.val_split='valid' is not valid: it must be holdout, test or val"),
    ("model.kwargs.kan.spline_order=-1", r"spline_order must be an integer >= 0"),
    ("model.kwargs.kan_hidden_multiple=0", r"kan_hidden_multiple=0 is not valid: it must be an integer >= 1"),
    ("trainer.pause_after_minutes=0", r"trainer.pause_after_minutes=0 is not valid: it must be null or a number"),
    ("trainer.checkpoint_every=0", r"trainer.checkpoint_every=0 is not valid: it must be an integer >= 1"),
    ("optimizer.kan_spline_lr_scale=0", r"optimizer.kan_spline_lr_scale=0 is not valid: it must be a number > 0"),
    ("trainer.compile_mode=reduce_overhead", r"trainer.compile_mode='reduce_overhead' is not valid: it must be auto, null or default "),
    ("trainer.kan_kernel_path=cublas", r"trainer.kan_kernel_path='cublas' is not valid: it must be auto, auto-keep, "
                                       r"fused, gemm or gemm-keep"),
    ("trainer.graph_ffn=yes", r"trainer.graph_ffn='yes' is not valid: it must be auto, true or false"),
    ("trainer.graph_ffn=1", r"trainer.graph_ffn=1 is not valid: it must be auto, true or false"),
    ("trainer.compile=1", r"trainer.compile=1 is not valid: it must be auto, true or false"),
    ("data.augment.compile=reduce-overhead", r"data.augment.compile='reduce-overhead' is not valid: .*CUDA graphs would "
                                             r"let each training batch overwrite the one before"),
])
def test_bad_values_fail_before_data_loading_naming_key_and_range(tmp_path, override, message):
    cfg = make_cfg(tmp_path, [override, "paths.data_dir=/nonexistent"])  # no data: a check must fail first
    with pytest.raises(ConfigError, match=message):
        train(cfg)


# --- data ------------------------------------------------------------------------------------------------

def test_mnist_and_cifar_loaders_return_exact_counts_and_shapes(data_dir):
    for name, shape, n_train, n_test in [("mnist", (1, 28, 28), 60000, 10000), ("cifar10", (3, 32, 32), 50000, 10000)]:
        cfg = make_cfg(Path("."), [f"data={name}"]).data
        data = build_data(cfg, data_dir, 1000, CPU, seed=0)
        assert (data.n_train, data.n_val, data.val_split, data.test) == (n_train, n_test, "test", None)
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


def test_holdout_is_a_fixed_stratified_disjoint_part_of_the_training_set(data_dir):
    cfg = make_cfg(Path("."), ["data=cifar10", "data.val_split=holdout"]).data
    one = build_data(cfg, data_dir, 500, CPU, seed=0)
    other = build_data(cfg, data_dir, 500, CPU, seed=7)  # the run's seed must not move the holdout
    assert (one.n_train, one.n_val, one.n_test, one.val_split) == (45000, 5000, 10000, "holdout")
    assert torch.equal(one.val.images, other.val.images)
    assert torch.bincount(one.val.labels).tolist() == [500] * 10  # stratified
    assert torch.bincount(one.train.labels).tolist() == [4500] * 10
    train_images = {hash(img.numpy().tobytes()) for img in one.train.images}
    assert not any(hash(img.numpy().tobytes()) in train_images for img in one.val.images)  # disjoint
    assert one.test is not None and len(one.test.labels) == 10000


def test_scoring_one_split_reads_only_that_split(monkeypatch):
    import vkan.data as vdata

    cfg = make_cfg(Path("."), ["data=synthetic", "data.val_split=holdout", "data.holdout=0.1"]).data
    real, read = vdata.source_splits, []

    def counting(cfg, data_dir):
        return {name: (lambda name=name, load=load: read.append(name) or load()) for name, load in real(cfg, data_dir).items()}

    monkeypatch.setattr(vdata, "source_splits", counting)
    loader, n = vdata.build_eval_loader(cfg, Path("."), "test", 64, CPU)
    assert read == ["test"] and n == cfg.n_test
    read.clear()
    _, n_holdout = vdata.build_eval_loader(cfg, Path("."), "holdout", 64, CPU)
    assert read == ["train"]
    read.clear()
    data = vdata.build_data(cfg, Path("."), 64, CPU, seed=0)
    assert sorted(read) == ["test", "train"] and n_holdout == data.n_val and data.n_train + data.n_val == cfg.n_train


def test_flowers_test_split_is_the_fixed_stratified_20_percent_and_holdout_comes_from_the_rest(data_dir):
    cfg = make_cfg(Path("."), ["data=flowers", "data.img_size=24"]).data
    one = build_data(cfg, data_dir, 16, CPU, seed=0)
    assert (one.n_train, one.n_val, one.val_split) == (2935, 735, "test")  # per class round(20 %) held out
    assert torch.bincount(one.val.labels).tolist() == [127, 180, 128, 140, 160]
    with open_dict(cfg):
        cfg.val_split = "holdout"
    tuned = build_data(cfg, data_dir, 16, CPU, seed=123)
    assert (tuned.n_train, tuned.n_val, tuned.n_test) == (2641, 294, 735)  # 10 % of the 2,935
    assert torch.equal(tuned.test.images, one.val.images)  # the same 735 test photos whatever the seed
    x, y = next(iter(one.train))
    assert x.shape == (16, 3, 24, 24) and y.shape == (16,) and torch.isfinite(x).all() and x.std() > 0.3
    val_a = torch.cat([v for v, _ in one.val])
    one.val.set_epoch(5)
    assert torch.equal(val_a, torch.cat([v for v, _ in one.val]))  # evaluation views do not change
    one.train.set_epoch(1)
    assert not torch.equal(next(iter(one.train))[0], x)  # training views do


def test_imagefolder_with_train_val_folders_and_a_missing_test_split(tmp_path):
    from PIL import Image

    for split, n in (("train", 6), ("val", 2)):
        for c in ("cat", "dog"):
            (tmp_path / split / c).mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (20, 24), (i * 20, 0, 0)).save(tmp_path / split / c / f"{i}.png")
    cfg = make_cfg(tmp_path, ["data=imagefolder", f"data.root={tmp_path}", "data.img_size=16", "data.num_workers=0",
                              "data.val_split=val"]).data
    with pytest.raises(DatasetError, match="imagefolder has no 'test' split; its splits are holdout, train, val"):
        build_data(cfg, tmp_path, 4, CPU, seed=0)  # the end of a run scores the test split


def test_a_failed_download_says_it_failed_rather_than_asking_for_a_download(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    from vkan.data.arrays import load_torchvision

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")
    monkeypatch.setattr(tvd, "MNIST", offline)
    with pytest.raises(DatasetError, match="downloading it failed \\(Error downloading") as err:
        load_torchvision(tmp_path, "mnist", "train", download=True)
    assert "data.download=true" not in str(err.value) and "VKAN_DATA_DIR" in str(err.value)


def test_missing_dataset_error_names_the_folder_and_both_fixes(tmp_path):
    cfg = make_cfg(tmp_path, ["data=mnist", "data.download=false"]).data
    with pytest.raises(DatasetError, match="data.download=true") as err:
        build_data(cfg, tmp_path / "nowhere", 10, CPU, seed=0)
    assert "nowhere" in str(err.value) and "VKAN_DATA_DIR" in str(err.value)
    cfg = make_cfg(tmp_path, ["data=flowers", "data.download=false"]).data
    with pytest.raises(DatasetError, match="flower_photos"):
        build_data(cfg, tmp_path / "nowhere", 10, CPU, seed=0)


def test_failed_download_becomes_the_dataset_error_not_a_traceback(tmp_path, monkeypatch):
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request.OpenerDirector, "open", offline)
    monkeypatch.setattr(urllib.request, "urlretrieve", offline)
    for name in ("cifar10", "flowers"):
        cfg = make_cfg(tmp_path, [f"data={name}"]).data
        with pytest.raises(DatasetError, match="failed.*name resolution.*VKAN_DATA_DIR"):
            build_data(cfg, tmp_path / "empty", 10, CPU, seed=0)


def test_corrupt_dataset_file_is_detected_not_trained_on(tmp_path, data_dir):
    import shutil

    (tmp_path / "mnist").mkdir()
    shutil.copy(data_dir / "mnist" / "test.npz", tmp_path / "mnist" / "test.npz")
    blob = (data_dir / "mnist" / "train.npz").read_bytes()
    (tmp_path / "mnist" / "train.npz").write_bytes(blob[: len(blob) // 2])  # truncated copy
    cfg = make_cfg(tmp_path, ["data=mnist"]).data
    with pytest.raises(DatasetError, match="corrupt"):
        build_data(cfg, tmp_path, 10, CPU, seed=0)


def test_offline_arrays_are_read_once_per_process_but_every_load_gets_its_own_copy(tmp_path):
    import numpy as np

    from vkan.data.arrays import load_offline

    (tmp_path / "digits").mkdir()
    path = tmp_path / "digits" / "train.npz"
    np.savez_compressed(path, images=np.zeros((4, 2, 2), np.uint8), labels=np.arange(4, dtype=np.uint8))
    first, _ = load_offline(tmp_path, "digits", "train")
    first[0, 0, 0] = 9  # the caller owns its arrays: the next load is unaffected
    again, labels = load_offline(tmp_path, "digits", "train")
    assert again[0, 0, 0] == 0 and labels.dtype == np.int64
    np.savez_compressed(path, images=np.ones((5, 2, 2), np.uint8), labels=np.arange(5, dtype=np.uint8))
    changed, _ = load_offline(tmp_path, "digits", "train")  # a rewritten file is read again
    assert changed.shape == (5, 2, 2) and changed.min() == 1


def test_a_split_in_chunk_files_loads_in_chunk_order_and_a_bad_chunk_stops_it(tmp_path):
    import numpy as np

    from vkan.data.arrays import load_offline

    (tmp_path / "digits").mkdir()
    for chunk in (0, 1, 2, 10):  # read side by side; 10 comes after 2
        np.savez(tmp_path / "digits" / f"train-{chunk}.npz", images=np.full((2, 2, 2), chunk, np.uint8),
                 labels=np.full(2, chunk, np.uint8))
    images, labels = load_offline(tmp_path, "digits", "train")
    assert labels.tolist() == [0, 0, 1, 1, 2, 2, 10, 10] and images[:, 0, 0].tolist() == labels.tolist()
    (tmp_path / "digits" / "train-1.npz").write_bytes(b"not a zip file")
    with pytest.raises(DatasetError, match="train-1.npz is not a readable dataset file"):
        load_offline(tmp_path, "digits", "train")


# --- runs ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory, data_dir):
    """One short KAN run on 4,000 MNIST digits with EMA, grid updates and a holdout, logged to W&B offline."""
    run_dir = tmp_path_factory.mktemp("mnist_run")
    cfg = make_cfg(run_dir, TINY + ["data=mnist", "data.subset=4000", "data.val_split=holdout", "data.holdout=500",
                                    "trainer.epochs=3", "trainer.batch_size=100", "scheduler.warmup_epochs=0",
                                    "optimizer.lr=2e-3", "logger=wandb", "trainer.kan_reg_weight=1e-5",
                                    "trainer.grid_update.every=20", "trainer.grid_update.until_epoch=1",
                                    "trainer.ema.decay=0.9"], data_dir)
    summary = train(cfg)
    return run_dir, summary


@pytest.mark.slow
def test_short_mnist_training_learns_and_scores_the_test_split_once(mnist_run):
    run_dir, summary = mnist_run
    assert summary["status"] == "finished" and summary["best_val_acc"] > 0.3  # chance is 0.1
    rows = read_metrics(run_dir)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3] and list(rows[0]) == METRIC_COLUMNS
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    assert [bool(r["test_acc"]) for r in rows] == [False, False, True]  # the test split is scored at the end only
    assert all(float(r["val_acc_ema"]) > 0 for r in rows)  # the EMA is evaluated beside the model every epoch
    saved = json.loads((run_dir / "summary.json").read_text())
    assert saved["best_val_acc"] == summary["best_val_acc"] and saved["params"] > 0
    assert saved["test_acc"] == float(rows[-1]["test_acc"]) and saved["val_split"] == "holdout"
    assert "test_acc_ema" in saved and "best_val_acc_ema" in saved
    assert (run_dir / "config.yaml").exists() and (run_dir / "checkpoints" / "best_ema.pt").exists()
    assert list((run_dir / "wandb").glob("offline-run-*")), "W&B offline run folder missing"


@pytest.mark.slow
def test_load_run_rebuilds_the_trained_model_and_evaluate_scores_it(mnist_run, data_dir):
    run_dir, summary = mnist_run
    run = load_run(run_dir)
    assert run.epoch == summary["best_epoch"]  # 1-based, like metrics.csv
    assert isinstance(run.config, DictConfig) and run.config.model.name == "vit_kan_tiny_patch4_32"
    ckpt = load_checkpoint(run_dir / "checkpoints" / "best.pt")
    for name, tensor in run.model.state_dict().items():
        assert torch.equal(tensor, ckpt["model"][name]), name
    assert not run.model.blocks[0].mlp.fc1.grid_uniform  # the updated grids came back with the weights
    result = evaluate_run(str(run_dir), split="val", data_dir=str(data_dir), device="cpu")
    assert result["n_images"] == 500 and result["acc"] == pytest.approx(summary["best_val_acc"], abs=1e-6)
    last_ema = load_run(run_dir, which="last_ema")
    ema_test = evaluate_run(str(run_dir), which="last_ema", split="test", data_dir=str(data_dir), device="cpu")
    assert last_ema.epoch == 3 and ema_test["acc"] == pytest.approx(summary["test_acc_ema"], abs=1e-6)


RESUME = TINY + ["data=mnist", "data.subset=600", "trainer.epochs=3", "trainer.batch_size=50", "logger=none",
                 "trainer.ema.decay=0.5", "trainer.mixup=0.2"]


@pytest.mark.slow
def test_resume_takes_the_saved_config_and_gives_the_same_metrics(tmp_path, data_dir):
    train(make_cfg(tmp_path / "full", RESUME, data_dir))
    part = make_cfg(tmp_path / "part", RESUME + ["trainer.max_epochs_this_run=1"], data_dir)
    first_part = train(part)
    assert first_part["status"].startswith("paused")
    saved = (tmp_path / "part" / "config.yaml").read_text()
    started = time.perf_counter()
    resumed = train(resumed_config(tmp_path / "part", ["trainer.max_epochs_this_run=null", "trainer.progress_bar=false"]))
    # the run's wall time spans both invocations, not only the resumed one
    resumed_for = time.perf_counter() - started
    assert resumed["wall_time_s"] > resumed_for
    assert resumed["wall_time_s"] <= first_part["wall_time_s"] + resumed_for  # each invocation counted once
    assert (tmp_path / "part" / "config.yaml").read_text() == saved  # never overwritten; resumes are recorded
    assert len((tmp_path / "part" / "resumes.jsonl").read_text().splitlines()) == 1
    a, b = read_metrics(tmp_path / "full"), read_metrics(tmp_path / "part")
    keys = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_acc_ema", "lr"]
    assert [[r[k] for k in keys] for r in a] == [[r[k] for k in keys] for r in b]


def test_a_new_run_replaces_a_failed_runs_config_and_is_refused_where_a_run_has_records(tmp_path, data_dir):
    with pytest.raises(NonFiniteLossError):  # fails in epoch 1: a summary and config.yaml, nothing worth keeping
        train(make_cfg(tmp_path, RESUME + ["optimizer.lr=1e30"], data_dir))
    assert not (tmp_path / "metrics.csv").exists()
    assert train(make_cfg(tmp_path, RESUME + ["trainer.epochs=1"], data_dir))["status"] == "finished"
    assert OmegaConf.load(tmp_path / "config.yaml").optimizer.lr != 1e30  # the new run's config, not the failed one's
    summary = (tmp_path / "summary.json").read_text()
    with pytest.raises(ConfigError, match=f"{tmp_path} already holds a run .* resume={tmp_path}"):
        train(make_cfg(tmp_path, RESUME + ["trainer.epochs=1", "seed=3"], data_dir))
    assert (tmp_path / "summary.json").read_text() == summary and len(read_metrics(tmp_path)) == 1


def test_resuming_a_finished_run_with_nothing_left_to_train_is_refused_and_keeps_its_summary(tmp_path, data_dir):
    train(make_cfg(tmp_path, RESUME + ["trainer.epochs=1"], data_dir))
    summary = (tmp_path / "summary.json").read_text()
    with pytest.raises(ConfigError, match="that run has trained 1 epoch.* trainer.epochs=<more than 1>"):
        train(resumed_config(tmp_path, []))
    assert (tmp_path / "summary.json").read_text() == summary  # its scores are still there
    on = train(resumed_config(tmp_path, ["trainer.epochs=2"]))
    assert on["status"] == "finished" and on["epochs_done"] == 2 and on["test_acc"] is not None
    paused = tmp_path / "paused"
    train(make_cfg(paused, RESUME + ["trainer.max_epochs_this_run=1"], data_dir))  # 1 of 3 epochs, then paused
    with pytest.raises(ConfigError, match="has trained 1 epoch"):  # fewer epochs than it trained: nothing to do
        train(resumed_config(paused, ["trainer.max_epochs_this_run=null", "trainer.epochs=1"]))
    assert json.loads((paused / "summary.json").read_text())["best_val_acc"] > 0


def test_pause_after_minutes_pauses_without_scoring_test_and_resume_finishes_the_run(tmp_path, data_dir):
    paused = train(make_cfg(tmp_path, RESUME + ["trainer.pause_after_minutes=0.0001"], data_dir))  # 6 ms: one epoch
    assert paused["status"].startswith("paused") and paused["epochs_done"] == 1 and "test_acc" not in paused
    done = train(resumed_config(tmp_path, ["trainer.pause_after_minutes=null"]))
    assert done["status"] == "finished" and done["epochs_done"] == 3
    assert [bool(r["test_acc"]) for r in read_metrics(tmp_path)] == [False, False, True]  # scored once, at the end


def test_a_resumed_runs_img_per_s_averages_the_steady_epochs_of_every_invocation(tmp_path, data_dir):
    train(make_cfg(tmp_path / "same", RESUME + ["trainer.max_epochs_this_run=2"], data_dir))  # epochs 1-2
    resumed = train(resumed_config(tmp_path / "same", ["trainer.max_epochs_this_run=null"]))  # epoch 3
    rates = [float(r["img_per_s"]) for r in read_metrics(tmp_path / "same")]
    assert len(rates) == 3 and resumed["status"] == "finished"
    assert resumed["img_per_s"] == pytest.approx(rates[1])  # epoch 1 and the resumed epoch 3 include warm-up
    train(make_cfg(tmp_path / "moved", RESUME + ["trainer.max_epochs_this_run=2"], data_dir))
    moved = train(resumed_config(tmp_path / "moved", ["trainer.max_epochs_this_run=null", "trainer.compile=true"]))
    assert moved["path"] != resumed["path"]  # another path (on a CPU: eager, saying compile is GPU-only) ...
    assert moved["img_per_s"] == pytest.approx(float(read_metrics(tmp_path / "moved")[2]["img_per_s"]))  # ... alone


def test_metrics_time_columns_hold_the_scoring_and_the_runs_wall_clock_over_its_invocations(tmp_path, data_dir,
                                                                                              monkeypatch):
    import vkan.train as vtrain

    scoring = vtrain.validation_metrics

    def slow_scoring(run):  # a scoring that takes at least 0.2 s: eval_s must hold it
        time.sleep(0.2)
        return scoring(run)

    monkeypatch.setattr(vtrain, "validation_metrics", slow_scoring)
    train(make_cfg(tmp_path, RESUME + ["trainer.max_epochs_this_run=2", "trainer.eval_every=2"], data_dir))
    started = time.perf_counter()
    done = train(resumed_config(tmp_path, ["trainer.max_epochs_this_run=null"]))  # epoch 3, the last: evaluated
    resumed_for = time.perf_counter() - started
    rows = read_metrics(tmp_path)
    assert [r["eval_s"] != "" for r in rows] == [False, True, True]  # epoch 1 was not scored (eval_every=2)
    assert all(float(r["eval_s"]) >= 0.2 for r in rows[1:])
    wall = [0.0] + [float(r["wall_s"]) for r in rows]
    for before, now, r in zip(wall, wall[1:], rows):  # each row's wall clock holds its epoch's training and scoring
        assert now - before >= float(r["epoch_s"]) + float(r["eval_s"] or 0)
    assert wall[3] > resumed_for  # the resumed row counts on from the first invocation's clock, not from zero ...
    assert wall[3] <= done["wall_time_s"]  # ... and the summary's wall time is at least the last row's


@pytest.mark.slow
def test_evaluating_the_holdout_of_a_run_that_trained_on_it_is_refused(tmp_path, data_dir):
    from vkan.evaluate import evaluate_run

    train(make_cfg(tmp_path, RESUME + ["trainer.epochs=1"], data_dir))  # validated on the test split
    with pytest.raises(ConfigError, match="trained on its holdout images .* --split test"):
        evaluate_run(str(tmp_path), split="holdout", data_dir=str(data_dir), device="cpu")
    assert evaluate_run(str(tmp_path), split="test", data_dir=str(data_dir), device="cpu")["n_images"] == 600


def test_resume_refuses_overrides_that_change_the_run(tmp_path):
    (tmp_path / "config.yaml").write_text("trainer:\n  epochs: 3\n  batch_size: 64\npaths:\n  output_dir: x\n"
                                          "resume: null\n")
    cfg = resumed_config(tmp_path, ["trainer.epochs=10"])
    assert cfg.trainer.epochs == 10 and cfg.trainer.batch_size == 64 and cfg.resume == str(tmp_path.resolve())
    with pytest.raises(ConfigError, match="trainer.batch_size cannot change on resume"):
        resumed_config(tmp_path, ["trainer.batch_size=512"])


@pytest.mark.slow
def test_interrupt_mid_epoch_then_resume_gives_the_same_final_parameters(tmp_path, data_dir, monkeypatch):
    import vkan.train as vt

    common = RESUME + ["trainer.epochs=2", "model.kwargs.drop_path_rate=0.1"]
    train(make_cfg(tmp_path / "full", common, data_dir))
    real_step = vt.training_step

    def step_then_signal(run, *args):  # SIGTERM arrives during the 5th step of epoch 2 (12 steps per epoch)
        real_step(run, *args)
        if run.step == 16:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(vt, "training_step", step_then_signal)
    with pytest.raises(Interrupted) as stopped:
        train(make_cfg(tmp_path / "cut", common, data_dir))
    assert stopped.value.exit_code == 143 and "interrupted at epoch 2 step 5" in str(stopped.value)
    assert json.loads((tmp_path / "cut" / "summary.json").read_text())["status"] == "interrupted"
    ckpt = load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")
    assert (ckpt["epochs_done"], ckpt["batches_done"]) == (1, 5)
    monkeypatch.setattr(vt, "training_step", real_step)
    train(resumed_config(tmp_path / "cut"))
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    keys = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_acc_ema", "test_acc", "lr"]
    rows = [[[r[k] for k in keys] for r in read_metrics(tmp_path / name)] for name in ("full", "cut")]
    assert rows[0] == rows[1]  # the interrupted epoch's row counts every batch once


def saved_epochs(monkeypatch):
    """The epochs_done of every last.pt the run writes (vkan.train.save_checkpoint recorded)."""
    import vkan.train as vt

    saved, real_save = [], vt.save_checkpoint
    monkeypatch.setattr(vt, "save_checkpoint", lambda path, payload: (saved.append(payload["epochs_done"]),
                                                                      real_save(path, payload)))
    return saved


# validated only after the last epoch, so no epoch before it improves on the best score (which is always saved)
SPARSE = RESUME + ["trainer.epochs=5", "trainer.eval_every=5", "trainer.checkpoint_every=2"]


@pytest.mark.slow
def test_checkpoint_every_skips_epochs_and_a_crash_between_checkpoints_resumes_exactly(tmp_path, data_dir,
                                                                                      monkeypatch, caplog):
    import vkan.train as vt

    saved = saved_epochs(monkeypatch)
    train(make_cfg(tmp_path / "full", SPARSE, data_dir))
    assert saved == [2, 4, 5]  # every 2nd epoch and the last
    real_step = vt.training_step

    def crash_in_epoch_4(run, *args):  # 12 steps an epoch: epoch 3 is logged, but last.pt holds epoch 2
        if run.step == 40:  # counted before the step: epoch 4's 5th
            raise RuntimeError("the machine went away")
        real_step(run, *args)

    monkeypatch.setattr(vt, "training_step", crash_in_epoch_4)
    with pytest.raises(RuntimeError, match="went away"):
        train(make_cfg(tmp_path / "cut", SPARSE, data_dir))
    assert [r["epoch"] for r in read_metrics(tmp_path / "cut")] == ["1", "2", "3"]
    assert load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")["epochs_done"] == 2
    monkeypatch.setattr(vt, "training_step", real_step)
    with caplog.at_level(logging.INFO, logger="vkan.train"):
        train(resumed_config(tmp_path / "cut"))
    assert "dropped the rows of the 1 epoch(s) after epoch 2" in caplog.text
    keys = ["epoch", "train_loss", "train_acc", "val_acc", "test_acc", "lr"]
    rows = [[[r[k] for k in keys] for r in read_metrics(tmp_path / name)] for name in ("full", "cut")]
    assert rows[0] == rows[1]  # epoch 3 trained again and logged once


@pytest.mark.slow
def test_a_pause_or_a_signal_after_an_epoch_checkpoint_skipped_saves_that_epoch(tmp_path, data_dir, monkeypatch):
    import vkan.train as vt

    saved = saved_epochs(monkeypatch)
    paused = train(make_cfg(tmp_path / "paused", SPARSE + ["trainer.max_epochs_this_run=3"], data_dir))
    assert paused["status"].startswith("paused") and saved == [2, 3]
    saved.clear()
    real_step = vt.training_step

    def signal_in_last_step_of_epoch_3(run, *args):
        real_step(run, *args)
        if run.step == 35:  # counted before the step: the 36th, epoch 3's last
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(vt, "training_step", signal_in_last_step_of_epoch_3)
    with pytest.raises(Interrupted, match="interrupted at epoch 3 step 12"):
        train(make_cfg(tmp_path / "stopped", SPARSE, data_dir))
    assert saved == [2, 3]
    ckpt = load_checkpoint(tmp_path / "stopped" / "checkpoints" / "last.pt")
    assert (ckpt["epochs_done"], ckpt["batches_done"]) == (3, 0)


def test_checkpoint_every_still_writes_each_epoch_that_improves_the_best_score(tmp_path, data_dir, monkeypatch):
    saved = saved_epochs(monkeypatch)
    summary = train(make_cfg(tmp_path, RESUME + ["trainer.epochs=4", "trainer.checkpoint_every=3"], data_dir))
    best, improving = -1.0, set()
    for row in read_metrics(tmp_path):
        if float(row["val_acc"]) > best:
            best, improving = float(row["val_acc"]), improving | {int(row["epoch"])}
    assert saved == sorted(improving | {3, 4})  # improving epochs, every 3rd, the last
    assert load_checkpoint(tmp_path / "checkpoints" / "best.pt")["epochs_done"] == summary["best_epoch"]


def test_a_resume_drops_metrics_rows_after_its_checkpoint_and_rows_a_crash_tore(tmp_path):
    from vkan.run_logger import RunLogger

    header = ",".join(METRIC_COLUMNS)
    whole = [",".join([str(e)] + ["0.5"] * (len(METRIC_COLUMNS) - 1)) for e in (1, 2, 3)]
    (tmp_path / "metrics.csv").write_text("\n".join([header, whole[0], "", whole[1], whole[2], "1,0.4"]) + "\n")
    logger = RunLogger(tmp_path, None, {}, "run")
    assert logger.drop_epochs_after(2) == 3  # the blank line, epoch 3 and the torn last row
    assert [r["epoch"] for r in read_metrics(tmp_path)] == ["1", "2"]
    logger.log_epoch({"epoch": 3, "train_loss": 0.25})
    assert [r["epoch"] for r in read_metrics(tmp_path)] == ["1", "2", "3"]
    assert logger.drop_epochs_after(3) == 0


def test_a_second_signal_that_torch_compile_wrapped_still_ends_the_run_as_interrupted(tmp_path, data_dir, monkeypatch):
    import vkan.train as vt

    class CompilerError(RuntimeError):  # how Inductor re-raises what interrupted its compilation
        def __init__(self, inner):
            super().__init__(f"{type(inner).__name__}: {inner}")
            self.inner_exception = inner

    def compiling(run):
        raise CompilerError(Interrupted(signal.SIGTERM, "stopped at once by a second SIGTERM"))

    monkeypatch.setattr(vt, "train_epoch", compiling)
    cfg = make_cfg(tmp_path, TINY + ["data=mnist", "data.subset=100", "trainer.epochs=1", "logger=none"], data_dir)
    with pytest.raises(Interrupted) as stopped:
        train(cfg)
    assert stopped.value.exit_code == 143
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["error"] == "stopped at once by a second SIGTERM"


def test_an_interruption_counts_when_an_error_wraps_it_not_when_an_error_replaced_it():
    from vkan.interrupt import interruption

    stop = Interrupted(signal.SIGINT)
    wrapped = RuntimeError("compiling")
    wrapped.__cause__ = stop
    assert interruption(stop) is stop and interruption(wrapped) is stop
    try:
        try:
            raise stop
        except Interrupted:
            raise ValueError("a new error, the signal handled") from None
    except ValueError as replaced:
        assert interruption(replaced) is None
    odd = RuntimeError("a library's attribute of another kind")
    odd.inner_exception = "not an exception"
    assert interruption(odd) is None


def test_the_log_names_the_image_size_and_an_evaluation_cut_short_by_limit_val_batches(tmp_path, data_dir, caplog):
    cfg = make_cfg(tmp_path, TINY + ["data=mnist", "data.subset=200", "data.val_split=holdout", "data.holdout=50",
                                     "trainer.epochs=1", "trainer.batch_size=25", "trainer.limit_val_batches=2",
                                     "logger=none"], data_dir)
    with caplog.at_level(logging.INFO, logger="vkan.train"):
        train(cfg)
    assert "| mnist at 28 px: 150 train / 50 val images" in caplog.text
    assert "| test acc " in caplog.text and "(on 2 batches: trainer.limit_val_batches)" in caplog.text  # 8 test batches


@pytest.mark.parametrize("hard_links", [True, False])
def test_best_checkpoint_keeps_its_epoch_when_last_is_saved_again(tmp_path, monkeypatch, hard_links):
    from vkan.checkpoint import copy_checkpoint, save_checkpoint

    def no_link(*args):
        raise OSError("this file system has no hard links")

    if not hard_links:  # the bytes are copied instead
        monkeypatch.setattr(os, "link", no_link)
    last, best = tmp_path / "last.pt", tmp_path / "best.pt"
    save_checkpoint(last, {"epoch": 1})
    copy_checkpoint(last, best)
    assert os.path.samefile(last, best) == hard_links  # a link: no second serialisation
    copy_checkpoint(last, best)  # again, with no save between: still one file, no temporary left
    save_checkpoint(last, {"epoch": 2})
    assert torch.load(best)["epoch"] == 1 and torch.load(last)["epoch"] == 2
    copy_checkpoint(last, best)  # an existing best.pt is replaced
    assert torch.load(best)["epoch"] == 2 and sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]


def test_corrupt_checkpoint_says_so_names_the_other_one_and_gives_no_torch_advice(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "best.pt").write_bytes(b"PK\x03\x04 not really a checkpoint")
    (tmp_path / "checkpoints" / "last.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match=r"corrupt or truncated.*other checkpoint \(last.pt\)") as err:
        load_run(tmp_path)
    assert "weights_only" not in str(err.value)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_run(tmp_path / "nowhere", which="last")


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, data_dir, monkeypatch):
    calls = {"n": 0}
    real = torch.nn.functional.cross_entropy

    def poisoned(*args, **kwargs):  # training losses of the second epoch become NaN
        loss = real(*args, **kwargs)
        if kwargs.get("reduction") != "sum":
            calls["n"] += 1
            if calls["n"] > 4:
                return loss * float("nan")
        return loss

    monkeypatch.setattr(torch.nn.functional, "cross_entropy", poisoned)
    cfg = make_cfg(tmp_path, TINY + ["data=mnist", "data.subset=200", "trainer.epochs=3", "trainer.batch_size=50",
                                     "logger=none"], data_dir)
    with pytest.raises(NonFiniteLossError, match="last good state"):
        train(cfg)
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["epochs_done"] == 1
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "failed: NonFiniteLossError" and "epoch 2" in summary["error"]
    assert len(read_metrics(tmp_path)) == 1


def test_data_changed_on_the_device_stops_the_run_before_it_logs_that_epoch(tmp_path, data_dir, monkeypatch):
    import vkan.train as vtrain

    real = vtrain.train_epoch

    def overwriting(run):  # something writes into the validation images, then the test loader's mean, in epoch 2
        if run.epochs_done == 1:
            run.data.val.images[:3] = 0
            run.data.test.mean.mul_(1.01)
        return real(run)

    monkeypatch.setattr(vtrain, "train_epoch", overwriting)
    cfg = make_cfg(tmp_path, TINY + ["data=mnist", "data.subset=200", "data.val_split=holdout", "data.holdout=50",
                                     "trainer.epochs=3", "trainer.batch_size=50", "logger=none"], data_dir)
    with pytest.raises(DeviceStateError, match=r"the validation and test data on cpu changed during epoch 2.*last good"):
        train(cfg)
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["epochs_done"] == 1
    assert len(read_metrics(tmp_path)) == 1
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "failed: DeviceStateError"
    monkeypatch.setattr(vtrain, "train_epoch", real)
    done = train(resumed_config(tmp_path, []))  # the resume loads the data again
    assert done["status"] == "finished" and len(read_metrics(tmp_path)) == 3


@pytest.fixture
def compile_caches():
    """torch.compile's on-disk caches on during the test, as they were after it (a failed compiled-path check turns
    them off until its run ends; pytest's monkeypatch cannot restore torch's config attributes)."""
    config = torch.compiler.config
    was, config.force_disable_caches = config.force_disable_caches, False
    yield config
    config.force_disable_caches = was


@pytest.mark.parametrize("path", ["same model", "rounded", "another model", "non-finite"])
def test_the_compiled_paths_first_scores_are_checked_against_the_same_weights_outside_it(tmp_path, data_dir,
                                                                                         monkeypatch, caplog, path,
                                                                                         compile_caches, bench_script):
    import vkan.train as vtrain

    class Graphs(nn.Module):  # stands in for torch.compile: in eval mode it rounds its logits or scores another model
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x, *loss_args):
            out = self.net(x, *loss_args)
            if self.training or path == "same model":
                return out
            if path == "non-finite":
                return out * float("nan")
            return out.to(torch.bfloat16).float() if path == "rounded" else out.roll(1, dims=-1)

    def compiled(run, net):
        run.summary["path"] = "torch.compile (a test double)"
        return Graphs(net)

    monkeypatch.setattr(vtrain, "compiled", compiled)
    cfg = make_cfg(tmp_path, TINY + ["data=mnist", "data.subset=200", "trainer.epochs=2", "trainer.batch_size=50",
                                     "logger=none"], data_dir)
    if path in ("same model", "rounded"):
        with caplog.at_level(logging.INFO, logger="vkan.train"):
            assert train(cfg)["status"] == "finished"
        checked = [r.message for r in caplog.records if r.message.startswith("compiled path checked")]
        assert len(checked) == 1  # once an invocation
        assert bench_script("compile_race").CHECK.search(checked[0])  # the line bench/compile_race.py counts
        gap = float(re.search(r"logits ([0-9.]+)% apart", checked[0]).group(1))
        assert (gap == 0) == (path == "same model") and gap < 100 * vcheck.COMPILED_LOGIT_GAP
        return
    with caplog.at_level(logging.INFO, logger="vkan.train"), pytest.raises(
            DeviceStateError, match="the compiled model's logits .* apart from those of the same weights outside "
                                    "torch.compile .* also after the epoch was trained again on graphs compiled "
                                    "afresh.*trainer.compile_mode=null"):
        train(cfg)  # every build of the double scores another model: the afresh graphs fail their check too
    assert len([r for r in caplog.records if r.message.startswith("compiled path checked")]) == 2
    which = [r.message for r in caplog.records if r.message.startswith("compiled path: batches over the limit")]
    assert len(which) == 2 and which[0].startswith("compiled path: batches over the limit: 4 of 4 (0: ")
    again = [r.message for r in caplog.records if r.message.startswith("compiled path, the same graphs again")]
    assert len(again) == 2 and ", batches over the limit: 4 of 4 (0: " in again[0]  # the double's fault lasts
    race = bench_script("compile_race")  # the lines bench/compile_race.py reads
    assert race.BATCHES.search(which[0]) and race.AGAIN.search(again[0])
    assert not compile_caches.force_disable_caches  # back on, although the run failed
    assert not (tmp_path / "checkpoints" / "last.pt").exists() and not (tmp_path / "metrics.csv").exists()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "failed: CompiledPathError"
    assert summary["compiled_failed"]["again"]["batches_over_limit"] == [0, 1, 2, 3]  # the check that stopped it
    assert summary["compiled_afresh"]["batches_over_limit"] == [0, 1, 2, 3]  # the one before, that was retried
    from types import SimpleNamespace

    default_mode = SimpleNamespace(summary={"path": "torch.compile (default mode)"})
    assert vcheck.other_path(default_mode) == "trainer.compile=false trainer.graph_ffn=false"  # off it: plain eager


def test_a_failed_check_names_the_validation_batches_over_the_limit():
    from vkan.compiled_check import COMPILED_LOGIT_GAP, batches_over_limit

    gaps = [0.001, 0.871, 0.002, float("nan"), 0.042]
    assert batches_over_limit(gaps) == "batches over the limit: 3 of 5 (1: 87.1%, 3: nan%, 4: 4.2%)"
    assert batches_over_limit([0.001, 0.002]) == "batches over the limit: 0 of 2"
    many = batches_over_limit([1.0] * 12 + [COMPILED_LOGIT_GAP])  # at the limit is within it
    assert many.startswith("batches over the limit: 12 of 13 (0: 100.0%,") and many.endswith("9: 100.0%, ...)")


def test_a_failed_checks_second_pass_that_fails_itself_is_recorded_and_the_check_goes_on_to_its_retry(caplog):
    from types import SimpleNamespace

    from vkan.engine import ForwardComparison
    from vkan.compiled_check import second_pass

    run = SimpleNamespace(ctx=SimpleNamespace(is_main=True))

    def broken():
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    with caplog.at_level(logging.INFO, logger="vkan.train"):
        assert second_pass(run, broken) == {"error": "CUDA error: an illegal memory access was encountered"}
        sound = second_pass(run, lambda: ForwardComparison(0.9, 0.9, 0.002, (0.001, 0.04)))
    assert sound == {"logit_gap": 0.002, "batches_over_limit": [1]}
    assert [r.message for r in caplog.records] == [
        "compiled path, the same graphs again: failed (CUDA error: an illegal memory access was encountered)",
        "compiled path, the same graphs again: logits 0.20% apart, batches over the limit: 1 of 2 (1: 4.0%)"]


@pytest.mark.slow
def test_a_failed_compiled_path_check_trains_the_epoch_again_on_graphs_compiled_afresh(tmp_path, data_dir,
                                                                                     monkeypatch, caplog,
                                                                                     compile_caches):
    import vkan.train as vtrain

    class Graphs(nn.Module):  # stands in for torch.compile; faulty graphs score another model in eval mode
        def __init__(self, net, faulty):
            super().__init__()
            self.net, self.faulty = net, faulty

        def forward(self, x, *loss_args):
            out = self.net(x, *loss_args)
            return out.roll(1, dims=-1) if self.faulty and not self.training else out

    fault, caches_off = {"next build": False}, []

    def compiled(run, net):  # the first build after a fault is set scores another model; builds after it are sound
        run.summary["path"] = "torch.compile (a test double)"
        faulty, fault["next build"] = fault["next build"], False
        caches_off.append(compile_caches.force_disable_caches)
        return Graphs(net, faulty)

    monkeypatch.setattr(vtrain, "compiled", compiled)
    keys = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_acc_ema", "test_acc"]
    train(make_cfg(tmp_path / "sound", RESUME, data_dir))
    sound = [[r[k] for k in keys] for r in read_metrics(tmp_path / "sound")]

    fault["next build"] = True
    with caplog.at_level(logging.INFO, logger="vkan.train"):
        summary = train(make_cfg(tmp_path / "new", RESUME, data_dir))
    assert summary["status"] == "finished" and summary["compiled_afresh"]["epoch"] == 1
    assert summary["compiled_afresh"]["logit_gap"] > vcheck.COMPILED_LOGIT_GAP
    afresh = summary["compiled_afresh"]
    assert afresh["batches"] >= 2 and afresh["batches_over_limit"] == list(range(afresh["batches"]))  # all rolled
    assert afresh["again"]["batches_over_limit"] == afresh["batches_over_limit"]  # and again: the fault lasts
    assert caches_off == [False, False, True]  # the sound run, the faulty build, the afresh build without caches
    assert not compile_caches.force_disable_caches  # as they were, for the next run in the process
    assert any(r.levelno == logging.WARNING and r.message.startswith("epoch 1 is trained again") for r in caplog.records)
    checked = [r.message for r in caplog.records if r.message.startswith("compiled path checked")]
    assert len(checked) == 2  # the failed check, then the afresh graphs' check
    assert [[r[k] for k in keys] for r in read_metrics(tmp_path / "new")] == sound  # the epoch's start came back whole

    train(make_cfg(tmp_path / "resumed", RESUME + ["trainer.max_epochs_this_run=1"], data_dir))
    fault["next build"] = True  # a resumed invocation's graphs: the case seen on the GPU
    summary = train(resumed_config(tmp_path / "resumed", ["trainer.max_epochs_this_run=null"]))
    assert summary["status"] == "finished" and summary["compiled_afresh"]["epoch"] == 2
    assert [[r[k] for k in keys] for r in read_metrics(tmp_path / "resumed")] == sound


def test_the_compiled_path_scores_holdout_and_test_in_full_batches_only_and_as_eager_scores_them(tmp_path, data_dir,
                                                                                                  monkeypatch):
    import vkan.train as vtrain
    from vkan.evaluate import evaluate_run

    seen = []

    class Graphs(nn.Module):  # stands in for torch.compile with static shapes: records the batch sizes it is given
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x, *loss_args):
            seen.append((self.training, len(x)))
            return self.net(x, *loss_args)

    def compiled(run, net):
        run.summary["path"] = "torch.compile (a test double)"
        return Graphs(net)

    monkeypatch.setattr(vtrain, "compiled", compiled)
    cfg = make_cfg(tmp_path, TINY + ["data=mnist", "data.subset=230", "data.val_split=holdout", "data.holdout=70",
                                     "trainer.epochs=1", "trainer.batch_size=50", "logger=none"], data_dir)
    summary = train(cfg)  # holdout: 70 images (50 + 20); test: 230 (4 x 50 + 30)
    assert {size for training, size in seen if not training} == {50}  # short batches padded, never a new size
    assert sum(1 for training, _ in seen if not training) == 2 + 2 + 5  # the check, the holdout, the test split
    for split, key in (("val", "best_val_acc"), ("test", "test_acc")):  # as the module outside compile scores them
        scored = evaluate_run(str(tmp_path), which="last", split=split, data_dir=str(data_dir), device="cpu")
        assert scored["acc"] == pytest.approx(summary[key], abs=1e-6)


def test_a_resume_scores_the_restored_model_first_and_stops_if_it_differs_from_the_record(tmp_path, data_dir, caplog):
    cfg = make_cfg(tmp_path, TINY + ["data=mnist", "data.subset=200", "trainer.epochs=2", "trainer.batch_size=50",
                                     "trainer.max_epochs_this_run=1", "logger=none"], data_dir)
    train(cfg)
    last = tmp_path / "checkpoints" / "last.pt"
    ckpt = load_checkpoint(last)
    recorded = ckpt["metrics"]["val_acc"]
    earlier = json.loads((tmp_path / "summary.json").read_text())
    (tmp_path / "summary.json").write_text(json.dumps({**earlier, "test_acc": 0.5}))  # a score of another schedule
    torch.save({**ckpt, "metrics": {**ckpt["metrics"], "val_acc": recorded + 0.2}}, last)  # a record it cannot match
    with pytest.raises(DeviceStateError, match=f"scores {recorded:.4f} .* recorded {recorded + 0.2:.4f} after epoch 1"):
        train(resumed_config(tmp_path, ["trainer.max_epochs_this_run=null"]))
    assert load_checkpoint(last)["epochs_done"] == 1
    summary = json.loads((tmp_path / "summary.json").read_text())  # the failure is recorded beside the first record
    assert summary["status"] == "failed: DeviceStateError" and summary["epochs_done"] == 1
    assert summary["best_val_acc"] == pytest.approx(recorded) and "scores" in summary["error"]
    assert summary["params"] == earlier["params"] and "test_acc" not in summary  # progress only, no stale scores
    torch.save(ckpt, last)
    with caplog.at_level(logging.INFO, logger="vkan.train"):
        done = train(resumed_config(tmp_path, ["trainer.max_epochs_this_run=null"]))
    assert done["status"] == "finished"
    assert f"resumed model scores {recorded:.4f} on the validation split, as recorded after epoch 1" in caplog.text


@pytest.mark.parametrize("minutes,epochs", [(0.0001, 1), (60, 3)], ids=["tight", "generous"])
def test_time_budget_ends_the_run_after_the_epoch_that_would_overrun_and_still_scores_test(tmp_path, data_dir,
                                                                                         minutes, epochs):
    cfg = make_cfg(tmp_path, TINY + ["data=mnist", "data.subset=300", "data.val_split=holdout", "data.holdout=100",
                                     "trainer.epochs=3", "trainer.batch_size=50", f"trainer.max_minutes={minutes}",
                                     "trainer.eval_every=3", "logger=none"], data_dir)
    summary = train(cfg)
    rows = read_metrics(tmp_path)
    assert summary["status"] == "finished" and summary["epochs_done"] == epochs == len(rows)
    assert summary.get("stopped_by") == (f"trainer.max_minutes={minutes}" if epochs < 3 else None)
    assert rows[-1]["val_acc"] and rows[-1]["test_acc"] and summary["test_acc"] == float(rows[-1]["test_acc"])


def test_compile_mode_auto_uses_cuda_graphs_on_one_gpu_at_any_size():
    from types import SimpleNamespace

    from vkan import train as train_module

    def mode(setting, params, world_size=1):
        cfg = OmegaConf.create({"trainer": {"compile_mode": setting}})
        model = nn.Linear(params, 1, bias=False, device="meta")  # sized, never allocated
        return train_module.compile_mode(SimpleNamespace(cfg=cfg, model=model,
                                                         ctx=SimpleNamespace(world_size=world_size)))

    assert mode("auto", 100) == mode("auto", 100_000_000) == "reduce-overhead"  # ViT-B/16's size too
    assert mode("auto", 100, world_size=2) is None  # under torchrun: the default mode
    assert mode(None, 100) is None and mode("max-autotune", 101) == "max-autotune"  # a named mode is kept
    assert OmegaConf.load(Path(__file__).parents[1] / "conf" / "trainer" / "default.yaml").compile_mode == "auto"


def test_time_budget_counts_a_compiled_models_first_evaluation_once(monkeypatch):
    import vkan.run_state as vstate

    now = {"t": 0.0}
    monkeypatch.setattr(vstate.time, "perf_counter", lambda: now["t"])
    clock = vstate.EpochClock(budget_s=400.0, start=0.0)

    def at(t):
        now["t"] = t

    at(100.0)
    clock.trained(100.0, one_off=60.0)  # epoch 1: 40 s of training after a 60-s compile
    at(160.0)
    clock.ended()  # its evaluation took 60 s, most of it compiling the eval graph
    at(200.0)
    clock.trained(40.0, one_off=60.0)  # epoch 2 (the compile belongs to the first epoch alone)
    # 200 s gone; another epoch (40 s) with three 60-s tails would pass 400, with one it would not
    assert clock.another_overruns(compiled=False) and not clock.another_overruns(compiled=True)
    at(205.0)
    clock.ended()  # a steady evaluation: 5 s
    at(245.0)
    clock.trained(40.0, one_off=60.0)
    assert clock.tail_s == 5.0 and not clock.another_overruns(compiled=True)  # 245 + 40 + 3 * 5 < 400
    at(350.0)
    assert clock.another_overruns(compiled=True)  # 350 + 40 + 3 * 5 > 400


def test_kan_kernel_path_reaches_every_kan_layer_of_the_model_and_its_ema(tmp_path, monkeypatch):
    from vkan import train as train_module
    from vkan.kan_tools import kan_layers

    seen = {}
    open_records = train_module.open_records

    def capture(run):  # set-up is done by then: model, EMA copy, compiled net
        seen.update(model={layer.kernel_path for _, layer in kan_layers(run.model)},
                    ema={layer.kernel_path for _, layer in kan_layers(run.ema.module)})
        open_records(run)

    monkeypatch.setattr(train_module, "open_records", capture)
    cfg = make_cfg(tmp_path, ["data=synthetic", "data.n_train=64", "data.n_test=32", "model.kwargs.depth=2",
                              "trainer.epochs=1", "trainer.batch_size=32", "trainer.ema.decay=0.9",
                              "trainer.kan_kernel_path=gemm-keep", "trainer.device=cpu", "trainer.progress_bar=false",
                              "logger=none"])
    assert train(cfg)["status"] == "finished"
    assert seen == {"model": {"gemm-keep"}, "ema": {"gemm-keep"}}


def test_auto_kernel_path_keeps_the_bases_under_cuda_graphs_only_and_the_path_label_says_so():
    """The run's kernels on "auto": under CUDA graphs (one GPU, compiled in reduce-overhead or max-autotune mode) and
    16-bit autocast every KAN layer gets "auto-keep" (the GEMM path keeping its bases where the auto rule takes it:
    see test_fused); torchrun (the default compile mode), another mode, eager (trainer.graph_ffn too) and fp32 leave
    "auto"; a pinned path is set as given. The run's path label (summary.json, the first log line, what a resume's img/s averaging
    compares) names the path."""
    import types

    import timm

    from vkan.kan_tools import kan_layers
    from vkan.train import compiled, pin_kernel_paths

    layers = [layer for _, layer in kan_layers(timm.create_model("vit_kan_tiny_patch4_32", depth=2))]

    def paths(kernels="auto", compile="auto", mode="auto", world=1, amp=torch.bfloat16, graph_ffn=False):
        trainer = OmegaConf.create({"compile": compile, "compile_mode": mode, "kan_kernel_path": kernels,
                                    "graph_ffn": graph_ffn})
        run = types.SimpleNamespace(cfg=OmegaConf.create({"trainer": trainer}), device=torch.device("cuda"), amp=amp,
                                    ctx=types.SimpleNamespace(world_size=world), summary={})
        pin_kernel_paths(run, layers)
        compiled(run, nn.Identity())  # torch.compile is lazy: nothing runs on the absent GPU
        return {layer.kernel_path for layer in layers}, run.summary["path"]

    graphs = "torch.compile (reduce-overhead mode)"
    assert paths() == ({"auto-keep"}, graphs + ", KAN kernel path auto-keep")
    assert paths(compile=True, mode="reduce-overhead") == paths()
    assert paths(mode="max-autotune") == ({"auto-keep"}, "torch.compile (max-autotune mode), KAN kernel path auto-keep")
    assert paths(world=2) == ({"auto"}, "torch.compile (default mode)")
    assert paths(mode=None) == ({"auto"}, "torch.compile (default mode)")
    assert paths(compile=False) == ({"auto"}, "eager")
    assert paths(compile=False, graph_ffn=True) == ({"auto"}, "eager")  # its capture chooses by shape, keeping nothing
    assert paths(amp=None) == ({"auto"}, graphs)  # fp32: the auto rule keeps every layer fused, nothing to keep
    assert paths(kernels="gemm") == ({"gemm"}, graphs + ", KAN kernel path gemm")


def test_graph_ffn_where_it_cannot_apply_stops_at_set_up_saying_what_to_change(tmp_path):
    """trainer.graph_ffn=true on a CPU stops before anything is written; the other cases where it cannot apply
    (compiled, torchrun, grid re-fits, no feed-forward sublayers) name what to change."""
    import types

    from vkan.train import why_not_graphed

    cfg = make_cfg(tmp_path, ["data=synthetic", "data.n_train=64", "data.n_test=32", "model.kwargs.depth=1",
                              "trainer.device=cpu", "trainer.graph_ffn=true", "logger=none"])
    with pytest.raises(ConfigError, match=r"trainer.graph_ffn=true: it needs a CUDA GPU \(trainer.device\)\. Or "
                                          r"train without it \(trainer.graph_ffn=false\): the recipe is the same"):
        train(cfg)
    assert not (tmp_path / "metrics.csv").exists() and not (tmp_path / "checkpoints").exists()

    def why(compile=False, world=1, every=0, until=1, done=0, has_kan=True, model=timm.create_model(
            "vit_kan_tiny_patch4_32", depth=1)):
        trainer = {"compile": compile, "compile_mode": "auto", "grid_update": {"every": every, "until_epoch": until}}
        return why_not_graphed(types.SimpleNamespace(cfg=OmegaConf.create({"trainer": trainer}), has_kan=has_kan,
                                                     device=torch.device("cuda"), epochs_done=done, model=model,
                                                     ctx=types.SimpleNamespace(world_size=world)))

    assert why() is None and why(every=4, has_kan=False) is None
    assert why(every=4, until=2, done=2) is None  # the re-fits are over
    assert "set trainer.compile=false" in why(compile="auto")
    assert "not under torchrun" in why(world=2)
    assert "set trainer.grid_update.every=0, which changes the recipe" in why(every=4, until=2, done=1)
    assert "Sequential has no feed-forward sublayers (modules named 'mlp')" in why(model=nn.Sequential(nn.Linear(2, 2)))


def test_graph_ffn_auto_graphs_where_it_can_and_otherwise_trains_plainly_saying_why(monkeypatch, caplog):
    """trainer.graph_ffn=auto, the default: no capture on a CPU or a compiled run (silently: nothing to graph
    there), nor where an eager GPU run cannot be graphed (the log says why); a capture that fails leaves the
    sublayers plain with a warning and the run goes on, where true would stop; false never tries."""
    import types

    import vkan.train as vtrain

    caplog.set_level("INFO", logger="vkan.train")
    captured, why = [], {"reason": None}

    def capture(model, images, amp, copy_grads):
        captured.append(tuple(images.shape))
        if why.get("fails"):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return ["blocks.0.mlp"]

    heads = []
    monkeypatch.setattr(vtrain, "graph_feed_forwards", capture)
    monkeypatch.setattr(vtrain, "loss_head_inputs", lambda run, images: (images.sum((1, 2, 3)), None, None))
    monkeypatch.setattr(vtrain, "graph_loss_head", lambda head, logits, targets, labels, amp: heads.append(head))
    monkeypatch.setattr(vtrain, "why_not_graphed", lambda run: why["reason"])

    def summary(want, device="meta", compile=False):  # "meta": a device without memory stands in for a GPU's
        cfg = OmegaConf.create({"trainer": {"graph_ffn": want, "batch_size": 4, "compile": compile}})
        r = types.SimpleNamespace(cfg=cfg, device=torch.device(device), amp=None, model=nn.Sequential(),
                                  net=types.SimpleNamespace(loss_head=nn.Identity()), summary={"path": "eager"},
                                  data=types.SimpleNamespace(in_chans=1, img_size=8))
        vtrain.graph_sublayers(r)
        return r.summary

    def run(want, device="meta", compile=False):
        return summary(want, device, compile)["path"]

    held = iter([6 * 2**30, 8 * 2**30])  # reserved less allocated before and after: 3 GiB more reserved, 1 live
    monkeypatch.setattr(vtrain, "unallocated_reserved", lambda device: next(held))
    assert summary("auto")["graph_gib"] == 2.0  # 3 GiB more reserved, 1 of them live tensors the peak counts
    monkeypatch.setattr(vtrain, "unallocated_reserved", lambda device: 0)
    assert run("auto") == "eager, 1 feed-forward sublayers and the loss as CUDA graphs"
    assert captured == [(4, 1, 8, 8)] * 2
    assert len(heads) == 2 and all(isinstance(h, nn.Identity) for h in heads)  # the net's loss head, after them
    assert run(False) == "eager"
    why["reason"] = "it needs a CUDA GPU (trainer.device)"
    assert run("auto", device="cpu") == "eager" and not caplog.records
    why["reason"] = "it is for one-GPU runs: run python train.py in one process, not under torchrun"
    assert run("auto", device="cuda", compile="auto") == "eager" and not caplog.records  # CUDA graphs already
    assert run("auto", device="cuda") == "eager"  # eager on a GPU: why, in the log
    assert "graph_ffn=auto: the feed-forward sublayers and the loss run plainly: it is for one-GPU runs" in caplog.text
    with pytest.raises(ConfigError, match=r"trainer.graph_ffn=true: it is for one-GPU runs"):
        run(True, device="cuda")
    why["reason"], why["fails"] = None, True
    caplog.clear()
    assert run("auto") == "eager"
    assert ("capturing the feed-forward sublayers and the loss as CUDA graphs failed (OutOfMemoryError: CUDA out of "
            "memory. "
            "Tried to allocate 2.00 GiB), so this run trains them plainly" in caplog.text)
    with pytest.raises(torch.OutOfMemoryError):
        run(True)
    assert len(captured) == 4  # auto twice, auto failing, true failing; never false or where there was a reason


@pytest.mark.parametrize("failing", ["sublayers", "loss"])
def test_a_capture_that_fails_under_auto_leaves_the_real_model_plain_and_trainable(monkeypatch, caplog, failing):
    """The real graph_feed_forwards and graph_loss_head on a ViT (their probe forwards run), with torch's capture
    failing as it does on a module it cannot hold, on the sublayers or after them on the loss: neither a sublayer nor
    the loss is left graphed, the warning names the error, and the model trains."""
    import types

    import vkan.ffn_graphs as ffn_graphs
    import vkan.train as vtrain
    from vkan.engine import LossHead, ModelWithLoss

    def capture(callables, samples):
        if failing == "sublayers" or isinstance(callables, LossHead):
            raise AssertionError("Some of the modules passed to make_graphed_callables have hooks")
        return callables  # "captured": each keeps its own forward, which graph_feed_forwards then wraps

    monkeypatch.setattr(torch.cuda, "make_graphed_callables", capture)
    monkeypatch.setattr(vtrain, "why_not_graphed", lambda run: None)  # as on one GPU, eager
    model = timm.create_model("vit_kan_tiny_patch4_32", depth=2, num_classes=10).eval()
    net = ModelWithLoss(model, nn.CrossEntropyLoss(label_smoothing=0.1))
    run = types.SimpleNamespace(cfg=OmegaConf.create({"trainer": {"graph_ffn": "auto", "batch_size": 4}}), amp=None,
                                device=CPU, model=model, net=net, mixup=None, summary={"path": "eager"},
                                data=types.SimpleNamespace(in_chans=3, img_size=32))
    vtrain.graph_sublayers(run)
    assert run.summary == {"path": "eager"} and not model.training  # its mode as it was (the probe ran in training)
    assert all("forward" not in mlp.__dict__ for _, mlp in ffn_graphs.feed_forwards(model))  # their own forwards
    assert "forward" not in net.loss_head.__dict__
    assert ("capturing the feed-forward sublayers and the loss as CUDA graphs failed (AssertionError: Some of the "
            "modules passed to make_graphed_callables have hooks), so this run trains them plainly" in caplog.text)
    net.train()
    loss, _ = net(torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3]), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert all(p.grad is not None for p in model.blocks[0].mlp.parameters())


def test_an_epoch_that_replayed_no_sublayer_or_loss_graphs_is_counted_and_warned_about(caplog):
    import types

    from vkan.engine import LossHead
    from vkan.ffn_graphs import GraphedForward
    from vkan.train import count_graph_replays

    model = timm.create_model("vit_kan_tiny_patch4_32", depth=1)
    mlp = model.blocks[0].mlp
    mlp.forward = GraphedForward(mlp, lambda x: x, [(torch.Size([2, 5, 192]), torch.float32)], CPU, None)
    head = LossHead(nn.CrossEntropyLoss())
    run = types.SimpleNamespace(model=model, net=types.SimpleNamespace(loss_head=head), summary={"graph_s": 1.0})
    mlp(torch.randn(2, 5, 192))  # replayed
    count_graph_replays(run)  # the loss is not graphed: only the sublayers are counted
    assert run.summary == {"graph_s": 1.0, "ffn_graph_replays": 1} and not caplog.records
    mlp(torch.randn(3, 5, 192))  # a batch unlike the captured one: the module's own forward
    count_graph_replays(run)
    assert run.summary["ffn_graph_replays"] == 1
    assert "this epoch ran the feed-forward sublayers without the CUDA graphs" in caplog.text
    caplog.clear()
    like = [(torch.Size([2, 10]), torch.float32), (torch.Size([2]), torch.int64), (torch.Size([2]), torch.int64)]
    head.forward = GraphedForward(head, lambda *args: (torch.zeros(()), torch.zeros((), dtype=torch.long)), like,
                                  CPU, None)
    mlp(torch.randn(2, 5, 192))
    head(torch.randn(2, 10), torch.tensor([0, 1]), torch.tensor([0, 1]))  # replayed
    count_graph_replays(run)
    assert run.summary["loss_graph_replays"] == 1 and not caplog.records
    mlp(torch.randn(2, 5, 192))
    head(torch.randn(3, 10), torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]))  # a short batch: the head itself
    count_graph_replays(run)
    assert "this epoch ran the loss without the CUDA graphs" in caplog.text


def test_the_losss_sample_inputs_have_the_steps_shapes_and_draw_nothing_from_the_run():
    """loss_head_inputs: the model's logits on the images, int64 labels, and under mixup timm's soft targets of the
    step's shape and dtype, made without the mixing's NumPy draws (which would change the run's later mixes) and
    with torch's draws undone."""
    import types

    from timm.data import Mixup

    from vkan.train import loss_head_inputs

    model = timm.create_model("vit_kan_tiny_patch4_32", depth=1, num_classes=10, drop_rate=0.1)  # its forward draws
    images, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    for mixup in (None, Mixup(mixup_alpha=0.8, cutmix_alpha=1.0, label_smoothing=0.1, num_classes=10)):
        run = types.SimpleNamespace(model=model, mixup=mixup, device=CPU, amp=None)
        drawn, np_drawn = torch.random.get_rng_state(), np.random.get_state()[1].copy()
        logits, targets, labels = loss_head_inputs(run, images)
        assert torch.equal(torch.random.get_rng_state(), drawn) and np.array_equal(np.random.get_state()[1], np_drawn)
        assert logits.shape == (4, 10) and not logits.requires_grad and labels.dtype == torch.int64
        step_targets = y if mixup is None else mixup(images.clone(), y)[1]  # what a training step hands the loss
        assert (targets.shape, targets.dtype) == (step_targets.shape, step_targets.dtype)
        if mixup is not None:  # label smoothing carried in the targets: 0.91 on the label, 0.01 elsewhere
            assert targets[0].tolist() == pytest.approx([0.91] + [0.01] * 9)


def test_checkpoints_store_the_kan_width_the_run_trained_at(tmp_path):
    cfg = make_cfg(tmp_path, ["data=synthetic", "data.n_train=64", "data.n_test=32", "model.kwargs.depth=1",
                              "trainer.epochs=1", "trainer.batch_size=32",
                              "trainer.device=cpu", "trainer.progress_bar=false", "logger=none"])
    train(cfg)
    ckpt = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert ckpt["model_kwargs"]["kan_hidden"] == 80  # the matched 77 rounded to 16s, written out
    assert load_run(tmp_path).model.blocks[0].mlp.fc1.out_features == 80
    # a checkpoint from before checkpoints named the width (and before the rounding) rebuilds the matched 77
    older = timm.create_model(ckpt["model_name"], **{**ckpt["model_kwargs"], "kan_hidden": 77})
    kwargs = {k: v for k, v in ckpt["model_kwargs"].items() if k not in ("kan_hidden", "kan_hidden_multiple")}
    rebuilt = build_model_from_checkpoint({**ckpt, "model_kwargs": kwargs, "model": older.state_dict()})
    assert rebuilt.blocks[0].mlp.fc1.out_features == 77


def test_tuning_runs_can_leave_the_test_split_unseen(tmp_path, data_dir):
    cfg = make_cfg(tmp_path, TINY + ["data=mnist", "data.subset=300", "data.val_split=holdout", "data.holdout=100",
                                     "trainer.epochs=1", "trainer.batch_size=50", "trainer.score_test=false",
                                     "logger=none"], data_dir)
    summary = train(cfg)
    assert summary["status"] == "finished" and summary["best_val_acc"] >= 0
    assert "test_acc" not in summary and not read_metrics(tmp_path)[0]["test_acc"]


def test_holdout_larger_than_the_training_set_is_a_config_error_with_a_size_that_fits(tmp_path, data_dir):
    cfg = make_cfg(tmp_path, TINY + ["data=mnist", "data.subset=300", "data.val_split=holdout", "logger=none"],
                   data_dir)
    with pytest.raises(ConfigError, match=r"data.holdout=5000 does not fit .* data.holdout=30"):
        train(cfg)


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


def test_resume_auto_finds_the_newest_unfinished_run_of_the_same_config(tmp_path):
    from omegaconf import OmegaConf

    from vkan.config import latest_unfinished_run

    cfg = make_cfg(tmp_path / "now", ["data=mnist", "trainer.epochs=5"])
    resolved = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))

    def run(name, status, config, age):
        folder = tmp_path / "outputs" / name
        (folder / "checkpoints").mkdir(parents=True)
        (folder / "checkpoints" / "last.pt").write_bytes(b"x")
        os.utime(folder / "checkpoints" / "last.pt", (age, age))
        (folder / "summary.json").write_text(json.dumps({"status": status}))
        OmegaConf.save(config, folder / "config.yaml")
        return folder

    other = OmegaConf.merge(resolved, {"optimizer": {"lr": 0.5}})
    run("old", "interrupted", resolved, 1000)
    newest = run("newest", "paused (resume=<run_dir>)", OmegaConf.merge(resolved, {"trainer": {"epochs": 9}}), 2000)
    run("finished", "finished", resolved, 3000)
    run("different", "interrupted", other, 4000)
    assert latest_unfinished_run(cfg, [tmp_path / "outputs"]) == newest  # epochs may differ, lr may not
    assert latest_unfinished_run(make_cfg(tmp_path, ["data=cifar10"]), [tmp_path / "outputs"]) is None
    saved_before_the_keys = OmegaConf.to_container(resolved)
    del saved_before_the_keys["trainer"]["score_test"]  # a run saved before these keys existed
    del saved_before_the_keys["trainer"]["kan_kernel_path"]
    del saved_before_the_keys["optimizer"]["kan_spline_lr_scale"], saved_before_the_keys["optimizer"]["kan_spline_weight_decay"]
    older = run("before_the_keys", "interrupted", OmegaConf.create(saved_before_the_keys), 5000)
    assert latest_unfinished_run(cfg, [tmp_path / "outputs"]) == older
    validate(OmegaConf.create(saved_before_the_keys))  # and its config still passes the checks


def test_a_cifar10_run_saved_before_the_tokenizer_key_is_the_patch_tokenizers_run_not_the_recipes_conv_one(tmp_path):
    from omegaconf import OmegaConf

    from vkan.config import same_run_config

    patch = make_cfg(tmp_path, ["experiment=cifar10", "model.kwargs.tokenizer=patch"])
    saved = OmegaConf.to_container(patch, resolve=True)
    del saved["model"]["kwargs"]["tokenizer"]  # as runs before the experiment had a tokenizer saved their config
    assert same_run_config(OmegaConf.create(saved), patch)  # resume=auto finds it under the patch tokenizer
    assert not same_run_config(OmegaConf.create(saved), make_cfg(tmp_path, ["experiment=cifar10"]))  # not under conv


def test_evaluation_shows_progress(capsys):
    from vkan.data.gpu_loader import GpuLoader
    from vkan.engine import evaluate

    loader = GpuLoader(torch.zeros(10, 1, 4, 4, dtype=torch.uint8), torch.zeros(10, dtype=torch.long), 4, [0.5],
                       [0.5], train=False)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    loss, acc = evaluate(model, loader, CPU, None, show_progress=True, desc="mnist test")
    assert "mnist test" in capsys.readouterr().err and 0 <= acc <= 1


def two_mnist_runs(tmp_path, data_dir, key, values, overrides):
    """(summaries, metrics rows) by value of two GPU runs that differ in ``key`` only: ViT-tiny of depth 2 on 2,000
    MNIST images, 2 epochs of batch 256, EMA, plus ``overrides``; each finishes with 2 rows, in tmp_path/<value>."""
    common = ["model.kwargs.depth=2", "data=mnist", "data.subset=2000", "trainer.epochs=2", "trainer.batch_size=256",
              "logger=none", "trainer.progress_bar=false", "trainer.device=cuda", "trainer.ema.decay=0.9", *overrides]
    summaries, rows = {}, {}
    for value in values:
        summaries[value] = train(make_cfg(tmp_path / value, common + [f"{key}={value}"], data_dir))
        rows[value] = read_metrics(tmp_path / value)
        assert summaries[value]["status"] == "finished" and len(rows[value]) == 2
    return summaries, rows


@pytest.mark.gpu
@pytest.mark.slow
def test_cuda_graphs_train_like_the_default_compile_with_grid_updates_and_ema(tmp_path, data_dir):
    """trainer.compile_mode=reduce-overhead (CUDA graphs) through the whole app: grid refits between replays, EMA,
    evaluation graphs (2,000 images: a smaller last batch too); the run must match the default compile's (both
    compiled, same seed), and its last evaluation must match an eager one of the checkpoint it saved."""
    from vkan.evaluate import evaluate_run

    summaries, rows = two_mnist_runs(tmp_path, data_dir, "trainer.compile_mode", ("null", "reduce-overhead"),
                                     ["trainer.compile=true", "trainer.grid_update.every=4",
                                      "trainer.grid_update.until_epoch=1"])
    assert summaries["null"]["path"] == "torch.compile (default mode)"
    assert summaries["reduce-overhead"]["path"] == "torch.compile (reduce-overhead mode), KAN kernel path auto-keep"
    for default_row, graphs_row in zip(rows["null"], rows["reduce-overhead"]):
        assert float(graphs_row["train_loss"]) == pytest.approx(float(default_row["train_loss"]), rel=0.02)
        assert float(graphs_row["val_acc_ema"]) == pytest.approx(float(default_row["val_acc_ema"]), abs=0.05)
    eager = evaluate_run(str(tmp_path / "reduce-overhead"), which="last", split="val", data_dir=str(data_dir),
                         batch_size=256, device="cuda")
    assert eager["acc"] == pytest.approx(float(rows["reduce-overhead"][-1]["val_acc"]), abs=0.01)
    assert not load_run(tmp_path / "reduce-overhead").model.blocks[0].mlp.fc1.grid_uniform  # the refits stuck


@pytest.mark.gpu
@pytest.mark.slow
def test_graph_ffn_trains_like_the_plain_eager_run_and_saves_the_same_kind_of_checkpoint(tmp_path, data_dir):
    """trainer.graph_ffn through the whole app (eager, EMA, evaluation on a smaller last batch): the run's losses and
    accuracies match a plain eager run of the same seed, the path label says what ran, and the checkpoint loads into
    a plain model that scores what the run recorded."""
    from vkan.evaluate import evaluate_run

    summaries, rows = two_mnist_runs(tmp_path, data_dir, "trainer.graph_ffn", ("false", "auto"),
                                     ["trainer.compile=false"])
    assert summaries["false"]["path"] == "eager"
    assert summaries["auto"]["path"] == "eager, 2 feed-forward sublayers and the loss as CUDA graphs"  # the default
    assert summaries["auto"]["ffn_graph_replays"] == 2 * 2 * (2000 // 256)  # epochs x sublayers x full batches
    assert summaries["auto"]["loss_graph_replays"] == 2 * (2000 // 256)  # epochs x full batches
    assert summaries["auto"]["graph_gib"] > 0 and "graph_gib" not in summaries["false"]
    for plain_row, graphed_row in zip(rows["false"], rows["auto"]):
        assert float(graphed_row["train_loss"]) == pytest.approx(float(plain_row["train_loss"]), rel=0.02)
        assert float(graphed_row["val_acc_ema"]) == pytest.approx(float(plain_row["val_acc_ema"]), abs=0.05)
    eager = evaluate_run(str(tmp_path / "auto"), which="last", split="val", data_dir=str(data_dir), batch_size=256,
                         device="cuda")
    assert eager["acc"] == pytest.approx(float(rows["auto"][-1]["val_acc"]), abs=0.01)


@pytest.mark.gpu
@pytest.mark.slow
def test_a_failed_check_under_cuda_graphs_drops_the_graphs_compiles_afresh_and_the_run_goes_on(tmp_path, data_dir,
                                                                                                 monkeypatch,
                                                                                                 compile_caches):
    """The compiled path's recovery on the real path: the first check is told its gap was 100%; the CUDA graphs and
    dynamo's caches are dropped, the model compiled again with the on-disk caches off and the epoch trained again;
    the second check (a real one) passes and the run ends with scores an eager evaluation of its checkpoint gives."""
    import vkan.train as vtrain
    from vkan.evaluate import evaluate_run

    real, real_compiled, gaps, caches_off = vcheck.compare_forwards, vtrain.compiled, [], []

    def failing_once(*args, **kwargs):  # the first check is told that every batch was 100% apart; the same graphs'
        # second pass (the failure's diagnosis) and the afresh graphs' check get the real comparison
        compared = real(*args, **kwargs)
        gaps.append(compared.gap)
        told = compared._replace(gap=1.0, batch_gaps=(1.0,) * len(compared.batch_gaps))
        return told if len(gaps) == 1 else compared

    def compiled(run, net):
        caches_off.append(compile_caches.force_disable_caches)
        return real_compiled(run, net)

    monkeypatch.setattr(vcheck, "compare_forwards", failing_once)
    monkeypatch.setattr(vtrain, "compiled", compiled)
    cfg = make_cfg(tmp_path, ["model.kwargs.depth=2", "data=mnist", "data.subset=2000", "trainer.epochs=2",
                              "trainer.batch_size=256", "logger=none", "trainer.progress_bar=false",
                              "trainer.device=cuda", "trainer.compile=true", "trainer.compile_mode=reduce-overhead",
                              "trainer.ema.decay=0.9"], data_dir)
    summary = train(cfg)
    assert summary["status"] == "finished" and summary["compiled_afresh"]["epoch"] == 1
    afresh = summary["compiled_afresh"]
    assert afresh["batches_over_limit"] == list(range(afresh["batches"])) and afresh["again"]["batches_over_limit"] == []
    assert len(gaps) == 3 and max(gaps[1:]) <= vcheck.COMPILED_LOGIT_GAP and caches_off == [False, True]
    rows = read_metrics(tmp_path)
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    eager = evaluate_run(str(tmp_path), which="last", split="val", data_dir=str(data_dir), batch_size=256,
                         device="cuda")
    assert eager["acc"] == pytest.approx(float(rows[-1]["val_acc"]), abs=0.01)

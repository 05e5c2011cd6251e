"""StrongAugment: per-sample policies that match torchvision's ops, deterministic in the generator alone."""
import shutil

import pytest
import torch
from omegaconf import OmegaConf
from torchvision.transforms import AutoAugment, AutoAugmentPolicy, InterpolationMode, RandAugment, TrivialAugmentWide
from torchvision.transforms import autoaugment as tv_autoaugment

from vkan.data.augment import (AUTOAUGMENT_BINS, NUM_BINS, OP_INDEX, OPS, POLICIES, RAND_OPS, SIGNED_OPS,
                               StrongAugment, autoaugment_cifar10, build_augment, magnitude_table)

POLICY_NAMES = ["randaugment", "trivialaugment", "autoaugment"]
FILL = 128.0  # a whole grey level: torchvision rounds a fill of 127.5 to 128 on uint8, we would keep 127.5


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These batches are tiny: a second intra-op thread only adds barrier waits (seconds on a shared host)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def smooth_images(n: int, channels: int = 3, size: int = 32, seed: int = 0, width: int = 0) -> torch.Tensor:
    """(n, C, size, width or size) float integer values in [0, 254]: upsampled noise, so that shifted content
    differs from its neighbours' and no pixel sits at 255 (where torchvision's Solarize at bin 0 inverts)."""
    g = torch.Generator().manual_seed(seed)
    width = width or size
    coarse = torch.rand(n, channels, size // 4, width // 4, generator=g) * 254
    return torch.nn.functional.interpolate(coarse, size=(size, width), mode="bilinear").round().clamp(0, 254)


def run(aug: StrongAugment, x: torch.Tensor, seed: int) -> torch.Tensor:
    return aug(x, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("policy", POLICY_NAMES + ["none"])
def test_output_is_a_function_of_the_generator_seed(policy):
    aug = StrongAugment(policy, erasing=0.5, color_jitter=0.3)
    x = smooth_images(8)
    assert torch.equal(run(aug, x, 0), run(aug, x, 0))
    assert not torch.equal(run(aug, x, 0), run(aug, x, 1))


@pytest.mark.parametrize("policy", POLICY_NAMES)
def test_identical_images_of_one_batch_are_augmented_differently(policy):
    x = smooth_images(1).expand(32, -1, -1, -1)
    out = run(StrongAugment(policy, magnitude=15), x, 0)
    distinct = torch.unique(out.flatten(1), dim=0).shape[0]
    assert distinct >= 16, f"{policy}: only {distinct} distinct outputs of 32"


def test_randaugment_draws_its_ops_uniformly_and_independently_per_sample():
    aug = StrongAugment("randaugment", num_ops=2)
    x = torch.zeros(4096, 3, 4, 4)
    op, mag = aug.plan(aug.draw(x, torch.Generator().manual_seed(0))[0], aug.tables(x))  # (B, 2) each
    counts = torch.bincount(op.flatten(), minlength=len(OPS))
    expected = op.numel() / len(RAND_OPS)
    assert counts[len(RAND_OPS):].sum() == 0  # Invert is AutoAugment's only
    assert ((counts[:len(RAND_OPS)] - expected).abs() < 0.15 * expected).all(), counts
    assert (op[:, 0] != op[:, 1]).float().mean() > 0.85  # the two slots are independent draws
    signed = torch.tensor([OPS[i] in SIGNED_OPS for i in op[:, 0].tolist()]) & (mag[:, 0] != 0)
    assert 0.4 < (mag[:, 0][signed] < 0).float().mean() < 0.6  # random sign per sample


@pytest.mark.parametrize("magnitude, height, width", [(9, 32, 32), (30, 24, 40)])
def test_each_randaugment_op_matches_torchvision(magnitude, height, width):
    """Forces every op with each sign, one per sample, and compares with torchvision's op on uint8."""
    aug = StrongAugment("randaugment", num_ops=1, magnitude=magnitude, fill=(FILL / 255,))
    cases = [(k, name, sign) for k, name in enumerate(RAND_OPS) for sign in (1, -1)]
    u = torch.tensor([[(k + 0.5) / len(RAND_OPS), 0.0, 0.75 if sign > 0 else 0.25] for k, _, sign in cases])
    x = smooth_images(1, size=height, width=width).expand(len(cases), -1, -1, -1)
    ours = aug.transform(x, u, None, aug.tables(x))  # u columns: op, bin (unused), sign
    table = magnitude_table(NUM_BINS, height, width)
    for out, (_, name, sign) in zip(ours, cases):
        mag = float(table[OP_INDEX[name], magnitude]) * (sign if name in SIGNED_OPS else 1)
        ref = tv_autoaugment._apply_op(x[0].to(torch.uint8), name, mag, InterpolationMode.NEAREST, [FILL] * 3)
        diff = (out - ref.float()).abs()
        assert diff.mean() < 1.0 and (diff > 2).float().mean() < 0.05, (name, sign, diff.mean())


def test_autoaugment_sub_policies_match_torchvision():
    aug = StrongAugment("autoaugment", fill=(FILL / 255,))
    policies = AutoAugment(AutoAugmentPolicy.CIFAR10).policies
    # an op runs when its draw <= its probability: each sub-policy with its first, second and both ops
    cases = [(s, draws) for s in range(len(policies)) for draws in [(0.001, 0.999), (0.999, 0.001), (0.001, 0.001)]]
    u = torch.tensor([[(s + 0.5) / len(policies), *draws, 0.75, 0.75] for s, draws in cases])  # positive signs
    x = smooth_images(1).expand(len(cases), -1, -1, -1)
    ours = aug.transform(x, u, None, aug.tables(x))
    table = magnitude_table(AUTOAUGMENT_BINS, 32, 32)
    for out, (s, draws) in zip(ours, cases):
        ref = x[0].to(torch.uint8)
        for (name, p, b), draw in zip(policies[s], draws):
            if draw <= p:
                ref = tv_autoaugment._apply_op(ref, name, float(table[OP_INDEX[name], b or 0]),
                                               InterpolationMode.NEAREST, [FILL] * 3)
        diff = (out - ref.float()).abs()
        # torchvision rounds to uint8 between the two ops; a second op with factor 1.9 doubles that error
        assert diff.mean() < 1.5 and (diff > 4).float().mean() < 0.02, (policies[s], draws, diff.mean())


def test_autoaugment_applies_each_op_with_its_sub_policy_probability():
    aug = StrongAugment("autoaugment")
    x = torch.zeros(20000, 3, 4, 4)
    u = aug.draw(x, torch.Generator().manual_seed(0))[0]
    op, _ = aug.plan(u, aug.tables(x))
    sub_ops, sub_probs, _ = autoaugment_cifar10()
    sub = (u[:, 0] * len(sub_ops)).long()
    for s in range(len(sub_ops)):
        picked = op[sub == s]  # (n, 2)
        applied = (picked == sub_ops[s]).float().mean(0)
        identity = sub_ops[s] == OP_INDEX["Identity"]
        assert ((applied - sub_probs[s]).abs() < 0.08)[~identity].all(), (s, applied, sub_probs[s])


def test_magnitude_tables_are_torchvisions():
    h, w = 32, 48
    cases = [(magnitude_table(NUM_BINS, h, w), RandAugment()._augmentation_space(NUM_BINS, (h, w))),
             (magnitude_table(NUM_BINS, h, w, wide=True), TrivialAugmentWide()._augmentation_space(NUM_BINS)),
             (magnitude_table(AUTOAUGMENT_BINS, h, w), AutoAugment()._augmentation_space(AUTOAUGMENT_BINS, (h, w)))]
    for ours, space in cases:
        for name, (values, signed) in space.items():
            assert signed == (name in SIGNED_OPS), name
            expected = values.double() if values.ndim else torch.zeros(ours.shape[1], dtype=torch.float64)
            torch.testing.assert_close(ours[OP_INDEX[name]], expected, msg=name)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("policy", POLICY_NAMES)
def test_output_keeps_shape_dtype_and_the_0_255_range(policy, channels):
    x = smooth_images(16, channels=channels)
    x[:, :, :4] = 255.0  # saturated rows: the ops must clamp, not overshoot
    out = run(StrongAugment(policy, magnitude=30, erasing=0.5, color_jitter=0.9), x, 0)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 255


def test_policy_none_returns_the_input_and_draws_nothing():
    x, gen = smooth_images(4), torch.Generator().manual_seed(0)
    state = gen.get_state()
    assert StrongAugment()(x, gen) is x
    assert torch.equal(gen.get_state(), state)


def test_randaugment_at_magnitude_0_changes_only_samples_that_drew_autocontrast_or_equalize():
    aug = StrongAugment("randaugment", num_ops=2, magnitude=0)
    x = smooth_images(64)
    out = run(aug, x, 0)
    op, _ = aug.plan(aug.draw(x, torch.Generator().manual_seed(0))[0], aug.tables(x))
    histogram_op = ((op == OP_INDEX["AutoContrast"]) | (op == OP_INDEX["Equalize"])).any(1)  # (B,)
    changed = (out - x).abs().flatten(1).amax(1) > 1e-3  # (B,)
    assert histogram_op.any() and (~histogram_op).sum() > 32
    assert not changed[~histogram_op].any()
    assert changed[histogram_op].all()


def erased_boxes(out: torch.Tensor, x: torch.Tensor):
    """Per sample: (changed anything, fraction of its bounding box changed, box area / image area)."""
    rows = []
    for changed in (out != x).any(1):  # (H, W)
        if not changed.any():
            rows.append((False, 0.0, 0.0))
            continue
        ys, xs = changed.nonzero(as_tuple=True)
        box = changed[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        rows.append((True, box.float().mean().item(), box.numel() / changed.numel()))
    return rows


def test_erasing_1_replaces_one_rectangle_of_every_sample():
    x = smooth_images(32)
    for _, filled, area in erased_boxes(run(StrongAugment(erasing=1.0), x, 0), x):
        assert filled > 0.9 and 0.015 < area < 0.4, (filled, area)


def test_erasing_probability_sets_the_share_of_erased_samples():
    x = smooth_images(64)
    erased = [e for e, _, _ in erased_boxes(run(StrongAugment(erasing=0.5), x, 0), x)]
    assert 16 < sum(erased) < 48
    assert not any(e for e, _, _ in erased_boxes(run(StrongAugment("none", color_jitter=1e-9), x, 0), x))


def test_build_augment_returns_none_for_the_no_op_config_and_passes_the_rest_on():
    assert build_augment({"policy": "none", "num_ops": 2, "magnitude": 9, "erasing": 0.0, "color_jitter": 0.0}) is None
    cfg = OmegaConf.create({"policy": "randaugment", "num_ops": 3, "magnitude": 12, "erasing": 0.25,
                            "color_jitter": 0.0, "crop_padding": 4, "flip": True})
    aug = build_augment(cfg)
    assert (aug.policy, aug.num_ops, aug.magnitude, aug.erasing) == ("randaugment", 3, 12, 0.25)
    assert aug._transform == aug.transform  # eager unless the config asks for compile
    compiled = build_augment({**cfg, "compile": True})
    assert compiled._transform != compiled.transform


def test_build_augment_rejects_an_unknown_policy_naming_the_valid_ones():
    with pytest.raises(ValueError) as err:
        build_augment({"policy": "randaug", "erasing": 0.0, "color_jitter": 0.0})
    assert "randaug'" in str(err.value) and all(p in str(err.value) for p in POLICIES)


@pytest.mark.parametrize("policy", POLICY_NAMES)
def test_global_rng_is_untouched(policy):
    x = smooth_images(8)
    state = torch.get_rng_state()
    run(StrongAugment(policy, erasing=0.5, color_jitter=0.3), x, 0)
    assert torch.equal(torch.get_rng_state(), state)


def _cifar_like_loader(**kwargs):
    from vkan.data.gpu_loader import GpuLoader

    torch.manual_seed(0)
    images = torch.randint(0, 256, (16, 3, 12, 12), dtype=torch.uint8)
    return GpuLoader(images, torch.arange(16) % 10, 8, [0.5, 0.4, 0.3], [0.2, 0.25, 0.3], train=True, **kwargs)


def _photo_loader(**kwargs):
    from vkan.data.gpu_loader import PhotoGpuLoader

    images = torch.randint(0, 256, (8, 3, 18, 18), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    return PhotoGpuLoader(images, torch.arange(8) % 5, 4, [0.5] * 3, [0.25] * 3, train=True, img_size=16, **kwargs)


def test_the_loaders_views_follow_their_draws_translation_flip_and_cutout():
    loader = _cifar_like_loader(crop_padding=2, flip=True, cutout=3)
    x = loader.images[:2].float()
    centre, keep = torch.full((2,), 0.5), torch.full((2,), 0.9)
    off = torch.zeros(2)  # a cutout centred on the corner pixel: it covers the 2x2 square there
    assert torch.equal(loader._view(x, torch.stack([centre, centre, keep, off, off], 1))[..., 2:, 2:], x[..., 2:, 2:])
    mirrored = loader._view(x, torch.stack([centre, centre, torch.full((2,), 0.1), off, off], 1))
    assert torch.equal(mirrored[..., 2:, 2:], x.flip(3)[..., 2:, 2:])
    right = torch.full((2,), 0.99)  # and a cutout at the top-right corner, outside the compared part
    shifted = loader._view(x, torch.stack([off, right, keep, off, right], 1))
    assert torch.equal(shifted[..., 2:, :-2], x[..., :-2, 2:])  # 2 px down (reflected in), 2 px left
    cut = loader._view(x, torch.stack([centre, centre, keep, off, off], 1))
    assert torch.equal(cut[..., :2, :2], loader.mean.expand(2, 3, 2, 2))


@pytest.mark.parametrize("photos", [False, True], ids=["cifar views", "photo views"])
def test_a_training_batch_is_one_graph_and_the_same_function_of_its_draws_compiled(photos):
    augment = StrongAugment("autoaugment", erasing=0.5)
    if photos:
        loader = _photo_loader(augment=augment)
    else:
        loader = _cifar_like_loader(crop_padding=2, flip=True, cutout=3, augment=augment)
    x = loader.images[:4]
    args = loader.draw(x, torch.Generator().manual_seed(1))
    graph = torch.compile(loader.train_batch, backend="aot_eager", fullgraph=True, dynamic=False)  # no graph break
    assert torch.allclose(graph(x, *args), loader.train_batch(x, *args), atol=1e-4)
    compiled = _cifar_like_loader(crop_padding=2, flip=True, compile=True)
    assert compiled._train_batch != compiled.train_batch and loader._train_batch == loader.train_batch


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None, reason="Inductor's CPU code needs a C++ compiler")
def test_inductor_compiles_the_photo_loaders_training_batch_to_its_eager_result():
    """What a GPU run does by default (data.augment.compile=auto), lowered by Inductor for the CPU: the resampling
    (grid_sample), the policy and erasing as generated code, against eager."""
    loader = _photo_loader(augment=StrongAugment("randaugment", erasing=0.5), compile=True)
    x = loader.images[:4]
    args = loader.draw(x, torch.Generator().manual_seed(1))
    assert torch.allclose(loader._train_batch(x, *args), loader.train_batch(x, *args), atol=1e-3)


def test_an_epoch_of_training_batches_is_a_function_of_seed_epoch_and_batch():
    loader, again = _cifar_like_loader(crop_padding=2, flip=True), _cifar_like_loader(crop_padding=2, flip=True)
    loader.set_epoch(3)
    first = [x for x, _ in loader]
    again.set_epoch(3, start_batch=1)  # resumed after the first batch
    assert torch.equal(next(iter(again))[0], first[1])
    loader.set_epoch(4)
    assert not torch.equal(next(iter(loader))[0], first[0])

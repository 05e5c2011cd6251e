"""Per-sample RandAugment, TrivialAugment, AutoAugment, colour jitter and erasing of device batches, on Kornia."""
from __future__ import annotations

import math
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import kornia.enhance as KE
import kornia.geometry.transform as KT
import torch
import torch.nn.functional as F
from kornia.geometry.conversions import normalize_homography

POLICIES = ("none", "randaugment", "trivialaugment", "autoaugment")
# torchvision's op names; RandAugment and TrivialAugmentWide draw from the first 14, Invert is AutoAugment's only
OPS = ("Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast",
       "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize", "Invert")
RAND_OPS = OPS[:14]
GEOMETRIC_OPS = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")
SIGNED_OPS = GEOMETRIC_OPS + ("Brightness", "Color", "Contrast", "Sharpness")  # get a random sign per sample
OP_INDEX = {name: i for i, name in enumerate(OPS)}
NUM_BINS = 31  # torchvision's num_magnitude_bins (RandAugment, TrivialAugmentWide); AutoAugment uses 10
AUTOAUGMENT_BINS = 10
ERASE_AREA = (0.02, 1 / 3)  # timm RandomErasing's min_area, max_area (fractions of the image)
ERASE_LOG_RATIO = (math.log(0.3), math.log(1 / 0.3))  # timm's aspect-ratio range, sampled log-uniform
ERASE_ATTEMPTS = 10  # timm's max_attempts: the first candidate rectangle that fits inside the image is used
ERASE_NOISE_STD = 0.25  # on [0, 1]: about a dataset channel's std, so erased pixels normalise to roughly N(0, 1)


def magnitude_table(num_bins: int, height: int, width: int, wide: bool = False) -> torch.Tensor:
    """(len(OPS), num_bins) float64 unsigned magnitudes per op and bin, in torchvision's units.

    Shears are factors (tan of the angle), translations pixels, rotations degrees, Brightness/Color/Contrast/
    Sharpness deltas from factor 1, Posterize bits, Solarize thresholds on 0..255; ops without a magnitude get
    rows of 0. ``wide``: TrivialAugmentWide's ranges (translations then are 32 pixels whatever the image size).
    """
    def ramp(top: float) -> torch.Tensor:
        return torch.linspace(0.0, top, num_bins, dtype=torch.float64)

    enhance = 0.99 if wide else 0.9
    bits = 8 - (torch.arange(num_bins, dtype=torch.float64) / ((num_bins - 1) / (6 if wide else 4))).round()
    rows = {"ShearX": ramp(0.99 if wide else 0.3), "ShearY": ramp(0.99 if wide else 0.3),
            "TranslateX": ramp(32.0 if wide else 150.0 / 331.0 * width),
            "TranslateY": ramp(32.0 if wide else 150.0 / 331.0 * height),
            "Rotate": ramp(135.0 if wide else 30.0), "Brightness": ramp(enhance), "Color": ramp(enhance),
            "Contrast": ramp(enhance), "Sharpness": ramp(enhance),
            "Posterize": bits, "Solarize": torch.linspace(255.0, 0.0, num_bins, dtype=torch.float64)}
    table = torch.zeros(len(OPS), num_bins, dtype=torch.float64)
    for name, values in rows.items():
        table[OP_INDEX[name]] = values
    return table


def warp_table(magnitudes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(len(OPS), bins, 2, 2, 3) sampling matrices for ``F.affine_grid(align_corners=True)``, built with Kornia.

    For each op, bin of ``magnitudes`` (len(OPS), bins) and sign (index 1: negated), the inverse of the op's
    pixel map in [-1, 1] coordinates; the identity for ops that are not geometric. Made once per image size,
    so that a batch only gathers its (B, 2, 3) matrices and warps once per slot.
    """
    n_ops, n_bins = magnitudes.shape
    mag = torch.stack([magnitudes, -magnitudes], -1).flatten()  # (N,) = (ops * bins * 2,)
    op = torch.arange(n_ops).repeat_interleave(n_bins * 2)  # (N,)
    zero = torch.zeros_like(mag)

    def chosen(name: str, value: torch.Tensor) -> torch.Tensor:  # (N,): value for this op's rows, else 0
        return torch.where(op == OP_INDEX[name], value, zero)

    pixels = mag.trunc()  # torchvision translates by int(magnitude) pixels
    shift = torch.stack([chosen("TranslateX", pixels), chosen("TranslateY", pixels)], -1)  # (N, 2)
    shear = mag.atan()  # Kornia takes the shear angle; torchvision's magnitude is its tangent
    sheared = (op == OP_INDEX["ShearX"]) | (op == OP_INDEX["ShearY"])
    # torchvision shears about the top-left image corner (pixel (-0.5, -0.5)) and rotates about the centre
    centre = torch.where(sheared[:, None], -0.5, torch.tensor([(width - 1) / 2, (height - 1) / 2], dtype=mag.dtype))
    # get_affine_matrix2d turns positive angles clockwise, torchvision counter-clockwise
    pixel_map = KT.get_affine_matrix2d(shift, centre, torch.ones_like(shift), chosen("Rotate", -mag),
                                       chosen("ShearX", shear), chosen("ShearY", shear))  # (N, 3, 3)
    unit_map = normalize_homography(pixel_map, (height, width), (height, width), align_corners=True)
    return KT.invert_affine_transform(unit_map[:, :2]).view(n_ops, n_bins, 2, 2, 3)


def autoaugment_cifar10() -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """torchvision's 25 CIFAR-10 sub-policies as (op index (25, 2) long, probability (25, 2), bin (25, 2) long).

    Ops without a magnitude (bin ``None`` in torchvision) get bin 0, whose magnitude row is 0."""
    from torchvision.transforms import AutoAugment, AutoAugmentPolicy

    policies = AutoAugment(AutoAugmentPolicy.CIFAR10).policies
    ops = torch.tensor([[OP_INDEX[name] for name, _, _ in sub] for sub in policies])
    probs = torch.tensor([[p for _, p, _ in sub] for sub in policies], dtype=torch.float32)
    bins = torch.tensor([[b or 0 for _, _, b in sub] for sub in policies])
    return ops, probs, bins


class StrongAugment:
    """A batch augmentation: (x float (B,C,H,W) in [0,255] on any device, gen torch.Generator on that device) -> same
    shape/dtype.

    ``policy``: ``randaugment`` (``num_ops`` ops per sample at bin ``magnitude`` of 31, random signs),
    ``trivialaugment`` (one op, a uniform bin of 31), ``autoaugment`` (one of the CIFAR-10 sub-policies, each of
    its two ops with its probability) or ``none``. ``num_ops`` and ``magnitude`` only matter for randaugment.
    Then ``color_jitter`` s: brightness, contrast, saturation factors uniform in [1-s, 1+s] per sample, in that
    order. Then ``erasing`` p: with probability p per sample, one rectangle (timm's area and aspect ranges and
    10 attempts; if none fits, the last is clipped to the image) is replaced by per-pixel, per-channel Gaussian
    noise of mean ``fill`` and std ``ERASE_NOISE_STD``, clipped to the image range. ``fill`` (on [0, 1], one
    value or one per channel) also fills what geometric ops uncover. ``interpolation``: ``nearest``
    (torchvision's default) or ``bilinear``. ``compile``: run ``transform`` under ``torch.compile`` (a string:
    with that mode). Eager, Kornia's Python overhead dominates: on an H200 a CIFAR batch of 512 takes 6.5-8.5
    ms with randaugment (host-bound, so it varies with the host), against 0.55-0.8 ms compiled and 0.25-0.3 ms
    with ``"reduce-overhead"`` (CUDA graphs; the output is then overwritten by the next call, so use it
    before). See bench/augment_speed.py. ``GpuLoader`` compiles ``transform`` with its views and normalisation instead.

    No loop over samples: each candidate op runs on the whole batch with a per-sample parameter that is the
    op's identity for the samples that did not pick it (photometric ops), or its result is kept by
    ``torch.where`` (ops without a magnitude); the geometric ops of one slot (a sample picks at most one) are
    one per-sample affine matrix, gathered from a table that Kornia built once (``warp_table``), and one warp.
    The randomness is one ``torch.rand`` (plus one ``torch.randn`` when erasing) from the caller's generator
    (``draw``); all the rest (``transform``) is a deterministic function of those draws, without host syncs,
    which ``torch.compile`` can fuse.
    Unlike torchvision, values stay float between ops (torchvision rounds to uint8 after each).
    """

    def __init__(self, policy: str = "none", num_ops: int = 2, magnitude: int = 9, erasing: float = 0.0,
                 color_jitter: float = 0.0, fill: Sequence[float] = (0.5, 0.5, 0.5), interpolation: str = "nearest",
                 compile: Union[bool, str] = False):
        if policy not in POLICIES:
            raise ValueError(f"unknown augmentation policy {policy!r}; valid policies: {', '.join(POLICIES)}")
        if not 0 <= magnitude < NUM_BINS or num_ops < 0:
            raise ValueError(f"magnitude must be in [0, {NUM_BINS - 1}] and num_ops >= 0, got {magnitude}, {num_ops}")
        if not (0.0 <= erasing <= 1.0 and 0.0 <= color_jitter <= 1.0):
            raise ValueError(f"erasing and color_jitter must be in [0, 1], got {erasing}, {color_jitter}")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"interpolation must be nearest or bilinear, got {interpolation!r}")
        self.policy, self.num_ops, self.magnitude = policy, num_ops, magnitude
        self.erasing, self.color_jitter, self.fill = erasing, color_jitter, tuple(float(f) for f in fill)
        self.interpolation = interpolation
        self.slots = {"none": 0, "randaugment": num_ops, "trivialaugment": 1, "autoaugment": 2}[policy]
        # columns of the per-sample uniform draw: per slot (op, bin, sign) or AutoAugment's (sub-policy, p, sign)
        self._n_policy = 5 if policy == "autoaugment" else 3 * self.slots
        self._n_jitter = 3 if color_jitter > 0 else 0
        self._n_erase = 1 + 2 * ERASE_ATTEMPTS + 2 if erasing > 0 else 0
        self._sub_policies = autoaugment_cifar10() if self.policy == "autoaugment" else None  # ops, probs, bins
        self.ops = self._reachable_ops()
        self._cache: Dict[tuple, Dict[str, torch.Tensor]] = {}
        mode = compile if isinstance(compile, str) else None
        self._transform = torch.compile(self.transform, dynamic=False, mode=mode) if compile else self.transform

    def _reachable_ops(self) -> frozenset:
        if self.policy == "autoaugment":
            return frozenset(OPS[i] for i in self._sub_policies[0].flatten().tolist()) | {"Identity"}
        return frozenset(RAND_OPS) if self.slots else frozenset()

    def __repr__(self) -> str:
        return (f"StrongAugment(policy={self.policy!r}, num_ops={self.num_ops}, magnitude={self.magnitude}, "
                f"erasing={self.erasing}, color_jitter={self.color_jitter}, fill={self.fill})")

    @property
    def active(self) -> bool:
        """Whether a call changes anything at all (otherwise it returns its input)."""
        return bool(self.slots or self._n_jitter or self._n_erase)

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """x (B, C, H, W) float in [0, 255] -> augmented, same shape and dtype (x itself when inactive)."""
        if not self.active:
            return x
        u, noise = self.draw(x, gen)
        return self._transform(x, u, noise, self.tables(x))

    def draw(self, x: torch.Tensor, gen: torch.Generator) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """All the randomness of one call: uniforms (B, K) and, when erasing, noise (B, C, H, W)."""
        b = x.shape[0]
        u = torch.rand(b, self._n_policy + self._n_jitter + self._n_erase, device=x.device, generator=gen)
        noise = torch.randn(x.shape, device=x.device, generator=gen) if self._n_erase else None
        return u, noise

    def tables(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Constant tensors for x's device and size, made once (no host-to-device copy per batch)."""
        _, c, h, w = x.shape
        key = (x.device, c, h, w)
        if key not in self._cache:
            if len(self.fill) not in (1, c) and len(set(self.fill)) != 1:
                raise ValueError(f"fill has {len(self.fill)} values for {c}-channel images")
            fill = self.fill * c if len(set(self.fill)) == 1 else self.fill
            t = {"fill": torch.tensor(fill[:c]), "one": torch.ones(1),  # (C,), Invert's maximum
                 "signed": torch.tensor([name in SIGNED_OPS for name in OPS])}  # (len(OPS),)
            if self.policy == "autoaugment":
                t["magnitudes"] = magnitude_table(AUTOAUGMENT_BINS, h, w)
                t["sub_ops"], t["sub_probs"], t["sub_bins"] = self._sub_policies
            elif self.slots:
                t["magnitudes"] = magnitude_table(NUM_BINS, h, w, wide=self.policy == "trivialaugment")
            if self.slots:
                t["warps"] = warp_table(t["magnitudes"], h, w)  # (len(OPS), bins, 2, 2, 3)
            self._cache[key] = {k: v.to(device=x.device, dtype=torch.float32 if v.is_floating_point() else v.dtype)
                                for k, v in t.items()}
        return self._cache[key]

    def plan(self, u: torch.Tensor, tables: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Per-sample ops of each slot: (op index into OPS (B, S) long, signed magnitude (B, S) float)."""
        op, bins, negative = self._choices(u, tables)
        return op, _signed(tables["magnitudes"][op, bins], negative)

    def _choices(self, u: torch.Tensor, tables) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(op index (B, S), magnitude bin (B, S), negated (B, S) bool) from the policy's columns of u."""
        s = self.slots
        if self.policy == "autoaugment":
            n_sub = tables["sub_ops"].shape[0]
            sub = (u[:, 0] * n_sub).long().clamp_(max=n_sub - 1)  # (B,)
            applied = u[:, 1:3] <= tables["sub_probs"][sub]  # (B, 2): torchvision applies when its draw <= p
            op = torch.where(applied, tables["sub_ops"][sub], OP_INDEX["Identity"])  # (B, 2)
            bins, u_sign = tables["sub_bins"][sub], u[:, 3:5]
        else:
            op = (u[:, :s] * len(RAND_OPS)).long().clamp_(max=len(RAND_OPS) - 1)  # (B, S)
            if self.policy == "trivialaugment":
                bins = (u[:, s:2 * s] * NUM_BINS).long().clamp_(max=NUM_BINS - 1)  # (B, 1)
            else:
                bins = torch.full_like(op, self.magnitude)
            u_sign = u[:, 2 * s:3 * s]
        return op, bins, tables["signed"][op] & (u_sign < 0.5)

    def transform(self, x: torch.Tensor, u: torch.Tensor, noise: Optional[torch.Tensor],
                  tables: Dict[str, torch.Tensor]) -> torch.Tensor:
        """The augmentation given its draws: x (B, C, H, W) in [0, 255] -> same; no randomness, no host sync."""
        y = x.float() / 255  # (B, C, H, W) on [0, 1], Kornia's range
        if self.slots:
            op, bins, negative = self._choices(u, tables)  # (B, S) each
            mag = _signed(tables["magnitudes"][op, bins], negative)  # (B, S)
            warps = tables["warps"][op, bins, negative.long()]  # (B, S, 2, 3)
            for s in range(self.slots):
                y = self._slot(y, op[:, s], mag[:, s], warps[:, s], tables)
        cols = u[:, self._n_policy:]
        if self._n_jitter:
            y = self._jitter(y, 1 + self.color_jitter * (2 * cols[:, :3] - 1))
        if self._n_erase:
            y = self._erase(y, cols[:, self._n_jitter:], noise, tables["fill"])
        return (y * 255).to(x.dtype)

    def _slot(self, y: torch.Tensor, op: torch.Tensor, mag: torch.Tensor, warp: torch.Tensor, tables):
        """One op per sample: y (B, C, H, W) on [0, 1], op (B,) index into OPS, mag (B,) signed magnitude,
        warp (B, 2, 3) the sampling matrix of its geometric op (identity for the others)."""
        if self.ops & set(GEOMETRIC_OPS):
            y = self._warp(y, warp, tables["fill"])
        y = self._enhance(y, op, mag)
        return self._histogram_ops(y, op, tables)

    def _warp(self, y: torch.Tensor, warp: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
        """One resampling for the whole batch, each sample by its own matrix; uncovered pixels get ``fill``.

        Kornia's warp_affine would normalise and invert the matrices on every call; ``warp_table`` did that
        once, so only its last step, torch's affine_grid + grid_sample, runs here."""
        grid = F.affine_grid(warp, list(y.shape), align_corners=True)  # (B, H, W, 2)
        fill = fill[:, None, None]  # (C, 1, 1)
        # zero padding of (y - fill), then + fill: pixels from outside become fill, and bilinear borders blend
        # with it, as Kornia's padding_mode="fill" does, with one grid_sample instead of two
        return F.grid_sample(y - fill, grid, mode=self.interpolation, padding_mode="zeros", align_corners=True) + fill

    def _enhance(self, y: torch.Tensor, op: torch.Tensor, mag: torch.Tensor) -> torch.Tensor:
        """Photometric ops with a parameter, chained: each is exactly the identity for samples not picking it."""
        def chosen(name: str, neutral: float) -> torch.Tensor:  # (B,)
            return torch.where(op == OP_INDEX[name], mag, neutral)

        if "Brightness" in self.ops:  # PIL's brightness: a factor, not Kornia's additive adjust_brightness
            y = KE.adjust_brightness_accumulative(y, 1 + chosen("Brightness", 0.0))
        if "Color" in self.ops:  # PIL's colour: blend with the grey image, not HSV saturation
            y = KE.adjust_saturation_with_gray_subtraction(y, 1 + chosen("Color", 0.0))
        if "Contrast" in self.ops:  # PIL's contrast: blend with the grey mean
            y = KE.adjust_contrast_with_mean_subtraction(y, 1 + chosen("Contrast", 0.0))
        if "Sharpness" in self.ops:
            y = KE.sharpness(y, 1 + chosen("Sharpness", 0.0))
        if "Posterize" in self.ops:  # 8 bits returns the input. Float bits give what integers give, but
            y = KE.posterize(y, chosen("Posterize", 8.0))  # compile into the fused kernel (integer pow does not)
        if "Solarize" in self.ops:  # a threshold of 2 (on [0, 1]) inverts nothing
            y = KE.solarize(y, chosen("Solarize", 510.0) / 255)
        return y

    def _histogram_ops(self, y: torch.Tensor, op: torch.Tensor, tables) -> torch.Tensor:
        """Ops without a parameter: computed for the whole batch, kept where picked."""
        ops = (("AutoContrast", _autocontrast), ("Equalize", KE.equalize),
               ("Invert", lambda v: KE.invert(v, tables["one"])))  # a device max_val: no host-to-device copy
        for name, fn in ops:
            if name in self.ops:
                y = torch.where((op == OP_INDEX[name])[:, None, None, None], fn(y), y)
        return y

    @staticmethod
    def _jitter(y: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
        """factors (B, 3): brightness, contrast, saturation, PIL's definitions as in torchvision's ColorJitter."""
        y = KE.adjust_brightness_accumulative(y, factors[:, 0])
        y = KE.adjust_contrast_with_mean_subtraction(y, factors[:, 1])
        return KE.adjust_saturation_with_gray_subtraction(y, factors[:, 2])

    def _erase(self, y: torch.Tensor, u: torch.Tensor, noise: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
        """u (B, 1 + 2 * ERASE_ATTEMPTS + 2): apply?, areas, aspect ratios, top, left; noise (B, C, H, W)."""
        h, w = y.shape[-2:]
        a = ERASE_ATTEMPTS
        area = h * w * (ERASE_AREA[0] + (ERASE_AREA[1] - ERASE_AREA[0]) * u[:, 1:1 + a])  # (B, A) pixels
        ratio = (ERASE_LOG_RATIO[0] + (ERASE_LOG_RATIO[1] - ERASE_LOG_RATIO[0]) * u[:, 1 + a:1 + 2 * a]).exp()
        rh, rw = (area * ratio).sqrt().round(), (area / ratio).sqrt().round()  # (B, A) as timm rounds them
        fits = (rh < h) & (rw < w)
        first = torch.where(fits.any(1), fits.int().argmax(1), a - 1)[:, None]  # (B, 1) first fitting attempt
        rh = rh.gather(1, first).clamp(1, h - 1)  # (B, 1)
        rw = rw.gather(1, first).clamp(1, w - 1)
        top = (u[:, -2:-1] * (h - rh + 1)).floor()  # (B, 1) uniform in [0, h - rh]
        left = (u[:, -1:] * (w - rw + 1)).floor()
        rows = torch.arange(h, device=y.device)  # (H,)
        cols = torch.arange(w, device=y.device)
        in_rows = (rows >= top) & (rows < top + rh)  # (B, H)
        in_cols = (cols >= left) & (cols < left + rw)  # (B, W)
        hole = in_rows[:, :, None] & in_cols[:, None, :] & (u[:, :1, None] < self.erasing)  # (B, H, W)
        patch = (fill[:, None, None] + ERASE_NOISE_STD * noise).clamp(0, 1)  # (B, C, H, W)
        return torch.where(hole[:, None], patch, y)


def _signed(mag: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    return torch.where(negative, -mag, mag)


def _autocontrast(y: torch.Tensor) -> torch.Tensor:
    """Per-channel min-max stretch to [0, 1] (Kornia); a flat channel stays as it is, as in torchvision."""
    flat = y.amax((-2, -1), keepdim=True) == y.amin((-2, -1), keepdim=True)  # (B, C, 1, 1)
    return torch.where(flat, y, KE.normalize_min_max(y).clamp(0, 1))


def build_augment(cfg: Mapping, device: Optional[torch.device] = None) -> Optional[StrongAugment]:
    """From a config mapping with keys policy, num_ops, magnitude, erasing, color_jitter (and others, ignored);
    None when policy == 'none' and erasing == 0 and color_jitter == 0. Unknown policy -> ValueError naming valid ones.

    An optional ``compile`` key (false, true, auto or a torch.compile mode) is passed on: compiled is what keeps the
    augmentation of CIFAR batches at a few % of a training step (see ``StrongAugment``); ``auto`` compiles on
    a CUDA ``device`` only."""
    policy = cfg.get("policy", "none") or "none"
    if policy not in POLICIES:
        raise ValueError(f"unknown augmentation policy {policy!r}; valid policies: {', '.join(POLICIES)}")
    erasing, color_jitter = float(cfg.get("erasing", 0.0) or 0.0), float(cfg.get("color_jitter", 0.0) or 0.0)
    if policy == "none" and erasing == 0 and color_jitter == 0:
        return None
    return StrongAugment(policy, num_ops=int(cfg.get("num_ops", 2)), magnitude=int(cfg.get("magnitude", 9)),
                         erasing=erasing, color_jitter=color_jitter, compile=compile_choice(cfg, device))


def compile_choice(cfg: Mapping, device: Optional[torch.device]) -> Union[bool, str]:
    """The augmentation config's ``compile`` (false, true, auto or a torch.compile mode) with ``auto`` resolved: true
    on a CUDA ``device``."""
    choice = cfg.get("compile", False) or False
    if choice == "auto":
        return device is not None and torch.device(device).type == "cuda"
    return choice

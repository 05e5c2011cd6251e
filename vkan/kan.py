"""KANLinear: a B-spline Kolmogorov-Arnold layer that drops in wherever ``nn.Linear`` goes, and KANSpec, its options."""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Type, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from vkan.bspline import b_spline_bases, spline_linear
from vkan.ops import fused_kan_linear, fused_spline_linear, fused_supported, kernel_activation

ActivationArg = Union[str, Type[nn.Module], Callable[[], nn.Module]]

_ACTIVATIONS = {
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "identity": nn.Identity,
}


def resolve_activation(act: ActivationArg) -> Callable[[], nn.Module]:
    """Turn ``"silu"``, ``nn.SiLU`` or any zero-argument module factory into a module factory."""
    if isinstance(act, str):
        key = act.lower()
        if key not in _ACTIVATIONS:
            raise ValueError(f"unknown base_activation {act!r}; choose one of {sorted(_ACTIVATIONS)}")
        return _ACTIVATIONS[key]
    if callable(act):
        return act
    raise TypeError(f"base_activation must be a name or an nn.Module class, got {type(act).__name__}")


def activation_name(module: nn.Module) -> Optional[str]:
    """The registry name of an activation module (``"silu"``), or None for one we do not know."""
    for name, cls in _ACTIVATIONS.items():
        if type(module) is cls:
            return name
    return None


@dataclasses.dataclass(frozen=True)
class KANSpec:
    """Every hyper-parameter of a KAN layer, in one place: KANLinear, KANMlp, the models and the configs take it.

    Adding an option means adding a field here (and a line in ``conf/model/vit_kan.yaml``); ``KANSpec.of``
    rejects names that are not fields, so a typo never passes silently.
    """

    grid_size: int = 5  # spline intervals on grid_range
    spline_order: int = 3  # B-spline degree k (the fused GPU kernels cover 1-3)
    grid_range: Tuple[float, float] = (-1.0, 1.0)  # initial knot range; update_grid re-fits it to the data
    base_activation: ActivationArg = "silu"  # the residual branch w_b * act(x) of every edge
    enable_standalone_scale_spline: bool = True  # a per-edge spline_scaler parameter
    bias: bool = False  # a bias per output
    scale_noise: float = 0.1  # amplitude of the initial spline noise
    scale_base: float = 1.0  # initial scale of base_weight
    scale_spline: float = 1.0  # initial scale of the spline part
    grid_eps: float = 0.02  # update_grid: weight of a uniform grid mixed into the data quantiles
    base_init: str = "kaiming"  # kaiming: base_weight and spline_scaler as nn.Linear's weight (efficient-kan today);
    #   constant: base_weight = scale_base and spline_scaler = scale_spline (efficient-kan before 2024-05-04)

    def __post_init__(self) -> None:
        lo, hi = (float(v) for v in self.grid_range)
        object.__setattr__(self, "grid_range", (lo, hi))
        if int(self.grid_size) != self.grid_size or self.grid_size < 1:
            raise ValueError(f"grid_size must be an integer >= 1, got {self.grid_size}")
        if int(self.spline_order) != self.spline_order or self.spline_order < 0:
            raise ValueError(f"spline_order must be an integer >= 0, got {self.spline_order}")
        if not lo < hi:
            raise ValueError(f"grid_range must be (low, high) with low < high, got {self.grid_range}")
        resolve_activation(self.base_activation)
        if self.base_init not in ("kaiming", "constant"):
            raise ValueError(f"base_init must be 'kaiming' or 'constant', got {self.base_init!r}")

    @classmethod
    def names(cls) -> Tuple[str, ...]:
        """The option names, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def of(cls, spec: Optional["KANSpec"] = None, **options: Any) -> "KANSpec":
        """``spec`` (default: the defaults) with ``options`` replaced; an unknown name raises ``TypeError``
        naming it and the valid ones."""
        if spec is not None and not isinstance(spec, KANSpec):
            raise TypeError(f"expected a KANSpec, got {type(spec).__name__}; pass KAN options by keyword "
                            f"(e.g. grid_size=5)")
        unknown = sorted(set(options) - set(cls.names()))
        if unknown:
            raise TypeError(f"unknown KAN option(s) {', '.join(unknown)}; valid options: {', '.join(cls.names())}")
        return dataclasses.replace(spec or cls(), **options)

    @property
    def n_coef(self) -> int:
        """Spline coefficients per edge: ``grid_size + spline_order``."""
        return self.grid_size + self.spline_order

    @property
    def params_per_edge(self) -> int:
        """Parameters per edge: the coefficients, base_weight and (if enabled) spline_scaler."""
        return self.n_coef + 1 + int(self.enable_standalone_scale_spline)

    def to_dict(self) -> Dict[str, Any]:
        """Plain values (activations by name where known): what configs and checkpoints store."""
        out = dataclasses.asdict(self)
        act = self.base_activation
        if not isinstance(act, str):
            out["base_activation"] = next((n for n, c in _ACTIVATIONS.items() if c is act),
                                          f"{act.__module__}.{getattr(act, '__qualname__', act)}")
        out["grid_range"] = list(self.grid_range)
        return out


def uniform_grid(in_features: int, grid_size: int, spline_order: int,
                 grid_range: Sequence[float], device=None) -> torch.Tensor:
    """Uniform knots on ``grid_range`` extended by ``spline_order`` knots each side: (in, G + 2k + 1)."""
    lo, hi = float(grid_range[0]), float(grid_range[1])
    step = (hi - lo) / grid_size
    knots = torch.arange(-spline_order, grid_size + spline_order + 1, dtype=torch.float32, device=device)
    return (knots * step + lo).expand(in_features, -1).contiguous()


def grid_is_uniform(grid: torch.Tensor, rtol: float = 1e-5) -> bool:
    """Whether every row of a (in, Q) grid has equally spaced knots (to ``rtol`` of the spacing)."""
    steps = grid.double().diff(dim=1)  # (in, Q-1)
    return bool(((steps - steps[:, :1]).abs() <= rtol * steps[:, :1].abs()).all() and (steps > 0).all())


def least_squares_per_input(bases: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per input i, the least-squares c minimising ``|bases[:, i] @ c - targets[i]|``: bases (N, in, C), targets
    (in, N, R) -> (in, C, R), in float64, through the (C, C) normal equations with a tiny ridge (so an interval
    holding no sample still solves); nothing of size (N, in, R) is built beyond ``targets``."""
    a = bases.double().permute(1, 2, 0)  # (in, C, N)
    gram = a @ a.transpose(1, 2)  # (in, C, C)
    ridge = 1e-10 * gram.diagonal(dim1=1, dim2=2).mean(-1).clamp_min(1e-12)  # (in,)
    eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
    return torch.linalg.solve(gram + ridge[:, None, None] * eye, a @ targets.double())


def data_grid(x: torch.Tensor, grid_size: int, spline_order: int, grid_eps: float, margin: float,
              truncate: bool = False) -> torch.Tensor:
    """Knots fitted to the inputs x (N, in): the data's quantiles (weight ``1 - grid_eps``) mixed with a uniform
    grid over the data range widened by ``margin``, extended by ``spline_order`` knots each side: (in, G+2k+1).
    ``truncate`` picks quantile indices by truncation (efficient-kan) instead of rounding."""
    n, g, k = x.shape[0], grid_size, spline_order
    x_sorted = torch.sort(x, dim=0).values  # (N, in)
    idx = torch.linspace(0, n - 1, g + 1, device=x.device)
    idx = idx.long() if truncate else idx.round().long()
    step = (x_sorted[-1] - x_sorted[0] + 2 * margin) / g  # (in,)
    ramp = torch.arange(g + 1, device=x.device, dtype=torch.float32).unsqueeze(1)
    uniform_knots = ramp * step + x_sorted[0] - margin  # (G+1, in)
    grid = grid_eps * uniform_knots + (1 - grid_eps) * x_sorted[idx]  # (G+1, in)
    ext = torch.arange(1, k + 1, device=x.device, dtype=torch.float32).unsqueeze(1) * step  # (k, in)
    return torch.cat([grid[:1] - ext.flip(0), grid, grid[-1:] + ext], dim=0).T.contiguous()


class KANLinear(nn.Module):
    """A KAN layer: every edge ``i -> o`` carries ``phi(x) = w_b * act(x) + s * sum_c w_c B_c(x)``.

    Computes ``y = act(x) @ base_weight.T + B(x).flatten(-2) @ (spline_weight * spline_scaler).flatten(1).T``
    (+ bias), where ``B(x)`` are the order-``spline_order`` B-spline bases on ``grid``. Parameter and buffer
    names and shapes follow efficient-kan, so its state dicts load as they are:

    - ``base_weight`` (out, in)
    - ``spline_weight`` (out, in, grid_size + spline_order)
    - ``spline_scaler`` (out, in), only when ``enable_standalone_scale_spline``
    - buffer ``grid`` (in, grid_size + 2 * spline_order + 1), kept in float32

    Options come as a ``KANSpec``, as keywords (efficient-kan's constructor arguments:
    ``KANLinear(64, 10, grid_size=8, base_activation=torch.nn.SiLU)``), or both (keywords replace the
    spec's fields). Input (..., in) -> output (..., out), like ``nn.Linear``. On CUDA the fused Triton
    kernels (``vkan.ops``) run the whole layer: ``kernel_path`` "fused" evaluates ``B(x)`` inside the matmul
    kernels, "gemm" writes it to memory for cuBLAS's matmuls, "gemm-keep" also keeps it for the backward (more
    memory, one kernel fewer), "auto" (the default) is "fused" in eager mode and picks between "fused" and "gemm" by
    the layer's shape under torch.compile, "auto-keep" is "fused" in eager mode too and, under torch.compile,
    "gemm-keep" for 16-bit layers with 80 or more outputs, else "fused" (the training app's choice under CUDA graphs);
    elsewhere (or with ``fused=False``) the PyTorch path keeps only the inputs for backward (``vkan.bspline``).
    """

    def __init__(self, in_features: int, out_features: int, spec: Optional[KANSpec] = None, *, device=None,
                 dtype=None, **options: Any) -> None:
        super().__init__()
        spec = KANSpec.of(spec, **options)
        factory = {"device": device, "dtype": dtype}
        self.spec = spec
        self.in_features = in_features
        self.out_features = out_features
        self.base_activation = resolve_activation(spec.base_activation)()
        self.fused: Optional[bool] = None  # None: fused kernel whenever it applies; False: reference path
        self.kernel_path = "auto"  # which kernels run it on CUDA: vkan.ops.kan_op.PATHS (gemm_path)

        grid = uniform_grid(in_features, spec.grid_size, spec.spline_order, spec.grid_range, device)
        self.register_buffer("grid", grid)
        self.grid_uniform = True  # equally spaced knots in every row: closed-form / local bases apply
        self.base_weight = nn.Parameter(torch.empty(out_features, in_features, **factory))
        self.spline_weight = nn.Parameter(torch.empty(out_features, in_features, spec.n_coef, **factory))
        if spec.enable_standalone_scale_spline:
            self.spline_scaler = nn.Parameter(torch.empty(out_features, in_features, **factory))
        else:
            self.register_parameter("spline_scaler", None)
        if spec.bias:
            self.bias = nn.Parameter(torch.empty(out_features, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    # efficient-kan's attribute names, read from the spec
    grid_size = property(lambda self: self.spec.grid_size)
    spline_order = property(lambda self: self.spec.spline_order)
    grid_range = property(lambda self: self.spec.grid_range)
    scale_noise = property(lambda self: self.spec.scale_noise)
    scale_base = property(lambda self: self.spec.scale_base)
    scale_spline = property(lambda self: self.spec.scale_spline)
    enable_standalone_scale_spline = property(lambda self: self.spec.enable_standalone_scale_spline)
    grid_eps = property(lambda self: self.spec.grid_eps)
    n_coef = property(lambda self: self.spec.n_coef)  # spline coefficients per edge: grid_size + spline_order

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """efficient-kan's initialisation, without its per-layer least-squares solve.

        The spline weights are the minimum-norm spline through small uniform noise sampled at the
        ``grid_size + 1`` interior knots. That fit is linear in the noise, so one pseudo-inverse per input
        (a (G+1, G+k) matrix) replaces a least-squares problem with ``out`` right-hand sides.
        """
        if self.base_weight.is_meta:
            return
        constant = self.spec.base_init == "constant"
        if constant:
            nn.init.constant_(self.base_weight, self.scale_base)
        else:
            nn.init.kaiming_uniform_(self.base_weight, a=math.sqrt(5) * self.scale_base)
        k, n_knots = self.spline_order, self.grid_size + 1
        grid = self.grid.to(torch.float64)
        knots = grid[:, k: k + n_knots]  # (in, G+1) interior knots
        basis = b_spline_bases(knots.T, grid, k).permute(1, 0, 2)  # (in, G+1, C)
        pinv = torch.linalg.pinv(basis).to(torch.float32)  # (in, C, G+1)
        noise = (torch.rand(n_knots, self.in_features, self.out_features, device=grid.device) - 0.5)
        noise *= self.scale_noise / self.grid_size  # (G+1, in, out)
        coef = torch.bmm(pinv, noise.transpose(0, 1))  # (in, C, out)
        scale = 1.0 if self.enable_standalone_scale_spline else self.scale_spline
        self.spline_weight.copy_((scale * coef).permute(2, 0, 1))
        if self.spline_scaler is not None:
            if constant:
                nn.init.constant_(self.spline_scaler, self.scale_spline)
            else:
                nn.init.kaiming_uniform_(self.spline_scaler, a=math.sqrt(5) * self.scale_spline)
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features)
            nn.init.uniform_(self.bias, -bound, bound)

    @property
    def scaled_spline_weight(self) -> torch.Tensor:
        """Effective spline coefficients ``spline_weight * spline_scaler``: (out, in, C)."""
        if self.spline_scaler is None:
            return self.spline_weight
        return self.spline_weight * self.spline_scaler.unsqueeze(-1)

    def b_splines(self, x: torch.Tensor) -> torch.Tensor:
        """Bases of (N, in) inputs on this layer's grid: (N, in, grid_size + spline_order), float32+."""
        if x.dtype not in (torch.float32, torch.float64):
            x = x.float()
        return b_spline_bases(x, self.grid, self.spline_order)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., in) -> (..., out)."""
        if x.shape[-1] != self.in_features:
            raise ValueError(f"KANLinear expects (..., {self.in_features}) inputs, got {tuple(x.shape)}")
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)  # (N, in)
        out = self._fused_layer(x2) if self.fused is not False else None
        if out is None:
            base = F.linear(self.base_activation(x2), self.base_weight)  # (N, out)
            out = base + self._spline_output(x2)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*lead, self.out_features)

    def _fused_layer(self, x2: torch.Tensor) -> Optional[torch.Tensor]:
        """Spline and base branches in one fused call (N, in) -> (N, out), or None where it does not apply."""
        if not fused_supported(self, x2):
            return None
        act = kernel_activation(self.base_activation)
        if act is None or self.base_weight.dtype != self.spline_weight.dtype:
            return None
        return fused_kan_linear(x2, self.grid, self.spline_weight, self.spline_scaler, self.base_weight,
                                self.spline_order, self.grid_uniform, act, self.kernel_path)

    def _spline_output(self, x2: torch.Tensor) -> torch.Tensor:
        """Spline part ``B(x) @ W_s``: (N, in) -> (N, out), fused on CUDA when possible."""
        if self.fused is not False:
            if fused_supported(self, x2):
                return fused_spline_linear(x2, self.grid, self.scaled_spline_weight, self.spline_order,
                                           uniform=self.grid_uniform, path=self.kernel_path)
        return self.spline_reference(x2)

    def spline_reference(self, x2: torch.Tensor) -> torch.Tensor:
        """Spline part on the PyTorch path (bases rebuilt in backward, not kept): (N, in) -> (N, out)."""
        weight = self.scaled_spline_weight.reshape(self.out_features, -1)  # (out, in * C)
        return spline_linear(x2, self.grid, weight, self.spline_order, uniform=self.grid_uniform)

    def curve2coeff(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Least-squares spline coefficients through points: x (N, in), y (N, in, out) -> (out, in, C).

        efficient-kan's method, solved through the per-input (C, C) normal equations."""
        bases = self.b_splines(x)  # (N, in, C)
        coef = least_squares_per_input(bases, y.double().transpose(0, 1))  # (in, C, out)
        return coef.permute(2, 0, 1).to(self.spline_weight.dtype).contiguous()

    @torch.no_grad()
    def update_grid(self, x: torch.Tensor, margin: float = 0.01, exact_efficient_kan: bool = False) -> None:
        """Re-fit the grid to the inputs ``x`` (..., in) while keeping the function computed on them.

        The new knots mix the data's quantiles (weight ``1 - grid_eps``) with a uniform grid over the
        data range widened by ``margin`` (weight ``grid_eps``). The spline coefficients are then the
        least-squares fit, per edge, of the old spline outputs on ``x`` (solved through the per-input
        (C, C) normal equations, so nothing of size (N, in, out) is ever built). The fitted coefficients
        are stored back divided by ``spline_scaler``, so ``scaled_spline_weight`` is what was fitted.

        ``exact_efficient_kan=True`` reproduces efficient-kan instead: quantile indices truncated rather
        than rounded, and the fitted (already scaled) coefficients stored in ``spline_weight`` as they are,
        so the scaler multiplies them a second time and the layer's function changes.
        """
        x = x.reshape(-1, self.in_features).to(torch.float32)  # (N, in)
        k, g = self.spline_order, self.grid_size
        if x.shape[0] < 2:
            raise ValueError("update_grid needs at least 2 samples")
        old_bases = b_spline_bases(x, self.grid.float(), k)  # (N, in, C)

        new_grid = data_grid(x, g, k, self.grid_eps, margin, truncate=exact_efficient_kan)  # (in, G+2k+1)
        new_bases = b_spline_bases(x, new_grid, k)  # (N, in, C)
        # the old bases' least-squares images in the new ones: each old coefficient vector maps through proj
        proj = least_squares_per_input(new_bases, old_bases.permute(1, 0, 2).double())  # (in, C, C)
        old_coef = self.scaled_spline_weight.double()  # (out, in, C)
        new_coef = torch.einsum("icd,oid->oic", proj, old_coef)  # (out, in, C)

        self.grid.copy_(new_grid)
        self.grid_uniform = False
        if self.spline_scaler is None or exact_efficient_kan:
            self.spline_weight.copy_(new_coef)
            return
        scaler = self.spline_scaler.double()
        tiny = scaler.abs() < 1e-12  # an edge whose scaler vanished keeps its function through scaler = 1
        scaler = torch.where(tiny, torch.ones_like(scaler), scaler)
        self.spline_scaler.copy_(scaler)
        self.spline_weight.copy_(new_coef / scaler.unsqueeze(-1))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self.grid_uniform = grid_is_uniform(self.grid)

    def regularization_loss(self, regularize_activation: float = 1.0, regularize_entropy: float = 1.0) -> torch.Tensor:
        """efficient-kan's L1 + entropy penalty on the mean |spline_weight| of each edge (a scalar)."""
        l1 = self.spline_weight.abs().mean(-1)  # (out, in)
        total = l1.sum()
        p = l1 / total
        entropy = -torch.special.xlogy(p, p).sum()
        return regularize_activation * total + regularize_entropy * entropy

    def extra_repr(self) -> str:
        act = activation_name(self.base_activation) or type(self.base_activation).__name__
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, grid_size={self.grid_size}, "
            f"spline_order={self.spline_order}, grid_range={self.grid_range}, base_activation={act}, "
            f"standalone_scale_spline={self.enable_standalone_scale_spline}, bias={self.bias is not None}"
        )

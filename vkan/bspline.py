"""B-spline bases, and the spline matmul ``B(x) @ W^T`` of the PyTorch path without keeping ``B(x)`` for backward.

This is the path every KANLinear takes where the fused Triton kernels do not run (the CPU, spline orders
other than 1-3, ``layer.fused = False``). Its autograd function saves only the (N, in) inputs and the
weight; the (N, in, C) bases are rebuilt in the backward pass. On a uniform grid (every layer until
``update_grid``) only the ``k + 1`` bases that are non-zero at each input are computed, by the cardinal
B-spline recursion on (N, in) tensors, and scattered into place; after a grid update the bases come from
Cox-de Boor on the layer's own knots.
"""
from __future__ import annotations

import functools
from typing import Tuple

import torch
import torch.nn.functional as F


def b_spline_bases(x: torch.Tensor, grid: torch.Tensor, spline_order: int) -> torch.Tensor:
    """Cox-de Boor B-spline bases of each input on its own knots.

    x: (N, in); grid: (in, G + 2k + 1) strictly increasing per row -> (N, in, G + k).
    Bases are zero outside ``[grid[:, 0], grid[:, -1])`` (half-open, like the order-0 indicators).
    """
    grid = grid.to(x.dtype)
    x = x.unsqueeze(-1)  # (N, in, 1)
    bases = ((x >= grid[:, :-1]) & (x < grid[:, 1:])).to(x.dtype)  # (N, in, G + 2k)
    for k in range(1, spline_order + 1):
        left = (x - grid[:, : -(k + 1)]) / (grid[:, k:-1] - grid[:, : -(k + 1)])
        right = (grid[:, k + 1:] - x) / (grid[:, k + 1:] - grid[:, 1:-k])
        bases = left * bases[..., :-1] + right * bases[..., 1:]  # (N, in, G + 2k - k)
    return bases


def b_spline_derivatives(x: torch.Tensor, grid: torch.Tensor, spline_order: int) -> torch.Tensor:
    """d/dx of ``b_spline_bases`` on any increasing knots: (N, in) -> (N, in, G + k); 0 for order 0."""
    k = spline_order
    if k == 0:
        return torch.zeros(*x.shape, grid.shape[1] - 1, dtype=x.dtype, device=x.device)
    lower = b_spline_bases(x, grid, k - 1)  # (N, in, C + 1)
    grid = grid.to(x.dtype)
    left = k / (grid[:, k:-1] - grid[:, : -(k + 1)])  # (in, C): k / (t_{c+k} - t_c)
    right = k / (grid[:, k + 1:] - grid[:, 1:-k])  # (in, C): k / (t_{c+k+1} - t_{c+1})
    return lower[..., :-1] * left - lower[..., 1:] * right


@functools.lru_cache(maxsize=None)
def cardinal_pieces(k: int, device: torch.device = torch.device("cpu"), dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """(k + 1, k + 1) float64 matrix P: the k + 1 non-zero cardinal B-splines of order k at an input t in [0, 1)
    of its knot span are ``[1, t, ..., t^k] @ P`` (column r: the basis of the (k - r)-th knot span to the left).

    Found by sampling the cardinal recursion N_d(v) = (v N_{d-1}(v) + (d + 1 - v) N_{d-1}(v - 1)) / d at k + 1
    points and solving the Vandermonde system (exact up to rounding for these small orders)."""
    if device.type != "cpu" or dtype != torch.float64:  # cached per device: no host-to-device copy per call
        return cardinal_pieces(k).to(device, dtype)
    t = (torch.arange(k + 1, dtype=torch.float64) + 0.5) / (k + 1)  # sample points inside the span
    vals = [torch.ones_like(t)]
    for d in range(1, k + 1):
        lower, vals = vals, []
        for r in range(d + 1):  # vals[r] = N_d(t + d - r)
            v = (t + (d - r)) * lower[r - 1] if r > 0 else torch.zeros_like(t)
            if r < d:
                v = v + (r + 1 - t) * lower[r]
            vals.append(v / d)
    powers = t.unsqueeze(-1) ** torch.arange(k + 1, dtype=torch.float64)  # (k+1 points, k+1 powers)
    return torch.linalg.solve(powers, torch.stack(vals, -1))


def local_uniform_bases(x: torch.Tensor, grid: torch.Tensor, k: int, with_slopes: bool = True) -> Tuple[torch.Tensor, ...]:
    """The ``k + 1`` non-zero bases at each input on a uniform grid, and where they go.

    Returns ``(values, slopes, columns)``, each (N, in, k + 1): the bases, their derivatives in x (None
    without ``with_slopes``), and their coefficient index c in [0, G + k); entries whose column falls outside
    that range (inputs near or beyond the grid's ends) are zero and point at a valid column. Knots are
    ``grid[i, 0] + c * h_i``.
    """
    n_coef = grid.shape[1] - k - 1
    t0 = grid[:, 0].to(x.dtype)
    inv_h = 1.0 / (grid[:, 1] - grid[:, 0]).to(x.dtype)  # (in,)
    u = (x - t0) * inv_h  # (N, in): position in knot spans
    span = torch.floor(u)
    t = (u - span).unsqueeze(-1)  # (N, in, 1) in [0, 1)
    pieces = cardinal_pieces(k, x.device, x.dtype)  # (k+1 powers, k+1 bases)
    columns = span.long().unsqueeze(-1) - k + torch.arange(k + 1, device=x.device)  # (N, in, k+1)
    inside = ((columns >= 0) & (columns < n_coef)).to(x.dtype)
    values = horner(pieces, t) * inside  # (N, in, k+1)
    if not with_slopes:
        slopes = None
    elif k == 0:
        slopes = torch.zeros_like(values)
    else:  # the polynomials' derivatives in t, times dt/dx = 1/h
        powers = torch.arange(1, k + 1, device=x.device, dtype=x.dtype).unsqueeze(-1)  # (k, 1)
        slopes = horner(pieces[1:] * powers, t) * (inside * inv_h.unsqueeze(-1))
    return values, slopes, columns.clamp(0, n_coef - 1)


def horner(coef: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Polynomials ``sum_e coef[e] t^e`` (coef: (E, B) for B polynomials) at t (..., 1): (..., B)."""
    out = coef[-1].expand(*t.shape[:-1], coef.shape[1])
    for c in coef.flip(0)[1:]:
        out = torch.addcmul(c, out, t)  # out * t + c
    return out


def _dense(values: torch.Tensor, columns: torch.Tensor, n_coef: int) -> torch.Tensor:
    """Scatter (N, in, k+1) local bases into (N, in, C); colliding (zeroed) entries add nothing."""
    out = torch.zeros(*values.shape[:-1], n_coef, dtype=values.dtype, device=values.device)
    return out.scatter_add_(-1, columns, values)


def spline_bases(x: torch.Tensor, grid: torch.Tensor, k: int, uniform: bool) -> torch.Tensor:
    """(N, in) -> (N, in, C) bases: the local construction on a uniform grid, Cox-de Boor otherwise."""
    if not uniform:
        return b_spline_bases(x, grid, k)
    values, _, columns = local_uniform_bases(x, grid, k, with_slopes=False)
    return _dense(values, columns, grid.shape[1] - k - 1)


def _compute_dtype(x: torch.Tensor, weight: torch.Tensor) -> torch.dtype:
    if torch.is_autocast_enabled(x.device.type):
        return torch.get_autocast_dtype(x.device.type)
    return weight.dtype


class _LeanSplineLinear(torch.autograd.Function):
    """``B(x) @ W^T`` saving (x, W) only: x (N, in), W (out, in * C) -> (N, out)."""

    @staticmethod
    def forward(ctx, x, grid, weight, k: int, uniform: bool):
        dtype = _compute_dtype(x, weight)
        xf = x.float() if x.dtype not in (torch.float32, torch.float64) else x
        bases = spline_bases(xf, grid, k, uniform)  # (N, in, C)
        with torch.autocast(x.device.type, enabled=False):
            y = F.linear(bases.reshape(x.shape[0], -1).to(dtype), weight.to(dtype))
        ctx.save_for_backward(x, grid, weight)
        ctx.args = (k, uniform, dtype)
        return y

    @staticmethod
    def backward(ctx, gy):
        x, grid, weight = ctx.saved_tensors
        k, uniform, dtype = ctx.args
        xf = x.float() if x.dtype not in (torch.float32, torch.float64) else x
        n, n_in = x.shape
        n_coef = grid.shape[1] - k - 1
        gy = gy.to(dtype)
        w = weight.to(dtype)
        grad_x = grad_w = None
        with torch.autocast(x.device.type, enabled=False):
            if uniform:
                values, slopes, columns = local_uniform_bases(xf, grid, k, with_slopes=ctx.needs_input_grad[0])
            if ctx.needs_input_grad[2]:
                bases = _dense(values, columns, n_coef) if uniform else b_spline_bases(xf, grid, k)
                grad_w = (gy.t() @ bases.reshape(n, -1).to(dtype)).to(weight.dtype)  # (out, in * C)
            if ctx.needs_input_grad[0]:
                g = (gy @ w).reshape(n, n_in, n_coef).to(xf.dtype)  # dL/dB: (N, in, C)
                if uniform:
                    grad_x = (g.gather(-1, columns) * slopes).sum(-1)
                else:
                    grad_x = (g * b_spline_derivatives(xf, grid, k)).sum(-1)
                grad_x = grad_x.to(x.dtype)
        return grad_x, None, grad_w, None, None


def spline_linear(x: torch.Tensor, grid: torch.Tensor, weight: torch.Tensor, spline_order: int,
                  uniform: bool = False) -> torch.Tensor:
    """Spline part of a KAN layer, ``B(x) @ weight^T``, keeping only x and weight for backward.

    x (N, in); grid (in, G + 2k + 1); weight (out, in * (G + k)), the flattened scaled spline weight.
    ``uniform=True`` promises equally spaced knots in every row (the cheaper local bases); ``False`` is
    right for any grid. Under autocast the matmuls run in the autocast dtype, like ``F.linear``.
    """
    return _LeanSplineLinear.apply(x, grid, weight, spline_order, uniform)


def saved_tensor_bytes(fn, *args) -> Tuple[object, int]:
    """(``fn(*args)``, bytes of the distinct tensors autograd saved for its backward)."""
    seen = {}

    def pack(t: torch.Tensor):
        if t.device.type != "meta":
            seen[(t.untyped_storage().data_ptr(), t.dtype)] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn(*args)
    return out, sum(seen.values())


__all__ = ["b_spline_bases", "b_spline_derivatives", "local_uniform_bases", "saved_tensor_bytes", "spline_bases",
           "spline_linear"]

"""The fused kernels compile for Hopper GPUs, and the compile path traces them: catches what Triton's CPU
interpreter lets through (type rules of the compiler, shared-memory layouts, the triton_op trace) on
machines without a GPU."""
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _hopper_compiler_available() -> bool:
    try:
        import triton.backends.nvidia  # noqa: F401
        from triton.backends.compiler import GPUTarget  # noqa: F401
    except Exception:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _hopper_compiler_available(), reason="Triton's CUDA backend is not installed")
def test_every_kernel_variant_compiles_for_sm90():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    script = Path(__file__).with_name("compile_kernels_sm90.py")
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, str(script)], env=env, cwd=root, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "compiled" in run.stdout


_TRACE_SCRIPT = r"""
import torch
from torch._subclasses import FakeTensorMode
from vkan.ops import kan_op
assert kan_op._TRACEABLE, "outside the interpreter the layer must be a triton_op"
with FakeTensorMode():
    x, grid = torch.empty(40, 16), torch.empty(16, 12)
    sw, sc, bw = torch.empty(24, 16, 8), torch.empty(24, 16), torch.empty(24, 16)
    none = torch.empty(0, dtype=torch.bfloat16)  # the forward's second output where A is not kept
    y, a, wt = torch.ops.vkan.kan_linear(x, grid, sw, sc, bw, 3, True, 1, torch.bfloat16, "auto")
    assert (y.shape, y.dtype, a.shape) == ((40, 24), torch.bfloat16, (0,)), (y.shape, y.dtype, a.shape)
    assert (wt.shape, wt.dtype) == ((24, 144), torch.bfloat16), (wt.shape, wt.dtype)  # packed W^T (O, 16 * 8 + 16)
    gy = torch.empty(40, 24, dtype=torch.bfloat16)
    grads = torch.ops.vkan.kan_linear_backward(gy, x, grid, sw, sc, bw, 3, True, 1, torch.bfloat16, "auto", none, wt)
    assert [tuple(g.shape) for g in grads] == [(40, 16), (24, 16, 8), (24, 16), (24, 16)], grads
    _, _, wt_spline = torch.ops.vkan.kan_linear(x, grid, sw, None, None, 3, True, 1, torch.bfloat16, "auto")
    assert wt_spline.shape == (24, 128), wt_spline.shape  # no base rows
    grads = torch.ops.vkan.kan_linear_backward(gy, x, grid, sw, None, None, 3, True, 1, torch.bfloat16, "auto", none,
                                               wt_spline)
    assert [tuple(g.shape) for g in grads] == [(40, 16), (24, 16, 8), (0,), (0,)], grads
    for path in ("gemm", "gemm-keep"):  # the cuBLAS path; "gemm-keep" returns A (40, 16 * 8 + 16)
        y, a, wt = torch.ops.vkan.kan_linear(x, grid, sw, sc, bw, 3, True, 1, torch.bfloat16, path)
        assert (y.shape, y.dtype) == ((40, 24), torch.bfloat16), (y.shape, y.dtype)
        assert a.shape == ((40, 144) if path == "gemm-keep" else (0,)), a.shape
        grads = torch.ops.vkan.kan_linear_backward(gy, x, grid, sw, sc, bw, 3, True, 1, torch.bfloat16, path, a, wt)
        assert [tuple(g.shape) for g in grads] == [(40, 16), (24, 16, 8), (24, 16), (24, 16)], grads
    for n_out in (80, 128):  # the GEMM path of "auto-keep" (from 80 outputs, keeping A) and of "auto" (from 128)
        sw, sc, bw = torch.empty(n_out, 16, 8), torch.empty(n_out, 16), torch.empty(n_out, 16)
        for path, kept in (("auto-keep", kan_op._MM_OUT_DTYPE), ("auto", False)):
            y, a, _ = torch.ops.vkan.kan_linear(x, grid, sw, sc, bw, 3, True, 1, torch.bfloat16, path)
            assert a.shape == ((40, 144) if kept else (0,)), (n_out, path, a.shape)

# a dynamic batch dimension (torch.compile's automatic dynamic shapes) reaches the launchers as a SymInt
graphs = []
def capture(gm, example_inputs):
    graphs.append(gm)
    return gm.forward
for path in ("fused", "gemm", "gemm-keep", "auto-keep"):
    def f(x, grid, sw, sc, bw, path=path):
        return torch.ops.vkan.kan_linear(x, grid, sw, sc, bw, 3, True, 1, torch.bfloat16, path)[0]
    x = torch.randn(40, 16)
    torch._dynamo.mark_dynamic(x, 0)
    graphs.clear()
    try:
        torch.compile(f, backend=capture, fullgraph=True)(x, torch.randn(16, 12), torch.randn(24, 16, 8),
                                                          torch.randn(24, 16), torch.randn(24, 16))
    except Exception:
        pass  # the captured graph then runs the kernels, which needs a GPU
    assert graphs and "SymInt" in graphs[0].code, f"no graph with a symbolic batch size on the {path} path"
    torch._dynamo.reset()
print("traced")
"""


@pytest.mark.skipif(not _hopper_compiler_available(), reason="Triton's CUDA backend is not installed")
def test_compile_path_triton_op_traces_its_kernels_into_fake_outputs():
    """Outside the interpreter ``vkan::kan_linear`` is a triton_op whose fake kernels come from tracing its
    launches through ``wrap_triton``: tracing must give the outputs' shapes and dtypes without a GPU, also
    with a symbolic batch size."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "-c", _TRACE_SCRIPT], env=env, cwd=root, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "traced" in run.stdout

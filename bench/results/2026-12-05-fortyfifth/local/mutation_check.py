"""Offline (no GPU): the tensors that inductor's analysis of a user Triton kernel (``get_mutated_tensors``, on the
kernel's TTIR for sm_90; a stand-in driver supplies the target) finds written, for the shipped dX-from-dA and unpack
kernels and colaunch.py's three kernels. Where the analysis fails it reports every tensor, and inductor then copies the
inputs it takes for mutated. Run: env -u TRITON_INTERPRET
PYTHONPATH=.:bench/results/2026-12-04-fortyfourth/local:bench/results/2026-12-05-fortyfifth/local python <this>"""
import torch
import triton
from triton.backends.compiler import GPUTarget


class TargetOnly:
    """The driver calls the analysis makes, without a GPU: an H100/H200's target."""

    def get_current_target(self):
        return GPUTarget("cuda", 90, 32)

    def get_active_torch_device(self):
        return torch.device("cpu")


triton.runtime.driver.set_active(TargetOnly())
from torch._higher_order_ops.triton_kernel_wrap import get_mutated_tensors, kernel_side_table  # noqa: E402

import colaunch as c  # noqa: E402
from vkan.ops import triton_kan as tk  # noqa: E402


def mutated(kernel, tensors, scalars):
    return get_mutated_tensors(kernel_side_table.add_kernel(kernel), kernel_side_table.add_constant_args(scalars),
                               dict(tensors), {})


def f32(*shape):
    return torch.empty(*shape)


def bf16(*shape):
    return torch.empty(*shape, dtype=torch.bfloat16)


m, n_in, n_out, kt = 256, 48, 80, 48 * 9
GRADS = dict(part_ptr=f32(8, kt, n_out), sw_ptr=f32(n_out, n_in, 8), sc_ptr=f32(n_out, n_in),
             dsw_ptr=f32(n_out, n_in, 8), dsc_ptr=f32(n_out, n_in), db_ptr=f32(n_out, n_in))
ROW = dict(Q=12, CP=8, K=3, UNIFORM=True, ACT=1, HAS_BASE=True, PACKED=True)
UNPACK = dict(C=8, S=8, stride_ps=kt * n_out, HAS_SCALER=True, UO=16, UI=2)
DX_BASES = dict(da_ptr=bf16(m, kt), x_ptr=f32(m, n_in), grid_ptr=f32(n_in, 12), dx_ptr=f32(m, n_in))
print("shipped dX from dA:", mutated(tk.kan_dx_bases_kernel, DX_BASES, dict(
    M=m, I=n_in, stride_dam=kt, stride_xm=n_in, stride_dm=n_in, BM=32, BI=16, **ROW)))
print("shipped unpack:", mutated(tk.kan_unpack_kernel, GRADS, dict(
    I=n_in, O=n_out, C=8, S=8, stride_ps=kt * n_out, CP=8, HAS_SCALER=True, HAS_BASE=True, BO=16, BI=2)))
print("dX from dA with the unpack:", mutated(c.kan_dx_bases_unpack_kernel, dict(DX_BASES, **GRADS), dict(
    M=m, I=n_in, O=n_out, stride_dam=kt, stride_xm=n_in, stride_dm=n_in, NU=40, BM=32, BI=16, SP=0, **UNPACK, **ROW)))
print("bases with the pack:", mutated(c.kan_bases_pack_kernel, dict(
    x_ptr=f32(m, n_in), grid_ptr=f32(n_in, 12), a_ptr=bf16(m, kt), sw_ptr=f32(n_out, n_in, 8),
    sc_ptr=f32(n_out, n_in), bw_ptr=f32(n_out, n_in), wt_ptr=bf16(n_out, kt)), dict(
    M=m, I=n_in, O=n_out, C=8, KT=kt, stride_xm=n_in, stride_am=kt, NP=30, HAS_SCALER=True, BM=64, BI=32, PO=8, PI=16,
    **ROW)))
for at in (1, 2):
    for sp in (0, 8):
        print(f"held columns with the unpack, AT {at}, SP {sp}:", mutated(c.kan_dx_rows_unpack_kernel, dict(
            gy_ptr=bf16(m, n_out), x_ptr=f32(m, n_in), grid_ptr=f32(n_in, 12), wt_ptr=bf16(n_out, kt),
            dx_ptr=f32(m, n_in), **GRADS), dict(
            M=m, I=n_in, O=n_out, stride_gm=n_out, stride_xm=n_in, stride_wo=kt, stride_dm=n_in, NU=40,
            NUR=1 if at == 1 else 0, BM=64, BI=16, K1=64, K2=16, PRECISION="tf32", MODE=4, SP=sp, AT=at, **UNPACK,
            **ROW)))

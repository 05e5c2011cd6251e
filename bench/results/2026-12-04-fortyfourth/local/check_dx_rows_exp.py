"""CPU check of dx_rows_exp's modes (fp32 derivatives; the packed ones are PTX, which the interpreter cannot run)
against the shipped held-columns input grad, under Triton's interpreter, fp32 layers: partial row blocks, one and two
output pieces, spline-only, inputs beyond the grid, and through kan_op's launcher as the model A/B swaps them in.
Outside the interpreter it checks instead that inductor's copy of the experiment kernel's source parses. Run:
[env -u TRITON_INTERPRET | TRITON_INTERPRET=1] PYTHONPATH=.:bench/results/2026-12-04-fortyfourth/local python <this>"""
import ast
import os
from unittest import mock

import torch
from torch._inductor.codegen.wrapper import user_defined_triton_kernel_transitive_closure_source_code

import dx_rows_exp as e
from vkan import KANLinear
from vkan.ops import kan_op


def interpreted():
    torch.manual_seed(0)
    for n_in, n_out, has_base in ((32, 16, True), (32, 24, True), (16, 40, False), (48, 80, True)):
        layer = KANLinear(n_in, n_out)  # spline-only: W^T packed without the base weight
        with torch.no_grad():
            layer.spline_weight.normal_()
        cp = kan_op.padded_coefs(layer.spline_weight.shape[-1])
        _, wt, _ = kan_op._pack(layer.spline_weight, layer.spline_scaler, layer.base_weight if has_base else None,
                                torch.float32, with_w=False)
        m = 200
        x = torch.randn(m, n_in) * 1.7  # some beyond the grid's [-1, 1] and its padding
        gy = torch.randn(m, n_out)
        want = kan_op._launch_dx_rows(gy, x, layer.grid, wt, cp, 3, True, 1, has_base)
        launch = kan_op._dx_rows_geometry(m, n_in, n_out, wt.shape[1], layer.grid.shape[1], cp, 3, True, 1, has_base,
                                          torch.float32, "ieee")
        args = kan_op._DX_ROWS.arguments(launch)
        for mode in range(5):  # mode 4 is mode 3 in fp32
            got = torch.empty_like(x)
            e.kan_dx_rows_exp_kernel[launch.grid](gy, x, layer.grid, wt, got, *args.values(), MODE=mode, num_warps=4)
            err = ((got - want).norm() / want.norm()).item()
            print(f"{n_in}->{n_out} base {has_base} mode {mode}: relative norm {err:.1e}")
            assert err < 1e-5
        for mode in range(1, 5):  # through kan_op's launcher, as exp_dx_rows_model.py swaps a mode in
            with mock.patch.multiple(kan_op, **e.swap_in(mode)):
                got = kan_op._launch_dx_rows(gy, x, layer.grid, wt, cp, 3, True, 1, has_base)
            assert ((got - want).norm() / want.norm()).item() < 1e-5, mode


def inductor_copies():
    ast.parse(user_defined_triton_kernel_transitive_closure_source_code(e.kan_dx_rows_exp_kernel))
    print("inductor's copy of the kernel parses")


if __name__ == "__main__":
    interpreted() if os.environ.get("TRITON_INTERPRET") == "1" else inductor_copies()

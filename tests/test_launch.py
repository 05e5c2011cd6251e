"""Kernel launches by name (vkan.ops.launch): arguments bound by the kernel's parameter names, checked once."""
import pytest
import torch

from vkan.ops import launch


class FakeKernel:
    """Stands in for a @triton.jit kernel: ``kernel[grid](*args, **options)`` records a launch."""

    def __init__(self, arg_names=("x_ptr", "y_ptr", "M", "N", "K", "EVEN", "PRECISION")):
        self.log = []
        self.arg_names = list(arg_names)

    def __getitem__(self, grid):
        def run(*args, **options):
            self.log.append((grid, args, options))
        return run


def test_a_launch_passes_tensors_then_scalars_in_the_kernels_parameter_order():
    kernel = FakeKernel()
    run = launch.Launcher(kernel, ("x_ptr", "y_ptr"))
    x, y = torch.zeros(64), torch.zeros(8, dtype=torch.bfloat16)
    run(run.bind((3, 2), 8, 2, M=17, N=64, K=8, EVEN=True, PRECISION="tf32"), y_ptr=y, x_ptr=x)
    assert kernel.log == [((3, 2), (x, y, 17, 64, 8, True, "tf32"), {"num_warps": 8, "num_stages": 2})]


def test_arguments_are_bound_by_the_kernel_parameter_names():
    kernel = FakeKernel()
    run = launch.Launcher(kernel, ("x_ptr", "y_ptr"))
    bound = run.bind((1,), K=8, N=64, M=17, PRECISION="tf32", EVEN=False)  # any order of keywords
    assert bound.scalars == (17, 64, 8, False, "tf32")
    assert run.rebind(bound, grid=(4,), N=32).scalars == (17, 32, 8, False, "tf32")
    with pytest.raises(TypeError, match=r"missing arguments \['PRECISION'\], unknown arguments \['PRECISON'\]"):
        run.bind((1,), M=17, N=64, K=8, EVEN=False, PRECISON="tf32")
    with pytest.raises(ValueError, match="not the tensors"):
        launch.Launcher(kernel, ("y_ptr", "x_ptr"))
    with pytest.raises(KeyError):
        run(bound, x_ptr=torch.zeros(1))  # a tensor left out


def test_every_shipped_launch_binds_all_parameters_of_its_kernel():
    from vkan.ops import kan_op

    cp, kt, pack = kan_op._pack_geometry(77, 192, 8, True, True)
    bound = [pack, kan_op._fwd_geometry(4096, 192, 77, 12, cp, 3, True, 1, True, torch.bfloat16, "tf32"),
             kan_op._dx_geometry(4096, 192, 77, kt, 12, cp, 3, True, 1, True, None, torch.bfloat16, "tf32")[0],
             kan_op._dw_geometry(4096, 192, 77, kt, 12, cp, 3, True, 1, True, torch.bfloat16, "tf32")[0],
             kan_op._unpack_geometry(77, 192, 8, cp, 4, kt, True, True)]
    # the GEMM path's co-launch of the pack with the bases kernel, from the two kernels' own launches
    bases = kan_op._bases_geometry(4096, 192, kt, 12, cp, 3, True, 1, True, torch.bfloat16)
    bound.append(kan_op._bases_pack_geometry(bases, kan_op._pack_geometry(77, 192, 8, True, True, False)[2]))
    for launcher, b in zip((kan_op._PACK, kan_op._FWD, kan_op._DX, kan_op._DW, kan_op._UNPACK, kan_op._BASES_PACK),
                           bound, strict=True):
        n_scalars = len(launcher.kernel.arg_names) - len(launcher.tensor_names)
        assert len(b.scalars) == len(launcher.scalar_names) == n_scalars


@pytest.mark.parametrize("n_out,dtype,tiles", [
    (80, torch.bfloat16, (64, 4)), (160, torch.bfloat16, (128, 4)),  # one tile in two pieces: 64 + 16, 128 + 32
    (112, torch.bfloat16, (128, 4)), (304, torch.bfloat16, (256, 8)),  # other multiples of 16
    (77, torch.bfloat16, (64, 4)), (154, torch.bfloat16, (64, 4)), (307, torch.bfloat16, (64, 4)),  # matched widths
    (64, torch.bfloat16, (64, 4)), (768, torch.bfloat16, (256, 8)), (80, torch.float32, (64, 4)),
    (160, torch.float32, (64, 4))])
def test_weight_grad_tiles_widen_only_on_16_bit_widths_that_are_multiples_of_16(n_out, dtype, tiles, monkeypatch):
    """The GPU's weight-grad tiles (first output tile's columns, warps) by layer width, as measured on the H200
    (bench/RESULTS.md, twenty-third and fortieth sessions): where the width is a multiple of 16, one tile in two
    power-of-two pieces at 80, 96, 144 and 160 outputs, one 128-column tile at the other widths of 65..128 and 256
    columns above; the 64-column tiles elsewhere where 256 columns would pad by over 25%."""
    from vkan.ops import kan_op

    monkeypatch.setattr(kan_op, "_INTERPRET", False)
    kan_op._dw_geometry.cache_clear()
    try:
        cp, kt, _ = kan_op._pack_geometry(n_out, 192, 8, True, True)
        launch, _ = kan_op._dw_geometry(33280, 192, n_out, kt, 12, cp, 3, True, 1, True, dtype, "tf32")
    finally:
        kan_op._dw_geometry.cache_clear()
    assert (kan_op._DW.arguments(launch)["BN"], launch.num_warps) == tiles

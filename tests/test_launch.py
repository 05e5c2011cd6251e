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
    for launcher, b in zip((kan_op._PACK, kan_op._FWD, kan_op._DX, kan_op._DW, kan_op._UNPACK), bound):
        assert len(b.scalars) == len(launcher.scalar_names) == len(launcher.kernel.arg_names) - len(launcher.tensor_names)

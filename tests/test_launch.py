"""The direct Triton launch path (vkan.ops.launch): same compiled kernel, same arguments, only when safe."""
import pytest
import torch

from vkan.ops import launch


class FakeCompiled:
    """Stands in for Triton's CompiledKernel: records direct launches."""

    def __init__(self, log):
        self.function, self.packed_metadata = "function-handle", "metadata"
        self.run = lambda *a: log.append(("direct", a))


class FakeKernel:
    """Stands in for a @triton.jit kernel: ``kernel[grid](*args, **options)`` records a Triton launch."""

    def __init__(self, arg_names=("x_ptr", "y_ptr", "M", "N", "K", "EVEN", "PRECISION")):
        self.log = []
        self.arg_names = list(arg_names)

    def __getitem__(self, grid):
        def launch(*args, **options):
            self.log.append(("triton", grid, args, options))
            return FakeCompiled(self.log)
        return launch


@pytest.fixture
def direct(monkeypatch):
    monkeypatch.setattr(launch, "_direct", True)
    monkeypatch.setattr(launch, "hooks_active", lambda: False)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch._C, "_cuda_getCurrentRawStream", lambda device: 1234, raising=False)


def test_repeated_signature_skips_triton_with_identical_arguments(direct):
    kernel = FakeKernel()
    run = launch.Launcher(kernel, ("x_ptr", "y_ptr"))
    x, y = torch.zeros(64), torch.zeros(8, dtype=torch.bfloat16)
    scalars = (17, 64, 8, True, "tf32")
    named = dict(M=17, N=64, K=8, EVEN=True, PRECISION="tf32")
    run(run.bind((3, 2), 8, 2, **named), x_ptr=x, y_ptr=y)
    run(run.bind((5, 2), 8, 2, **named), y_ptr=y, x_ptr=x)  # tensors by name: their order does not matter
    assert kernel.log[0] == ("triton", (3, 2), (x, y, *scalars), {"num_warps": 8, "num_stages": 2})
    assert kernel.log[1] == ("direct", (5, 2, 1, 1234, "function-handle", "metadata", None, None, None, x, y,
                                        *scalars))
    assert run.direct_calls == 1


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


@pytest.mark.parametrize("change", ["misaligned", "dtype", "int", "constexpr", "warps"])
def test_any_change_Triton_specialises_on_goes_back_through_triton(direct, change):
    kernel = FakeKernel(("x_ptr", "M", "N", "EVEN"))
    run = launch.Launcher(kernel, ("x_ptr",))
    buf = torch.zeros(64)
    args, warps = [buf, 17, 64, True], 4

    def go():
        run(run.bind((1,), warps, M=args[1], N=args[2], EVEN=args[3]), x_ptr=args[0])

    go()
    if change == "misaligned":
        args[0] = buf[1:]  # 4 bytes past a 16-byte boundary: Triton compiles another variant
    elif change == "dtype":
        args[0] = buf.double()
    elif change == "int":
        args[1] = 16  # divisible by 16: another specialisation
    elif change == "constexpr":
        args[3] = False
    else:
        warps = 8
    go()
    assert [entry[0] for entry in kernel.log] == ["triton", "triton"]
    go()  # now cached too
    assert kernel.log[-1][0] == "direct"


def test_launch_hooks_and_opt_out_use_triton(monkeypatch, direct):
    kernel = FakeKernel(("x_ptr", "M"))
    run = launch.Launcher(kernel, ("x_ptr",))
    bound, x = run.bind((1,), M=3), torch.zeros(4)
    run(bound, x_ptr=x)
    monkeypatch.setattr(launch, "hooks_active", lambda: True)  # e.g. Triton's profiler installed a hook
    run(bound, x_ptr=x)
    monkeypatch.setattr(launch, "hooks_active", lambda: False)
    monkeypatch.setattr(launch, "_direct", False)  # VKAN_DIRECT_LAUNCH=0 or another Triton
    run(bound, x_ptr=x)
    assert [entry[0] for entry in kernel.log] == ["triton"] * 3


def test_convention_check_accepts_triton_launch_and_rejects_others():
    ours = ("bound_args, specialization, options = binder(*args, **kwargs)\n"
            "kernel.run(grid_0, grid_1, grid_2, stream, kernel.function, kernel.packed_metadata, launch_metadata,\n"
            "           knobs.runtime.launch_enter_hook, knobs.runtime.launch_exit_hook, *bound_args.values())")
    assert launch.triton_launch_matches(ours)
    other = ours.replace("kernel.packed_metadata, ", "")  # an older launcher without packed metadata
    assert not launch.triton_launch_matches(other)


def test_installed_triton_launches_the_way_the_direct_path_does():
    """Fails when a Triton upgrade changes its launch convention (the direct path would then be off)."""
    jit = pytest.importorskip("triton.runtime.jit")
    import inspect

    assert launch.triton_launch_matches(inspect.getsource(jit.JITFunction.run))

"""Feed-forward sublayers and the loss as CUDA graphs (vkan.ffn_graphs, trainer.graph_ffn): which sublayers, when a
graphed one replays and when it runs its own forward, and (on a GPU) that graphed training steps train as plain ones
do."""
import copy
import subprocess
import sys

import pytest
import timm
import torch
import torch.nn as nn

import vkan  # noqa: F401  (registers the models)
from vkan.engine import LossHead
from vkan.ffn_graphs import (CUBLAS_WITHOUT_CONTEXT, GraphedForward, _copied_parameter_grads, feed_forwards,
                             graph_feed_forwards, graph_loss_head, plain_feed_forwards, plain_forward, replays,
                             sublayer_inputs)
from vkan.ops.kan_op import paths_by_shape

CPU = torch.device("cpu")


def tiny(name="vit_kan_tiny_patch4_32", depth=2):
    torch.manual_seed(0)
    return timm.create_model(name, depth=depth, num_classes=10, img_size=16, in_chans=1)


class Recorder:
    """A stand-in for torch's graphed forward: counts its calls and answers twice its input."""

    def __init__(self):
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        return 2 * x


def test_feed_forwards_are_every_blocks_mlp_and_nothing_inside_them():
    model = tiny(depth=3)
    assert [name for name, _ in feed_forwards(model)] == ["blocks.0.mlp", "blocks.1.mlp", "blocks.2.mlp"]
    assert all(module is model.blocks[i].mlp for i, (_, module) in enumerate(feed_forwards(model)))
    assert feed_forwards(nn.Sequential(nn.Linear(2, 2))) == []


def test_sublayer_inputs_are_the_tokens_each_mlp_sees_and_the_probe_leaves_no_trace():
    model = tiny()
    sublayers = [m for _, m in feed_forwards(model)]
    drawn = torch.random.get_rng_state()
    inputs = sublayer_inputs(model, torch.zeros(3, 1, 16, 16), list(reversed(sublayers)), None)
    assert list(inputs) == sublayers  # in the order the model calls them
    assert list(inputs.values()) == [(torch.Size([3, 17, 192]), torch.float32)] * 2  # 16 patches and the class token
    assert model.training and all(not m._forward_pre_hooks for m in sublayers)
    assert torch.equal(torch.random.get_rng_state(), drawn)  # the probe's draws are undone
    with pytest.raises(ValueError, match=r"sublayer\(s\) \[0\] took no input"):
        sublayer_inputs(model, torch.zeros(3, 1, 16, 16), [nn.Linear(192, 192)], None)


def test_a_graphed_forward_replays_only_calls_like_the_captured_ones():
    mlp = tiny().blocks[0].mlp
    graphed = Recorder()
    forward = GraphedForward(mlp, graphed, [(torch.Size([2, 5, 192]), torch.float32)], CPU, torch.bfloat16)
    mlp.forward = forward
    x = torch.randn(2, 5, 192)
    plain = type(mlp).forward(mlp, x)

    def replayed(call):
        before = graphed.calls
        out = call()
        return graphed.calls > before, out

    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert replayed(lambda: mlp(x))[0]
        assert not replayed(lambda: mlp(x[:1]))[0]  # a short batch
        assert not replayed(lambda: mlp(x.half()))[0]  # another dtype
        with torch.no_grad():
            assert not replayed(lambda: mlp(x))[0]
        mlp.eval()
        assert not replayed(lambda: mlp(x))[0]
        mlp.train()
    with torch.autocast("cpu", dtype=torch.float16):
        assert not replayed(lambda: mlp(x))[0]
    was, out = replayed(lambda: mlp(x))  # no autocast
    assert not was and torch.equal(out, plain)


def test_a_second_forward_before_the_backward_runs_the_sublayer_itself_and_a_dropped_one_does_not_block():
    mlp = tiny().blocks[0].mlp
    graphed = Recorder()
    mlp.forward = GraphedForward(mlp, graphed, [(torch.Size([2, 5, 192]), torch.float32)], CPU, None)
    x = torch.randn(2, 5, 192, requires_grad=True)
    first, second = mlp(x), mlp(x)  # the second would overwrite what the first's backward reads
    assert graphed.calls == 1 and torch.equal(second, type(mlp).forward(mlp, x))
    (first.sum() + second.sum()).backward()
    mlp(x).sum().backward()  # the backward ran: replays again
    assert graphed.calls == 2
    dropped = mlp(x)
    del dropped  # its autograd graph is gone: nothing waits on the buffers
    mlp(x)
    assert graphed.calls == 4


def test_the_graphed_loss_replays_only_for_inputs_like_all_three_captured_ones(monkeypatch):
    """graph_loss_head captures the head on zero samples shaped like its inputs (the logits needing a gradient) and
    replays for training calls whose logits, targets and labels all match them; a plain forward returns its own."""
    head = LossHead(nn.CrossEntropyLoss(label_smoothing=0.1))
    captured, replayed = [], []

    def capture(module, samples):  # stands in for torch's capture: the forward it returns counts its calls
        captured.append(samples)
        own = module.forward
        module.forward = lambda *args: (replayed.append(len(args)), own(*args))[1]
        return module

    monkeypatch.setattr(torch.cuda, "make_graphed_callables", capture)
    logits, labels = torch.randn(4, 10, requires_grad=True), torch.tensor([0, 1, 2, 3])
    graph_loss_head(head, logits.detach(), labels, labels, None)
    (sample_logits, sample_targets, sample_labels), = captured
    assert sample_logits.requires_grad and not sample_targets.requires_grad and not sample_logits.any()
    assert head.training and isinstance(head.__dict__["forward"], GraphedForward)
    loss, correct = head(logits, labels, labels)
    assert replayed == [3] and loss.item() == pytest.approx(head.criterion(logits, labels).item())
    assert correct.item() == (logits.argmax(-1) == labels).sum().item()
    again, _ = head(logits, labels, labels)  # before the first one's backward: the head itself (the count, an output
    assert replayed == [3]  # without a gradient, does not hide the pending backward)
    (loss + again).backward()  # the replay's backward ran: the next like call replays
    for args in [(logits[:3], labels[:3], labels[:3]),  # a short batch
                 (logits, nn.functional.one_hot(labels, 10).float(), labels),  # soft targets: another shape
                 (logits, labels, labels.int())]:  # another dtype
        head(*args)
    assert replayed == [3]
    head(logits, labels, labels)[0].backward()
    assert replayed == [3, 3] and plain_forward(head) and not plain_forward(head)
    head(logits, labels, labels)
    assert replayed == [3, 3]


def test_a_replay_whose_first_output_has_no_gradient_still_holds_off_the_next_replay_until_its_backward():
    """The pending backward is found on whichever output carries the graphs' autograd node, not only the first."""
    module = nn.Identity()
    calls = []

    def graphed(x):  # as torch's graphed callable with a count first, then a differentiable output
        calls.append(1)
        return torch.tensor(3), 2 * x

    x = torch.randn(4, requires_grad=True)
    module.forward = GraphedForward(module, graphed, [(x.shape, x.dtype)], CPU, None, copy_grads=False)
    _, first = module(x)
    assert torch.equal(module(x), x) and len(calls) == 1  # before first's backward: the module itself
    first.sum().backward()
    module(x)
    assert len(calls) == 2


def test_copied_gradients_keep_every_inputs_own_and_copy_the_parameters_after_them():
    inputs, param = (torch.ones(2), torch.full((2,), 2.0)), torch.full((2,), 3.0)
    out = _copied_parameter_grads(2, (*inputs, param, None), ())
    assert out[0] is inputs[0] and out[1] is inputs[1] and out[3] is None
    assert out[2] is not param and torch.equal(out[2], param)


class StaticGrads(torch.autograd.Function):
    """As torch's graphed backward does: the parameters' gradients come back in static buffers (here ``k`` on the
    k-th backward), which the next forward replay may overwrite (the graphs share a memory pool)."""

    @staticmethod
    def forward(ctx, x, buffers, *params):
        ctx.buffers = buffers
        return 2 * x

    @staticmethod
    def backward(ctx, grad):
        ctx.buffers.calls += 1
        for b in ctx.buffers:
            b.fill_(float(ctx.buffers.calls))
        return (2 * grad, None, *(b.detach() for b in ctx.buffers))


class Buffers(list):
    calls = 0


@pytest.mark.parametrize("copy_grads", [True, False])
def test_gradients_accumulated_over_replays_are_right_only_when_copied_off_the_graphs_buffers(copy_grads):
    """Two forward + backward passes without zeroing (accumulation; zero_grad(set_to_none=False) alike): the
    parameters' gradients must be 1 + 2. Left in the static buffers (copy_grads=False, for steps that set gradients
    to None before each backward), the second pass's buffer write lands on .grad itself and is added again."""
    mlp = tiny().blocks[0].mlp
    params = tuple(mlp.parameters())
    buffers = Buffers(torch.zeros_like(p) for p in params)

    def replay(x):
        for b in buffers:
            b.fill_(float("nan"))  # a forward replay reusing the pool
        return StaticGrads.apply(x, buffers, *params)

    mlp.forward = GraphedForward(mlp, replay, [(torch.Size([2, 5, 192]), torch.float32)], CPU, None, copy_grads)
    for _ in range(2):
        mlp(torch.randn(2, 5, 192, requires_grad=True)).sum().backward()
    grads = torch.cat([p.grad.flatten() for p in params])
    assert torch.equal(grads, torch.full_like(grads, 3.0)) == copy_grads
    assert mlp.forward.replays == 2


def test_capture_is_in_training_mode_on_shape_chosen_kernels_without_autocasts_cache(monkeypatch):
    """What graph_feed_forwards hands torch's capture (faked here): every sublayer in the order the model calls it,
    samples of the shapes they see, training mode, "auto" kernels chosen by shape, autocast's cache off; then each
    sublayer's forward is a GraphedForward over torch's, and the model's mode is as it was."""
    from vkan.ops import kan_op

    model = tiny().eval()
    seen = {}

    def capture(sublayers, samples):
        seen.update(count=len(sublayers), shapes={tuple(s[0].shape) for s in samples},
                    grad=all(s[0].requires_grad for s in samples), training=all(m.training for m in sublayers),
                    by_shape=kan_op._by_shape, cache=torch.is_autocast_cache_enabled())
        for m in sublayers:
            m.forward = Recorder()
        return sublayers

    monkeypatch.setattr(torch.cuda, "make_graphed_callables", capture)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the app's forward runs in one; capture turns its cache off
        names = graph_feed_forwards(model, torch.zeros(4, 1, 16, 16), torch.bfloat16)
    assert names == ["blocks.0.mlp", "blocks.1.mlp"] and not model.training and not kan_op._by_shape
    assert seen == {"count": 2, "shapes": {(4, 17, 192)}, "grad": True, "training": True, "by_shape": True,
                    "cache": False}
    forward = model.blocks[1].mlp.forward
    assert isinstance(forward, GraphedForward) and isinstance(forward.graphed, Recorder)
    assert (forward.like, forward.amp) == (((torch.Size([4, 17, 192]), torch.float32),), torch.bfloat16)


def test_a_copy_of_a_graphed_sublayer_runs_its_own_forward_on_its_own_weights():
    model = tiny()
    graphed = Recorder()
    mlp = model.blocks[0].mlp
    mlp.forward = GraphedForward(mlp, graphed, [(torch.Size([2, 5, 192]), torch.float32)], CPU, None)
    ema = copy.deepcopy(model)  # as timm's ModelEmaV3 copies the model
    with torch.no_grad():
        for p in ema.blocks[0].mlp.parameters():
            p.mul_(0.5)
    x = torch.randn(2, 5, 192)
    assert torch.equal(ema.blocks[0].mlp(x), type(mlp).forward(ema.blocks[0].mlp, x)) and graphed.calls == 0
    assert "forward" not in ema.blocks[1].mlp.__dict__
    assert not torch.equal(ema.blocks[0].mlp(x), type(mlp).forward(mlp, x))
    assert plain_feed_forwards(model) == 1 and "forward" not in mlp.__dict__ and plain_feed_forwards(model) == 0


def test_a_model_without_feed_forward_sublayers_is_refused():
    with pytest.raises(ValueError, match="has no feed-forward sublayers"):
        graph_feed_forwards(nn.Sequential(nn.Linear(2, 2)), torch.zeros(1, 2), None)


def test_auto_kernel_paths_choose_by_shape_while_layers_are_captured(monkeypatch):
    """In eager mode "auto" and "auto-keep" run fused (host cost); in ``paths_by_shape`` (graph capture, where
    replays have none) they reach the shape rule, as under torch.compile; a pinned path is always as given."""
    from vkan.ops import kan_op

    seen = []
    monkeypatch.setattr(kan_op._EagerKANLinear, "apply", lambda *args: seen.append(args[-1]))
    layer = vkan.KANLinear(8, 4)

    def path(kernel_path):
        kan_op.fused_kan_linear(torch.zeros(3, 8), layer.grid, layer.spline_weight, layer.spline_scaler,
                                layer.base_weight, path=kernel_path)
        return seen.pop()

    assert [path(p) for p in ("auto", "auto-keep", "gemm")] == ["fused", "fused", "gemm"]
    with kan_op.paths_by_shape():
        assert [path(p) for p in ("auto", "auto-keep", "fused")] == ["auto", "auto-keep", "fused"]
    assert path("auto") == "fused"


# --- on a GPU -------------------------------------------------------------------------------------------------

def steps(model, batches, set_to_none):
    """Losses of SGD steps (momentum) of ``model`` (CUDA) over ``batches`` under bf16 autocast; gradients zeroed
    by ``zero_grad(set_to_none=set_to_none)`` before each backward."""
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for x, y in batches:
        opt.zero_grad(set_to_none=set_to_none)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = nn.functional.cross_entropy(model(x).float(), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.gpu
@pytest.mark.parametrize("set_to_none,copy_grads", [(True, True), (False, True), (True, False)])  # the last: the app's
@pytest.mark.parametrize("name", ["vit_kan_tiny_patch4_32", "vit_mlp_tiny_patch4_32"])
def test_graphed_sublayers_train_as_the_plain_model_does(name, set_to_none, copy_grads):
    """Five SGD steps of a graphed model against the same model plain on the same kernels: the same losses, and
    weights that moved the same way to within 0.1% of how far they moved, with gradients set to None or zeroed in
    place (kept across steps: the graphs' buffers must not be them, copy_grads; the app sets them to None and copies
    nothing). A short batch and evaluation then run the sublayers' own forwards."""
    plain = tiny(name).cuda()
    start = copy.deepcopy(plain.state_dict())
    graphed = copy.deepcopy(plain)
    torch.manual_seed(1)
    batches = [(torch.randn(8, 1, 16, 16, device="cuda"), torch.randint(0, 10, (8,), device="cuda"))
               for _ in range(5)]
    names = graph_feed_forwards(graphed, batches[0][0], torch.bfloat16, copy_grads=copy_grads)
    assert names == ["blocks.0.mlp", "blocks.1.mlp"]
    with paths_by_shape():  # the plain steps on the kernels the graphs were captured on
        want = steps(plain, batches, set_to_none)
    got = steps(graphed, batches, set_to_none)
    assert replays(graphed) == 10  # 5 steps x 2 sublayers
    assert got == pytest.approx(want, rel=1e-3)
    for (key, a), b in zip(plain.state_dict().items(), graphed.state_dict().values()):
        assert (a - b).norm() <= 1e-3 * (a - start[key]).norm() + 1e-6, key
    short = batches[0][0][:3]
    with torch.autocast("cuda", dtype=torch.bfloat16):
        assert torch.allclose(graphed(short).float(), plain(short).float(), atol=5e-2)
        plain.eval(), graphed.eval()
        with torch.no_grad():
            assert torch.allclose(graphed(batches[0][0]).float(), plain(batches[0][0]).float(), atol=5e-2)


@pytest.mark.gpu
@pytest.mark.parametrize("soft", [False, True])  # label-smoothed labels; mixup's soft targets
def test_the_graphed_loss_gives_the_plain_loss_count_and_logits_gradient(soft):
    """graph_loss_head on the GPU: three steps of new logits and labels through the graphed head and a plain one give
    the same loss, count of right predictions and gradient of the logits; a short batch runs the head itself."""
    from timm.loss import SoftTargetCrossEntropy

    torch.manual_seed(0)
    criterion = SoftTargetCrossEntropy() if soft else nn.CrossEntropyLoss(label_smoothing=0.1)
    plain, graphed = LossHead(criterion), LossHead(criterion)

    def batch(n=64):
        labels = torch.randint(0, 10, (n,), device="cuda")
        targets = nn.functional.one_hot(labels, 10).float() * 0.9 + 0.01 if soft else labels
        return torch.randn(n, 10, device="cuda", dtype=torch.bfloat16), targets, labels

    graph_loss_head(graphed, *batch(), torch.bfloat16)
    for n in (64, 64, 64, 40):
        logits, targets, labels = batch(n)
        got = {}
        for name, head in (("plain", plain), ("graphed", graphed)):
            x = logits.clone().requires_grad_()
            with torch.autocast("cuda", dtype=torch.bfloat16):
                loss, correct = head(x, targets, labels)
            got[name] = (loss.item(), correct.item())
            loss.backward()
            got[name] += (x.grad,)
        assert got["graphed"][:2] == pytest.approx(got["plain"][:2], rel=1e-5)
        assert torch.allclose(got["graphed"][2].float(), got["plain"][2].float(), rtol=1e-2, atol=1e-5)
    assert graphed.forward.replays == 3  # the short batch of 40 ran the head itself


# a fresh process graphs a one-block ViT-B/16-KAN (the GEMM path on both layers) and takes a step; "plain" first puts
# graph_feed_forwards' quiet_capture out of action, as the control that shows torch's warning still comes
CAPTURE_IN_A_FRESH_PROCESS = """
import contextlib, sys, timm, torch, vkan, vkan.ffn_graphs as fg
if sys.argv[1] == "plain":
    fg.quiet_capture = contextlib.nullcontext
model = timm.create_model("vit_kan_base_patch16_224", depth=1, num_classes=10).cuda()
x = torch.randn(4, 3, 224, 224, device="cuda")
fg.graph_feed_forwards(model, x, torch.bfloat16, copy_grads=False)
with torch.autocast("cuda", dtype=torch.bfloat16):
    loss = model(x).float().logsumexp(-1).mean()
loss.backward()
print("replays", fg.replays(model))
"""


@pytest.mark.gpu
def test_a_capture_and_the_step_after_it_print_none_of_torchs_warnings_about_streams_or_cuda_contexts():
    """Every eager GPU run of the app graphs its sublayers, and each printed two warnings of torch's about nothing
    wrong (``quiet_capture``): the gradient accumulators' stream, and cuBLAS run without a CUDA context in the first
    GEMM-path backward of autograd's GPU thread at 224 px. torch gives each once a process, so both are checked in
    fresh processes, beside a control without the quieting that must still show both."""

    def fresh(way):
        done = subprocess.run([sys.executable, "-c", CAPTURE_IN_A_FRESH_PROCESS, way], capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0 and "replays 1" in done.stdout, done.stderr
        return done.stderr

    plain = fresh("plain")  # the control: torch still warns without quiet_capture
    assert CUBLAS_WITHOUT_CONTEXT in plain and "AccumulateGrad" in plain, plain
    quiet = fresh("quiet")
    assert CUBLAS_WITHOUT_CONTEXT not in quiet and "AccumulateGrad" not in quiet, quiet

"""Feed-forward sublayers replayed as CUDA graphs in eager training (``trainer.graph_ffn``, ``graph_feed_forwards``),
and the loss after the model (``graph_loss_head``).

In an eager step a KAN sublayer costs the host more than its MLP twin's: its kernels are Triton launches from Python
through an autograd function, five or more a layer and a step. With every block's ``mlp`` replayed as CUDA graphs
(forward and backward, captured once by ``torch.cuda.make_graphed_callables``) and the rest of the step eager
(attention, norms, loss, optimizer, and anything a user changes there), the KAN model's eager training step on an
H200 reached 0.97-1.10x the img/s of its MLP twin graphed the same way at ViT-tiny/4, ViT-S/16 and ViT-B/16 (medians
of interleaved rounds, two processes), against 0.68-0.79x with neither graphed, and ran 1.21-1.74x faster than
without, with a peak memory of at most 1.5-1.6x its own plain one (the graphed MLP twin's bounds were 1.3-1.4x
those; bench/RESULTS.md, thirty-second and thirty-third sessions; ``python -m vkan.bench --graph-ffn``). In the
training app, where it is the eager default, KAN / MLP read 0.89x on MNIST at ViT-tiny/4 (median of four rounds,
0.84-1.05; thirty-third session). The app also replays the loss on the logits (the criterion and the accuracy
count, ``vkan.engine.LossHead``) as graphs of their own (``graph_loss_head``): 27 fewer launches a step at tiny/4,
and the app's eager step at 0.89-0.98x its bare step (thirty-fifth session).

A graph replays the kernels it recorded on the shapes it recorded, into the same memory: a graphed sublayer runs its
graphs only for a call like the captured ones (training mode, gradients on, the same input shape and dtype, the same
autocast) whose last replay's backward has run, and its own forward otherwise (evaluation, a short batch, a second
forward before one backward); ``GraphedForward`` says how the parameters' gradients are kept apart from the graphs'
buffers. Its output is overwritten by its next replay, so it must be used before then (a ViT block adds it to the
residual at once). The sublayer's parameters must stay the tensors they were at capture (the optimizer updates them
in place); a grid re-fit changes which kernels a KAN layer takes, which a captured graph cannot follow.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import warnings
import weakref
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from vkan.engine import autocast

FEED_FORWARD_NAME = "mlp"  # timm's attribute for a block's feed-forward sublayer (ViT, DeiT, Swin, ...)


def feed_forwards(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    """(name, module) of every feed-forward sublayer of ``model``: the modules held under the attribute name
    ``FEED_FORWARD_NAME``, outermost only, in the order of ``named_modules``."""
    found: List[Tuple[str, nn.Module]] = []
    for name, module in model.named_modules():
        if name.rsplit(".", 1)[-1] == FEED_FORWARD_NAME and not any(name.startswith(f"{n}.") for n, _ in found):
            found.append((name, module))
    return found


def sublayer_inputs(model: nn.Module, images: torch.Tensor, sublayers: List[nn.Module],
                    amp: Optional[torch.dtype]) -> Dict[nn.Module, Tuple[torch.Size, torch.dtype]]:
    """(shape, dtype) of each sublayer's input when ``model`` takes ``images`` under ``amp`` autocast, in the order
    the model calls them: one training-mode forward without gradients (training may change shapes: timm's patch
    dropout keeps fewer tokens), its random draws undone, with hooks that note the inputs."""
    seen: Dict[nn.Module, Tuple[torch.Size, torch.dtype]] = {}

    def note(module: nn.Module, args: tuple) -> None:
        seen.setdefault(module, (args[0].shape, args[0].dtype))

    hooks = [m.register_forward_pre_hook(note) for m in sublayers]
    was = model.training
    try:
        model.train()
        with torch.random.fork_rng(devices=[images.device] if images.is_cuda else []), torch.no_grad(), \
                autocast(images.device, amp):
            model(images)
    finally:
        model.train(was)
        for hook in hooks:
            hook.remove()
    missing = [i for i, m in enumerate(sublayers) if m not in seen]
    if missing:
        raise ValueError(f"graph_feed_forwards: sublayer(s) {missing} took no input in a forward of the model; only "
                         f"sublayers the model calls can be graphed")
    return seen


class _Replay:
    """A replay awaiting its backward (``GraphedForward.pending`` refers to it weakly)."""


class GraphedForward:
    """A graphed module's ``forward``: the captured graphs (``graphed``) for a call like the captured ones, the
    module's own forward for any other. ``like`` holds the (shape, dtype) of each captured input. A copy of the
    module (``copy.deepcopy``: timm's EMA, say) gets its own forward back: the graphs read and write the original's
    parameters.

    A call made while the last replay's backward is still to run (two forwards, then one backward) takes the
    module's own forward: a replay would overwrite what that backward reads. The parameters' gradients come back in
    the graphs' static buffers, which autograd keeps as ``.grad`` where that was None and which the next forward
    replays may overwrite, since the graphs share one memory pool (pytorch/pytorch#181723). ``copy_grads`` hands
    back copies instead (one copy of the sublayer's gradients a step); a step that sets gradients to None before
    each backward and is done with them before its next forward (``vkan.train.training_step``) needs none.
    ``replays`` counts the calls that ran the graphs.
    """

    def __init__(self, module: nn.Module, graphed: Callable, like: Sequence[Tuple[torch.Size, torch.dtype]],
                 device: torch.device, amp: Optional[torch.dtype], copy_grads: bool = True) -> None:
        self.module, self.graphed, self.amp, self.copy_grads = module, graphed, amp, copy_grads
        self.like, self.device = tuple(like), device
        self.pending: Optional[weakref.ref] = None  # the last replay until its backward starts
        self.replays = 0

    def captured_like(self, *args: torch.Tensor) -> bool:
        """Whether a call on ``args`` now is one the graphs replay: training mode, gradients on, the captured input
        shapes, dtypes and device, and the captured autocast."""
        if not (self.module.training and torch.is_grad_enabled() and len(args) == len(self.like)
                and all(x.shape == shape and x.dtype == dtype and x.device == self.device
                        for x, (shape, dtype) in zip(args, self.like))):
            return False
        if torch.is_autocast_enabled(self.device.type):
            return torch.get_autocast_dtype(self.device.type) == self.amp
        return self.amp is None

    def awaiting_backward(self) -> bool:
        """Whether the last replay's autograd graph is alive and its backward has not started."""
        return self.pending is not None and self.pending() is not None

    def __call__(self, *args: torch.Tensor):
        if not self.captured_like(*args) or self.awaiting_backward():
            return type(self.module).forward(self.module, *args)
        out = self.graphed(*args)
        self.replays += 1
        outputs = out if isinstance(out, tuple) else (out,)  # the graphs' one autograd node, on every output needing
        node = next((o.grad_fn for o in outputs if o.grad_fn is not None), None)  # a gradient (a count has none)
        if node is not None:  # the token lives as long as the replay's backward node, which holds the hook
            token = _Replay()
            node.register_prehook(functools.partial(self._backward_starts, token))
            self.pending = weakref.ref(token)
            if self.copy_grads:
                node.register_hook(functools.partial(_copied_parameter_grads, len(self.like)))
        return out

    def _backward_starts(self, token: _Replay, grad_outputs) -> None:
        self.pending = None

    def __deepcopy__(self, memo) -> Callable:
        clone = copy.deepcopy(self.module, memo)
        return type(clone).forward.__get__(clone)


def _copied_parameter_grads(inputs: int, grad_inputs: tuple, grad_outputs: tuple) -> tuple:
    """A graphed backward's gradients (the ``inputs`` inputs', then the parameters') with the parameters' copied off
    the graphs' static buffers."""
    return grad_inputs[:inputs] + tuple(None if g is None else g.clone() for g in grad_inputs[inputs:])


def _capture(callables, samples: tuple, device: torch.device, amp: Optional[torch.dtype], modules: List[nn.Module],
             extra=contextlib.nullcontext) -> None:
    """``torch.cuda.make_graphed_callables(callables, samples)`` with ``modules`` in training mode (their modes
    restored after), on ``device``'s GPU, which need not be the current one (trainer.device=cuda:1), as the
    capture's side stream is; under ``amp`` autocast without its cache (a capture allows none), ``quiet_capture``
    and the ``extra`` context."""
    was = [m.training for m in modules]
    for m in modules:
        m.train()
    on_device = torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()
    try:
        with on_device, extra(), autocast(device, amp, cache=False), quiet_capture():
            torch.cuda.make_graphed_callables(callables, samples)
    finally:
        for m, mode in zip(modules, was):
            m.train(mode)


def graph_feed_forwards(model: nn.Module, images: torch.Tensor, amp: Optional[torch.dtype],
                        copy_grads: bool = True) -> List[str]:
    """Capture every feed-forward sublayer of the CUDA ``model`` (``feed_forwards``) as CUDA graphs, forward and
    backward, for training steps on batches shaped like ``images`` under ``amp`` autocast (None: none); return the
    sublayers' names, in the order the model calls them. Each sublayer then replays its graphs on such calls and
    runs its own forward on any other (``GraphedForward``, which also says when ``copy_grads`` may be False).

    KAN layers on the "auto" kernel paths are captured on the kernels ``vkan.ops.kan_op.gemm_path`` picks by shape,
    as under torch.compile: replays have no per-launch host cost, which is what keeps eager mode on the fused path.
    The graphs share one memory pool, held until the model is freed (``plain_feed_forwards`` undoes this). The
    capture turns off two of torch's warnings (``quiet_capture``)."""
    from vkan.ops.kan_op import paths_by_shape

    sublayers = [m for _, m in feed_forwards(model)]
    if not sublayers:
        raise ValueError(f"graph_feed_forwards: {type(model).__name__} has no feed-forward sublayers (modules named "
                         f"{FEED_FORWARD_NAME!r}) to graph")
    plain_feed_forwards(model)
    inputs = sublayer_inputs(model, images, sublayers, amp)  # torch captures them in the order they run
    samples = tuple((torch.zeros(shape, dtype=dtype, device=images.device, requires_grad=True),)
                    for shape, dtype in inputs.values())
    _capture(tuple(inputs), samples, images.device, amp, [model], extra=paths_by_shape)
    for module, (shape, dtype) in inputs.items():
        module.forward = GraphedForward(module, module.forward, [(shape, dtype)], images.device, amp, copy_grads)
    names = {id(m): name for name, m in model.named_modules()}
    return [names[id(m)] for m in inputs]


def graph_loss_head(head: nn.Module, logits: torch.Tensor, targets: torch.Tensor, labels: torch.Tensor,
                    amp: Optional[torch.dtype]) -> None:
    """Capture ``head``, a module without parameters that takes ``(logits, targets, labels)``
    (``vkan.engine.LossHead``), as CUDA graphs, forward and backward, for training calls on CUDA tensors shaped like
    these under ``amp`` autocast (None: none). It then replays them on such calls and runs its own forward on any
    other (``GraphedForward``). Its outputs are the graphs' and the next replay overwrites them: a step uses its loss
    and counts before its next forward. The graphs have a memory pool of their own; ``plain_forward`` undoes this."""
    plain_forward(head)
    samples = (torch.zeros_like(logits, requires_grad=True), torch.zeros_like(targets), torch.zeros_like(labels))
    _capture(head, samples, logits.device, amp, [head])
    head.forward = GraphedForward(head, head.forward, [(t.shape, t.dtype) for t in samples], logits.device, amp,
                                  copy_grads=False)


# torch's words when a thread runs cuBLAS before it has a CUDA context (it then sets the device's primary one)
CUBLAS_WITHOUT_CONTEXT = "Attempting to run cuBLAS, but there was no current CUDA context"


@contextlib.contextmanager
def quiet_capture():
    """Keep two of torch's warnings, neither about a fault, out of a capture's console (every eager GPU run of the
    app graphs its sublayers; each of its runs printed both at 224 px). torch gives each once a process.

    - That a gradient accumulator's stream is not the gradient's: the parameters first meet autograd on the
      capture's side stream, and the backwards through the graphs are on another; the engine waits across the two
      streams, within the step times measured. Turned off for the whole process from here on (torch's switch,
      ``torch.autograd.graph.set_warn_on_accumulate_grad_stream_mismatch``; torch < 2.10 has neither), a capture
      that then fails included.
    - That autograd's GPU thread ran cuBLAS before it had a CUDA context (torch then sets the primary one): the
      first product of a KAN layer's backward on the GEMM path, in the capture's warm-up. Ignored during the
      capture, which spends torch's one warning. The filter is set in this thread and applies in autograd's because
      Python (3.12) keeps one list of filters for the whole process.
    """
    quiet = getattr(torch.autograd.graph, "set_warn_on_accumulate_grad_stream_mismatch", None)
    if quiet is not None:
        quiet(False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=CUBLAS_WITHOUT_CONTEXT)
        yield


def unallocated_reserved(device: torch.device) -> int:
    """Bytes torch's caching allocator holds on a CUDA ``device`` beyond its live tensors, after a sync and
    ``empty_cache`` (0 elsewhere). Its growth over ``graph_feed_forwards`` (and ``graph_loss_head``) is what the
    graphs hold beyond their static tensors: the pool whose blocks replays reuse, which a peak of allocated memory
    leaves out (the app's ``graph_gib``)."""
    if device.type != "cuda":
        return 0
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    return torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)


def _graphed_forward(module: nn.Module) -> Optional[GraphedForward]:
    """``module``'s ``GraphedForward``, or None where it runs its own forward."""
    forward = module.__dict__.get("forward")
    return forward if isinstance(forward, GraphedForward) else None


def graph_replays(module: nn.Module) -> Optional[int]:
    """How many calls of ``module`` (a loss head, say) ran its graphs; None where it is not graphed."""
    forward = _graphed_forward(module)
    return None if forward is None else forward.replays


def replays(model: nn.Module) -> int:
    """How many calls of ``model``'s graphed sublayers ran their graphs."""
    return sum(graph_replays(module) or 0 for _, module in feed_forwards(model))


def plain_forward(module: nn.Module) -> bool:
    """Give ``module`` its own forward back if it is graphed (its graphs are freed with the last reference to them);
    return whether it was."""
    graphed = _graphed_forward(module) is not None
    if graphed:
        del module.forward
    return graphed


def plain_feed_forwards(model: nn.Module) -> int:
    """Give every graphed sublayer of ``model`` its own forward back (``plain_forward``); return how many were
    graphed."""
    return sum(plain_forward(module) for _, module in feed_forwards(model))

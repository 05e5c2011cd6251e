"""Side-by-side GPU benchmark: fused KAN layer vs reference, nn.Linear and inkan; ViT-KAN vs ViT-MLP training.

    python -m vkan.bench                       # layers + models (eager and compiled), prints markdown tables
    python -m vkan.bench --skip-models --json out.json
    python -m vkan.bench --cpu                 # CPU: ViT-tiny train step, KAN vs MLP twin, batch 64 and 512
    python -m vkan.bench --skip-layers --models small224 --variants kan_hidden=160   # other KAN options
    python -m vkan.bench --skip-layers --models small224 --variants kernel_path=gemm  # a kernel path (kan_op.PATHS)
    python -m vkan.bench --skip-layers --compile-modes reduce-overhead --variants kernel_path=auto-keep  # as the app
    python -m vkan.bench --skip-layers --skip-models --efficient-kan efficient-kan/src  # the seed's model
    python -m vkan.bench --skip-layers --no-compile --graph-ffn   # eager, also with sublayer graphs (trainer.graph_ffn)

Model rows build KANLinear's default kernel path, "auto"; the training app runs "auto-keep" under CUDA graphs
(``vkan.train.pin_kernel_paths``), which ``--variants kernel_path=auto-keep`` adds. ``--graph-ffn`` adds to the eager
rows both twins as ``trainer.graph_ffn`` runs their sublayers: every block's feed-forward sublayer replayed as CUDA
graphs (``vkan.ffn_graphs``; the KAN model's "auto" layers captured on the kernels chosen by shape; the app graphs
its loss too, where these rows' loss is plain cross-entropy), and each ``--variants`` KAN model graphed too
(``--variants kernel_path=fused`` times the fused kernels graphed); their ``vs_twin`` is over the MLP twin graphed
the same way, and their peak includes the graphs' memory, taken when they are captured.

All numbers in one table come from one process on one GPU, so ratios are measured side by side.
Layer rows time forward + backward under bf16 autocast, models a training step (``triton.testing.do_bench``),
in interleaved rounds: times are medians over rounds, ratios medians of per-round ratios.
Layer rows also give ``graph_ms``: the same step replayed as one CUDA graph, i.e. its kernels alone, which
the host's speed does not move (the eager time is host-bound whenever the host is slower than the kernels).
"peak" is the memory a layer's step allocates on top of its parameters and input; a model's, the most its first three
steps allocate on top of its parameters, input and optimizer state (compilation and CUDA graph recording included:
a replayed CUDA graph allocates nothing, its memory is taken when it is recorded).
"""
from __future__ import annotations

import argparse
import gc
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from vkan.run_logger import write_json

LAYER_SHAPES = [(16640, 192, 768), (50432, 384, 1536), (50432, 768, 3072)]


def _gib(n_bytes: float) -> float:
    return n_bytes / 2**30


def per_round_ratios(values: Sequence[float], base: Sequence[float]) -> Tuple[float, float, float]:
    """Median, min and max over interleaved rounds of ``values[i] / base[i]`` (each pair saw the same host)."""
    import statistics

    ratios = [v / b for v, b in zip(values, base)]
    return statistics.median(ratios), min(ratios), max(ratios)


def peak_gib(step: Callable[[], None], grads: List[torch.Tensor]) -> float:
    """Memory (GiB) one call of ``step`` allocates at its peak on top of what exists before it (after a
    first call, so compilation and lazily built state are not counted)."""
    step()
    torch.cuda.synchronize()
    for g in grads:
        g.grad = None
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    step()
    torch.cuda.synchronize()
    return _gib(torch.cuda.max_memory_allocated() - base)


def graph_time_ms(step: Callable[[], None], rep_ms: int = 200) -> Tuple[Optional[float], Optional[str]]:
    """(milliseconds per replay of ``step`` captured as one CUDA graph, None) or (None, why capture failed).

    ``step`` runs 3 times on a side stream first (lazy state, gradient buffers), as CUDA graph capture
    requires; gradients then accumulate in place on every replay, which costs what a fresh write does."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(graph):
            step()
    except Exception as err:  # e.g. a host sync or a CPU tensor inside the step
        torch.cuda.synchronize()
        return None, f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:200]
    try:
        return triton_time_ms(graph.replay, rep_ms=rep_ms), None
    finally:
        del graph
        torch.cuda.synchronize()


def graph_calls_ms(fn: Callable[[], None], calls: int = 20, rep_ms: int = 100) -> float:
    """ms per call of ``fn``, ``calls`` calls captured as one CUDA graph and replayed (kernels only, no host floor);
    raises where the capture fails."""
    ms, err = graph_time_ms(lambda: [fn() for _ in range(calls)], rep_ms=rep_ms)
    if err:
        raise RuntimeError(err)
    return ms / calls


def bench_layers(shapes=LAYER_SHAPES, rounds: int = 5) -> List[dict]:
    """Forward + backward of one layer per implementation (vkan's two kernel paths, its reference path,
    ``nn.Linear``, inkan where installed), bf16 autocast, fp32 parameters.

    The implementations are timed in interleaved rounds (fused, reference, Linear, inkan, fused, ...), as
    the models are: the host's speed drifts between seconds, and the fused layer's eager step is close to
    host-bound. ``ms`` is the median over rounds; every ratio is the median of the per-round ratios, and
    ``fused_speedup`` (this row's time over the fused layer's) also gets its min and max over rounds.
    ``graph_ms`` times the step as one CUDA graph (kernels only) and ``graph_fused_speedup`` compares those;
    where capture fails the row says why in ``graph_error``.
    """
    import statistics

    from vkan import KANLinear

    try:
        import inkan  # optional comparison
    except ImportError:
        inkan = None
    rows = []
    for m, n_in, n_out in shapes:
        kan = KANLinear(n_in, n_out).cuda()
        n_params = sum(p.numel() for p in kan.parameters())
        per_edge = kan.n_coef + 1  # spline + base multiply-adds per edge
        kan_flops = 6 * m * n_in * n_out * per_edge  # fwd 2x, bwd 4x (input and weight grads)
        lin = nn.Linear(n_in, round(n_params / n_in), bias=False).cuda()  # same parameters, same input
        impls = {"vkan fused": (kan, "fused"), "vkan gemm path": (kan, "gemm"),
                 "vkan gemm-keep path": (kan, "gemm-keep"), "vkan reference": (kan, False),
                 "nn.Linear (same params)": (lin, None)}
        if inkan is not None:
            impls["inkan.KANLayer"] = (inkan.KANLayer(n_in, n_out).cuda(), None)
        x = torch.randn(m, n_in, device="cuda", requires_grad=True)
        rel_err = {}  # bf16 rounding of each kernel path against the reference: expect ~1e-3
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            kan.fused = False
            ref_out = kan(x).float()
            kan.fused = None
            for name, (_, path) in impls.items():
                if isinstance(path, str):
                    kan.kernel_path = path
                    rel_err[name] = ((kan(x).float() - ref_out).norm() / ref_out.norm()).item()
        steps = {}
        for name, (module, path) in impls.items():

            def step(module=module, path=path):
                if path is not None:  # the kernel paths and the reference (False) share one layer
                    module.fused = None if path else False
                    module.kernel_path = path or "auto"
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    y = module(x)
                y.backward(torch.ones_like(y))

            grads = [x, *module.parameters()]
            flops = kan_flops if module is not lin else 6 * m * n_in * lin.out_features
            steps[name] = (step, grads, {"peak_gib": peak_gib(step, grads), "flops": flops, "ms_rounds": []})
        for _ in range(rounds):
            for step, grads, r in steps.values():
                r["ms_rounds"].append(triton_time_ms(step, rep_ms=100, grads=grads))
        for step, grads, r in steps.values():
            for g in grads:
                g.grad = None
            r["graph_ms"], r["graph_error"] = graph_time_ms(step)
        kan.fused, kan.kernel_path = None, "auto"
        per_round = {name: r["ms_rounds"] for name, (_, _, r) in steps.items()}
        fused_graph = steps["vkan fused"][2]["graph_ms"]
        fused_t, ref_t, lin_t = (per_round[k] for k in ("vkan fused", "vkan reference", "nn.Linear (same params)"))
        lin_peak = steps["nn.Linear (same params)"][2]["peak_gib"]
        for name, (_, _, r) in steps.items():
            t = r["ms_rounds"]
            vs_fused = [a / f for a, f in zip(t, fused_t)]
            ms = statistics.median(t)
            rows.append({"shape": f"{m}x{n_in}->{n_out}", "impl": name, "ms": ms, "tflops": r["flops"] / ms / 1e9,
                         "peak_gib": r["peak_gib"], "rounds": len(t),
                         "rel_err_vs_reference": rel_err.get(name),
                         "speedup_vs_reference": statistics.median([a / b for a, b in zip(ref_t, t)]),
                         "time_vs_linear": statistics.median([a / b for a, b in zip(t, lin_t)]),
                         "fused_speedup": statistics.median(vs_fused), "fused_speedup_min": min(vs_fused),
                         "fused_speedup_max": max(vs_fused),
                         "mem_vs_linear": r["peak_gib"] / max(lin_peak, 1e-9), "ms_rounds": t,
                         "graph_ms": r["graph_ms"], "graph_error": r["graph_error"],
                         "graph_fused_speedup": (r["graph_ms"] / fused_graph if r["graph_ms"] and fused_graph
                                                 else None)})
        del kan, lin, x, steps
        torch.cuda.empty_cache()
    return rows


MODEL_CONFIGS = {  # kan, mlp, image side, batch, channels
    "tiny32": ("vit_kan_tiny_patch4_32", "vit_mlp_tiny_patch4_32", 32, 512, 3),
    "mnist28": ("vit_kan_tiny_patch4_32", "vit_mlp_tiny_patch4_32", 28, 512, 1),  # the app's MNIST runs
    "small224": ("vit_kan_small_patch16_224", "vit_mlp_small_patch16_224", 224, 128, 3),
    "base224": ("vit_kan_base_patch16_224", "vit_mlp_base_patch16_224", 224, 64, 3),
}


def bench_model(name: str, img: int, chans: int, fused: bool = True, kernel_path: str = "auto", **kwargs) -> nn.Module:
    """A benchmark's timm model on the CPU, 10 classes, built after ``torch.manual_seed(0)`` (every variant starts
    from the same weights); its KAN layers, if any, on the fused kernels (``fused``; False: the PyTorch reference
    path) and ``kernel_path`` (``kan_op.PATHS``)."""
    import timm

    import vkan  # noqa: F401  (registers the models)
    from vkan.kan_tools import kan_layers

    torch.manual_seed(0)
    model = timm.create_model(name, num_classes=10, img_size=img, in_chans=chans, **kwargs)
    for _, layer in kan_layers(model):
        layer.fused = None if fused else False
        layer.kernel_path = kernel_path
    return model


def twins(config: str, paths: Sequence[str]) -> Iterator[Tuple[str, nn.Module]]:
    """("mlp", the MLP twin), then ("kan <path>", the KAN model on that kernel path) for each of ``paths``
    (``kan_op.PATHS``): a ``MODEL_CONFIGS`` entry's models (``bench_model``), built one at a time as the caller asks."""
    kan_name, mlp_name, img, _, chans = MODEL_CONFIGS[config]
    yield "mlp", bench_model(mlp_name, img, chans)
    for path in paths:
        yield f"kan {path}", bench_model(kan_name, img, chans, kernel_path=path)


def fresh_compiles(n_models: int) -> None:
    """A fresh dynamo cache with room for ``n_models`` models compiled in one process: they share timm's code
    objects, and at dynamo's default limit of 8 compiles per code object a 9th model ran eager unnoticed."""
    torch._dynamo.reset()
    config, key = torch._dynamo.config, "recompile_limit"
    key = key if hasattr(config, key) else "cache_size_limit"  # its name before torch 2.6
    setattr(config, key, max(getattr(config, key), 2 * n_models + 8))


def train_step(model: nn.Module, img: int, batch: int, chans: int, compiled=False, capturable: bool = False):
    """(step, optimizer): one bf16-autocast AdamW (fused) training step of the CUDA ``model`` on a fixed random batch
    with cross-entropy, gradients set to None after it; ``compiled``: False, True or a torch.compile mode.
    ``capturable``: AdamW capturable and gradients zeroed in place instead (one more add per parameter in the
    backward), so that a CUDA graph of the step replays into the same buffers."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True, capturable=capturable)
    run = torch.compile(model, mode=None if compiled is True else compiled) if compiled else model
    x = torch.randn(batch, chans, img, img, device="cuda")
    y = torch.randint(0, model.num_classes, (batch,), device="cuda")

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = nn.functional.cross_entropy(run(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=not capturable)
    return step, opt


def time_train_steps(models: Dict[str, nn.Module], img: int, batch: int, chans: int, compiled, rounds: int,
                     base: str) -> List[dict]:
    """Training-step throughput (AdamW, bf16 autocast, cross-entropy on random data) of CUDA ``models``
    (label -> model), timed in interleaved rounds; ``throughput_vs_base`` is each row's img/s over ``base``'s,
    the median of the per-round ratios (with min and max). ``compiled``: False, True or a torch.compile mode.
    """
    import statistics

    if compiled:
        fresh_compiles(len(models))
    steps = {}
    for label, model in models.items():
        step, opt = train_step(model, img, batch, chans, compiled)
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        t0 = time.perf_counter()
        for _ in range(3):  # the peak is taken here: CUDA graphs allocate their memory while recording, not replaying
            step()
        torch.cuda.synchronize()
        warm_s = time.perf_counter() - t0
        state = sum(t.numel() * t.element_size() for s in opt.state.values() for t in s.values()
                    if torch.is_tensor(t) and t.is_cuda)
        steps[label] = (step, {"model": label, "img": img, "batch": batch, "compiled": compiled,
                               "params": sum(p.numel() for p in model.parameters()),
                               "peak_gib": _gib(torch.cuda.max_memory_allocated() - before - state),
                               "warmup_s": warm_s, "ms_rounds": []})
    for _ in range(rounds):  # interleaved: every variant sees the same host conditions
        for step, row in steps.values():
            row["ms_rounds"].append(triton_time_ms(step, rep_ms=300))
    base_ms, base_peak = steps[base][1]["ms_rounds"], steps[base][1]["peak_gib"]
    rows = []
    for step, row in steps.values():
        speed, speed_min, speed_max = per_round_ratios(base_ms, row["ms_rounds"])  # time ratio = speed ratio
        row["step_ms"] = statistics.median(row["ms_rounds"])
        row["img_per_s"] = batch / row["step_ms"] * 1e3
        row.update(base=base, throughput_vs_base=speed, ratio_min=speed_min, ratio_max=speed_max,
                   mem_vs_base=row["peak_gib"] / base_peak)
        rows.append(row)
        print("measured:", row, flush=True)  # partial results survive an interrupted run
    steps.clear()
    torch.cuda.empty_cache()
    return rows


def parse_variant(text: str) -> Tuple[str, Dict[str, Any]]:
    """``"grid_size=3,kan_hidden=160"`` -> (label, create_model kwargs): KANSpec fields go into ``kan``, other
    keys (``kan_hidden``, ``depth``, ...) to timm.create_model. Values are Python literals, ``true`` / ``false`` /
    ``none`` in any case (as in Hydra overrides), or a bare word such as ``gelu`` or ``gemm-keep``."""
    import ast
    import re

    from vkan.kan import KANSpec

    words = {"true": True, "false": False, "none": None, "null": None}
    kwargs: Dict[str, Any] = {}
    for item in re.split(r",\s*(?=\w+=)", text.strip()):  # commas inside a value (grid_range=[-2,2]) stay
        key, sep, raw = (part.strip() for part in item.partition("="))
        if not sep or not key.isidentifier():
            raise SystemExit(f"--variants wants key=value items separated by commas, got {text!r}")
        if raw.lower() in words:
            value = words[raw.lower()]
        else:
            try:
                value = ast.literal_eval(raw)
            except (ValueError, SyntaxError):
                if not re.fullmatch(r"[A-Za-z_][\w-]*", raw):  # a bare word; hyphens as in gemm-keep
                    raise SystemExit(f"--variants {text!r}: cannot read {key}={raw!r}; give a number, a list such "
                                     f"as [-2,2], true/false or a name such as gelu") from None
                value = raw
        if key in KANSpec.names():
            kwargs.setdefault("kan", {})[key] = value
        else:  # kernel_path among them: bench_model sets it on every KANLinear after the build
            kwargs[key] = value
    return text, kwargs


GRAPHED = " graph_ffn"  # the label's end of a twin with sublayer graphs (bench_models' graph_ffn)


def capture_sublayers(model: nn.Module, img: int, batch: int, chans: int) -> float:
    """Capture the CUDA ``model``'s feed-forward sublayers as CUDA graphs for ``train_step``'s batch under bf16
    autocast, as ``trainer.graph_ffn`` does (``vkan.ffn_graphs``; ``train_step`` too sets gradients to None before
    each backward); return the GiB the capture holds beyond its live tensors (the graphs' memory pool, whose blocks
    replays reuse), which ``time_train_steps``' peak (allocated memory, the graphs' static inputs, outputs and
    gradients among it) leaves out, measured as the app's ``graph_gib`` (``unallocated_reserved``)."""
    from vkan.ffn_graphs import graph_feed_forwards, unallocated_reserved

    device = torch.device("cuda", torch.cuda.current_device())
    pool_before = unallocated_reserved(device)
    graph_feed_forwards(model, torch.zeros(batch, chans, img, img, device=device), torch.bfloat16, copy_grads=False)
    return _gib(unallocated_reserved(device) - pool_before)


def with_graphs_counted(rows: List[dict], mlp_label: str, graph_gib: Dict[str, float]) -> List[dict]:
    """``rows`` of a block with graphed twins: each graphed row's peak with its graphs' memory (``graph_gib``, by
    label) and ``mem_vs_base`` again; ``vs_twin`` on every row: img/s over the MLP twin's run the same way (a
    ``GRAPHED`` row's over the graphed MLP twin, the others' over ``mlp_label``), the median of per-round ratios."""
    by_label = {row["model"]: row for row in rows}
    for row in rows:
        row["peak_gib"] += graph_gib.get(row["model"], 0.0)
    for row in rows:
        row["mem_vs_base"] = row["peak_gib"] / by_label[mlp_label]["peak_gib"]
        twin = by_label[mlp_label + GRAPHED if row["model"].endswith(GRAPHED) else mlp_label]
        row["vs_twin"] = per_round_ratios(twin["ms_rounds"], row["ms_rounds"])[0]
    return rows


def bench_models(compile_modes=(False, True), configs=None, rounds: int = 5, reference: bool = True,
                 variants: Sequence[str] = (), graph_ffn: bool = False) -> List[dict]:
    """KAN and MLP ViT twins side by side (``time_train_steps``; ratios over the MLP twin).

    Eager rows include (``reference``) the KAN model on the PyTorch reference path; ``variants`` (see
    ``parse_variant``) add KAN models built with other options, e.g. ``grid_size=3`` or ``kan_hidden=160``;
    ``graph_ffn`` adds both twins, and each variant, with their sublayers as CUDA graphs (``capture_sublayers``; eager
    rows only).
    Small models are host-bound in eager mode, and the host's speed drifts between seconds, which is why the
    variants are timed in interleaved rounds.
    """
    configs = configs or list(MODEL_CONFIGS.values())
    parsed = [parse_variant(text) for text in variants]
    rows = []
    for kan_name, mlp_name, img, batch, chans in configs:
        for compiled in compile_modes:
            builds = {mlp_name: (mlp_name, {}), kan_name: (kan_name, {})}
            if reference and not compiled:  # the reference path is the slow baseline; eager is enough
                builds[f"{kan_name} (reference path)"] = (kan_name, {"fused": False})
            for label, kwargs in parsed:  # KAN options, and kernel_path=...
                builds[f"{kan_name} {label}"] = (kan_name, kwargs)
            graphed = graph_ffn and not compiled
            if graphed:
                builds[mlp_name + GRAPHED] = (mlp_name, {})
                builds[kan_name + GRAPHED] = (kan_name, {})
                for label, kwargs in parsed:
                    builds[f"{kan_name} {label}{GRAPHED}"] = (kan_name, kwargs)
            models = {label: bench_model(name, img, chans, **kwargs).cuda().train()
                      for label, (name, kwargs) in builds.items()}
            graph_gib = {label: capture_sublayers(model, img, batch, chans) for label, model in models.items()
                         if label.endswith(GRAPHED)}
            block = time_train_steps(models, img, batch, chans, compiled, rounds, base=mlp_name)
            rows += with_graphs_counted(block, mlp_name, graph_gib) if graphed else block
            del models
            gc.collect()  # a graphed sublayer and its forward refer to each other: their graphs go with the cycle
    return rows


def with_efficient_kan_layers(model: nn.Module, efficient_kan) -> nn.Module:
    """``model`` with every vkan KANLinear replaced by ``efficient_kan.KANLinear`` built with the same options
    and holding the same parameters (efficient-kan's names), in place; returns ``model``."""
    from vkan.kan import KANLinear, resolve_activation

    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if not isinstance(child, KANLinear):
                continue
            spec = child.spec
            other = efficient_kan.KANLinear(
                child.in_features, child.out_features, grid_size=spec.grid_size, spline_order=spec.spline_order,
                scale_noise=spec.scale_noise, scale_base=spec.scale_base, scale_spline=spec.scale_spline,
                enable_standalone_scale_spline=spec.enable_standalone_scale_spline,
                base_activation=resolve_activation(spec.base_activation), grid_eps=spec.grid_eps,
                grid_range=list(spec.grid_range))
            ours, theirs = child.state_dict(), other.state_dict()
            extra = sorted({name for name, _ in child.named_parameters()} - set(theirs))
            if extra:
                raise ValueError(f"efficient-kan's KANLinear has no place for {', '.join(extra)} (e.g. a KAN bias); "
                                 f"compare models built without it")
            other.load_state_dict({k: v for k, v in ours.items() if k in theirs})  # strict the other way round
            setattr(parent, child_name, other.to(child.base_weight.device))
    return model


def bench_efficient_kan(efficient_kan, batch: int = 64, rounds: int = 3, num_classes: int = 5) -> List[dict]:
    """The seed's Kansformer (ViT-B/16, KAN([768, 64, 768]) feed-forwards, KAN head) with vkan's layers and
    with efficient-kan's, same weights, eager (efficient-kan's own mode), side by side; ratios over efficient-kan."""
    import copy

    import timm

    import vkan  # noqa: F401  (registers the models)

    torch.manual_seed(0)
    ours = timm.create_model("vit_kan_seed_base_patch16_224", num_classes=num_classes).cuda().train()
    theirs = with_efficient_kan_layers(copy.deepcopy(ours), efficient_kan)
    x = torch.randn(4, 3, 224, 224, device="cuda")
    with torch.no_grad():
        reference = theirs(x)
        rel_err = ((ours(x) - reference).norm() / reference.norm()).item()  # fp32, same weights
    print(f"vkan vs efficient-kan outputs, fp32: relative difference {rel_err:.2e}", flush=True)
    if rel_err > 1e-4:
        raise SystemExit(f"vkan's and efficient-kan's models disagree (relative difference {rel_err:.2e}); the speed "
                         f"comparison would not be of the same function")
    rows = time_train_steps({"efficient-kan": theirs, "vkan": ours}, 224, batch, 3, False, rounds,
                            base="efficient-kan")
    for row in rows:
        row["rel_err_vs_efficient_kan"] = rel_err
    return rows


def cpu_train_step(name: str, batch: int, img: int = 32):
    """(model, step) of one AdamW training step of a timm model on random CPU data (fp32)."""
    import timm

    import vkan  # noqa: F401  (registers the models)

    torch.manual_seed(0)
    model = timm.create_model(name, num_classes=10).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x, y = torch.randn(batch, 3, img, img), torch.randint(0, 10, (batch,))

    def step():
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return model, step


def peak_rss_gib() -> float:
    """This process's peak resident memory in GiB: Linux's VmHWM (the current program's own peak: a spawned child
    does not inherit its parent's, as ``ru_maxrss`` does across fork and exec), else ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**20  # kB
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _cpu_peak_rss(name: str, batch: int, steps: int) -> dict:
    """Run in a fresh process: its peak resident memory (GiB) over ``steps`` training steps (what the kernel's
    out-of-memory killer sees)."""
    _, step = cpu_train_step(name, batch)
    for _ in range(steps):
        step()
    return {"peak_rss_gib": peak_rss_gib()}


def bench_cpu(batches=(64, 512), rounds: int = 3, names=("vit_mlp_tiny_patch4_32", "vit_kan_tiny_patch4_32")) -> List[dict]:
    """ViT-tiny training steps on the CPU, KAN vs its MLP twin: seconds per step in interleaved rounds (median;
    the ratio is the median of per-round ratios) and peak resident memory, each model in a fresh process."""
    import statistics
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    rows = []
    for batch in batches:
        steps = {name: cpu_train_step(name, batch)[1] for name in names}
        for step in steps.values():
            step()  # warm-up: allocator, first-call work
        times = {name: [] for name in names}
        for _ in range(rounds):
            for name, step in steps.items():
                t0 = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - t0)
        del steps
        memory = {}
        for name in names:  # a fresh process per model: peak RSS never goes down
            with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                memory[name] = pool.submit(_cpu_peak_rss, name, batch, 2).result()
        base = names[0]
        for name in names:
            time_ratio, ratio_min, ratio_max = per_round_ratios(times[name], times[base])
            rows.append({"model": name, "batch": batch, "threads": torch.get_num_threads(),
                         "step_s": statistics.median(times[name]), "base": base, "time_vs_base": time_ratio,
                         "ratio_min": ratio_min, "ratio_max": ratio_max, **memory[name],
                         "mem_vs_base": memory[name]["peak_rss_gib"] / memory[base]["peak_rss_gib"],
                         "s_rounds": times[name]})
            print("measured:", rows[-1], flush=True)
    return rows


def triton_time_ms(step: Callable[[], None], rep_ms: int, warmup_ms: int = 25, grads=()) -> float:
    """Median milliseconds per call of ``step`` (``triton.testing.do_bench``; ``grads`` reset between calls)."""
    import triton.testing

    return triton.testing.do_bench(step, warmup=warmup_ms, rep=rep_ms, grad_to_none=list(grads) or None,
                                   return_mode="median")


def markdown(rows: List[dict], cols: List[str]) -> str:
    def fmt(v):
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def import_efficient_kan(src: str):
    """The ``efficient_kan`` module: installed (``src="installed"``) or from the folder ``src``."""
    import importlib
    import sys

    if src != "installed":
        sys.path.insert(0, src)
    try:
        module = importlib.import_module("efficient_kan")
        if src != "installed" and not Path(module.__file__).resolve().is_relative_to(Path(src).resolve()):
            raise ImportError(f"efficient_kan came from {module.__file__}, not from {src}")
        return module
    except ImportError as err:
        raise SystemExit(f"--efficient-kan {src}: cannot import efficient_kan ({err}); give the folder that holds the "
                         f"efficient_kan package (in a clone of github.com/Blealtan/efficient-kan: its src/), or "
                         f"'installed' if it is pip-installed") from None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-layers", action="store_true", help="skip the layer benchmark")
    parser.add_argument("--skip-models", action="store_true", help="skip the model benchmark")
    parser.add_argument("--no-compile", action="store_true", help="model benchmark in eager mode only")
    parser.add_argument("--no-eager", action="store_true", help="model benchmark in the --compile-modes only")
    parser.add_argument("--no-reference", action="store_true", help="model benchmark without the reference-path row")
    parser.add_argument("--compile-modes", default="default",
                        help="comma list of torch.compile modes to time besides eager (default, reduce-overhead, ...)")
    parser.add_argument("--models", default="tiny32,small224", help=f"comma list of {sorted(MODEL_CONFIGS)}")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds per model variant")
    parser.add_argument("--layer-rounds", type=int, default=5, help="interleaved timing rounds per layer implementation")
    parser.add_argument("--shapes", default=",".join(f"{m}x{i}x{o}" for m, i, o in LAYER_SHAPES),
                        help="comma list of layer shapes MxINxOUT (tokens x in -> out)")
    parser.add_argument("--cpu", action="store_true",
                        help="CPU mode: ViT-tiny training steps, KAN vs MLP twin, time and peak memory")
    parser.add_argument("--batches", default="64,512", help="--cpu: comma list of batch sizes")
    parser.add_argument("--variants", nargs="*", default=[],
                        help="extra KAN models per --models entry, each 'key=value,...' of KANSpec fields or "
                             "create_model kwargs, e.g. grid_size=3 spline_order=1 kan_hidden=160")
    parser.add_argument("--graph-ffn", action="store_true",
                        help="eager rows: also both twins (and each --variants model) with their feed-forward "
                             "sublayers as CUDA graphs (trainer.graph_ffn), with vs_twin: img/s over the MLP twin "
                             "run the same way")
    parser.add_argument("--efficient-kan", metavar="SRC",
                        help="also time the seed's ViT-B/16 with efficient-kan's layers against vkan's: 'installed' "
                             "or the folder holding the efficient_kan package (a clone's src/)")
    parser.add_argument("--json", help="also write all rows to this JSON file")
    args = parser.parse_args(argv)

    def save(out: dict) -> None:  # the JSON so far (atomically), replacing what an earlier block wrote
        if args.json:
            write_json(args.json, out)

    if args.cpu:
        rows = bench_cpu([int(b) for b in args.batches.split(",")], rounds=args.rounds)
        print(markdown(rows, ["model", "batch", "threads", "step_s", "base", "time_vs_base", "ratio_min", "ratio_max",
                              "peak_rss_gib", "mem_vs_base"]), flush=True)
        save({"cpu": rows, "torch": torch.__version__})
        return
    efficient_kan = import_efficient_kan(args.efficient_kan) if args.efficient_kan else None  # fail before timing
    for text in args.variants:
        parse_variant(text)
    if args.no_compile and args.no_eager and not args.skip_models:
        raise SystemExit("--no-compile and --no-eager together leave no model rows to time: drop one of them")
    if not torch.cuda.is_available():
        raise SystemExit("vkan.bench needs a CUDA GPU (or --cpu for the CPU training-step comparison)")
    out = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__}
    warm_up_gpu()
    print(f"# {out['gpu']}, torch {out['torch']}")
    if not args.skip_layers:
        shapes = [tuple(int(v) for v in shape.split("x")) for shape in args.shapes.split(",")]
        if any(len(shape) != 3 for shape in shapes):
            raise SystemExit(f"--shapes wants MxINxOUT items, got {args.shapes!r}")
        out["layers"] = bench_layers(shapes, rounds=args.layer_rounds)
        print(markdown(out["layers"], ["shape", "impl", "ms", "tflops", "peak_gib", "speedup_vs_reference",
                                       "time_vs_linear", "fused_speedup", "fused_speedup_min", "fused_speedup_max",
                                       "mem_vs_linear", "rel_err_vs_reference", "graph_ms", "graph_fused_speedup"]),
              flush=True)
        for row in out["layers"]:
            if row["graph_error"]:
                print(f"no CUDA graph for {row['impl']} at {row['shape']}: {row['graph_error']}")
        save(out)
    model_cols = ["model", "img", "batch", "compiled", "params", "img_per_s", "peak_gib", "base",
                  "throughput_vs_base", "ratio_min", "ratio_max", "mem_vs_base"]
    model_cols += ["vs_twin"] if args.graph_ffn else []
    if not args.skip_models:
        modes = (([] if args.no_eager else [False]) +
                 ([] if args.no_compile else [True if m == "default" else m for m in args.compile_modes.split(",")]))
        out["models"] = []
        for config in [MODEL_CONFIGS[k] for k in args.models.split(",")]:
            for mode in modes:  # rows printed and saved as each block ends: a stopped run keeps the ones it finished
                rows = bench_models(compile_modes=[mode], configs=[config], rounds=args.rounds,
                                    reference=not args.no_reference, variants=args.variants,
                                    graph_ffn=args.graph_ffn)
                out["models"] += rows
                print(markdown(rows, model_cols), flush=True)
                save(out)
    if efficient_kan is not None:
        out["efficient_kan"] = bench_efficient_kan(efficient_kan, rounds=args.rounds)
        print(markdown(out["efficient_kan"], model_cols + ["rel_err_vs_efficient_kan"]), flush=True)
    save(out)


def warm_up_gpu() -> None:
    """About a second of large matmuls, so that the clocks are up before the first timed row."""
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    for _ in range(200):
        a @ a
    torch.cuda.synchronize()


if __name__ == "__main__":
    main()

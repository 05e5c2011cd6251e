"""The benchmark script's plumbing: tables, argument checks, and (on a GPU) the interleaved layer rounds and
CUDA-graph timings."""
import json
import os
import statistics

import pytest
import torch

from vkan import bench


def test_markdown_rounds_floats_and_leaves_missing_cells_empty():
    table = bench.markdown([{"impl": "fused", "ms": 0.43412}, {"impl": "ref"}], ["impl", "ms"])
    assert table.splitlines() == ["| impl | ms |", "|---|---|", "| fused | 0.434 |", "| ref |  |"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
def test_main_without_a_gpu_says_so():
    with pytest.raises(SystemExit, match="needs a CUDA GPU"):
        bench.main(["--skip-models"])


def test_variants_split_kan_options_from_model_kwargs():
    label, kwargs = bench.parse_variant("grid_size=3,grid_range=[-2,2],base_activation=gelu,kan_hidden=160")
    assert label == "grid_size=3,grid_range=[-2,2],base_activation=gelu,kan_hidden=160"
    assert kwargs == {"kan": {"grid_size": 3, "grid_range": [-2, 2], "base_activation": "gelu"}, "kan_hidden": 160}
    assert bench.parse_variant("enable_standalone_scale_spline=false, bias=True,kan_hidden=None")[1] == {
        "kan": {"enable_standalone_scale_spline": False, "bias": True}, "kan_hidden": None}
    assert bench.parse_variant("kernel_path=gemm-keep")[1] == {"kernel_path": "gemm-keep"}  # a bare word with a hyphen
    with pytest.raises(SystemExit, match="key=value"):
        bench.parse_variant("grid_size")
    with pytest.raises(SystemExit, match="cannot read"):
        bench.parse_variant("grid_range=(-2")


def test_efficient_kan_swap_keeps_the_models_weights_and_outputs():
    import types

    import timm

    from vkan import KANLinear

    built = []

    def reference_layer(*args, **kwargs):  # a layer with efficient-kan's signature: vkan's, on its reference path
        built.append(kwargs)
        layer = KANLinear(*args, **kwargs)
        layer.fused = False
        return layer

    torch.manual_seed(0)
    model = timm.create_model("vit_kan_seed_base_patch16_224", depth=1, img_size=32, num_classes=5,
                              kan={"grid_size": 4})
    x = torch.randn(2, 3, 32, 32)
    n_kan = sum(isinstance(m, KANLinear) for m in model.modules())
    with torch.no_grad():
        before = model(x)
        bench.with_efficient_kan_layers(model, types.SimpleNamespace(KANLinear=reference_layer))
        torch.testing.assert_close(model(x), before)
    assert len(built) == n_kan == 4  # one block's two layers and the head's two
    assert all(k["grid_size"] == 4 and k["base_activation"] is torch.nn.SiLU for k in built)
    assert all(m.fused is False for m in model.modules() if isinstance(m, KANLinear))  # the new layers are in place
    with_bias = timm.create_model("vit_kan_tiny_patch4_32", depth=1, num_classes=5, kan={"bias": True})
    no_bias = types.SimpleNamespace(KANLinear=lambda *a, **k: KANLinear(*a, **k, bias=False))
    with pytest.raises(ValueError, match="no place for bias"):
        bench.with_efficient_kan_layers(with_bias, no_bias)


def test_efficient_kan_import_failure_says_where_to_point():
    with pytest.raises(SystemExit, match="src/"):
        bench.import_efficient_kan("/nonexistent/folder")


def test_app_step_benchmark_times_the_apps_step_its_fixed_batch_and_the_bare_step(tmp_path, monkeypatch, bench_script):
    import json

    app_step = bench_script("app_step")
    out = tmp_path / "app.json"
    refits = []
    import vkan.train as vtrain

    monkeypatch.setattr(vtrain, "refit_grids", lambda run, x: refits.append(run.step))
    app_step.main(["data=synthetic", "data.n_train=256", "data.n_test=64", "model.kwargs.depth=1",
                   "trainer.batch_size=32", "trainer.device=cpu", "trainer.grid_update.every=4",
                   "trainer.grid_update.until_epoch=5", "--steps", "2", "--rounds", "2", "--checkpoints", "2",
                   "--json", str(out)])
    result = json.loads(out.read_text())
    # warm-up 2 + 2 rounds x 2 steps, for each of the two app ways: 12 steps, a grid refit at steps 0, 4 and 8
    assert result["steps_taken"] == 12 and refits == [0, 4, 8]
    assert result["model"] == "vit_kan_tiny_patch4_32" and result["batch"] == 32 and result["path"] == "eager"
    rows = {r["way"]: r for r in result["rows"]}
    assert list(rows) == ["app", "app, one batch", "bare"]
    assert all(r["img_per_s"] > 0 and len(r["rounds"]) == 2 for r in rows.values())
    assert rows["bare"]["vs_bare"] == 1.0
    assert result["profile"] == []
    checkpoint = result["checkpoint"]  # the run's own checkpoint, written twice, against an epoch of 8 steps
    assert len(checkpoint["saves_s"]) == 2 and checkpoint["save_s"] > 0 and checkpoint["mb"] > 1
    assert result["steps_per_epoch"] == 8 and checkpoint["epoch_train_s"] == pytest.approx(
        8 * 32 / rows["app"]["img_per_s"])


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_app_step_parts_off_switch_one_part_of_the_apps_step_off_inside_the_block_only(tmp_path, bench_script):
    app_step = bench_script("app_step")
    run = app_step.build_run(["data=synthetic", "data.n_train=64", "data.n_test=32", "model.kwargs.depth=1",
                              "trainer.batch_size=32", "trainer.device=cpu"], tmp_path)
    try:
        assert list(app_step.step_loops(run, parts_off=app_step.PARTS)) == [
            "app", "app, one batch", "app, one batch, no clipping", "app, one batch, no smoothing",
            "app, one batch, no schedule", "app, one batch, no loss-graphs", "bare"]
        head, group = run.net.loss_head, run.optimizer.param_groups[0]
        head.forward = lambda *args: "graphed"  # as graph_loss_head leaves it
        with app_step.part_off(run, "clipping"):
            assert run.cfg.trainer.grad_clip is None
        with app_step.part_off(run, "smoothing"):
            assert head.criterion.label_smoothing == 0.0 and head.forward.__func__ is type(head).forward  # its own
        with app_step.part_off(run, "loss-graphs"):
            assert head.criterion.label_smoothing == 0.1 and head.forward.__func__ is type(head).forward
        with app_step.part_off(run, "schedule"):
            lr = group["lr"]
            run.scheduler.step()
            assert group["lr"] == lr
        assert run.cfg.trainer.grad_clip == 1.0 and head.criterion.label_smoothing == 0.1
        assert head.forward() == "graphed"  # its graphs back
        run.scheduler.step()  # in the warm-up: the rate moves again
        assert group["lr"] != lr
        with pytest.raises(ValueError, match="unknown part 'ema'"), app_step.part_off(run, "ema"):
            pass
        run.mixup = object()  # under mixup, plain cross-entropy on its targets would still be smoothed
        with pytest.raises(ValueError, match="under mixup the smoothing is in mixup's targets"), \
                app_step.part_off(run, "smoothing"):
            pass
    finally:
        run.logger.finish(failed=False)


@pytest.mark.slow
def test_app_speed_reads_each_real_runs_summary_and_compares_kan_with_its_twin(tmp_path, capsys, bench_script):
    """Real train.py runs (CPU, synthetic data), one round of the two twins: each row's img/s is its run's
    summary.json img_per_s and the KAN row's vs_twin their ratio (the order of rounds: the test after next)."""
    import json

    app_speed = bench_script("app_speed")
    out = tmp_path / "speed.json"
    app_speed.main(["--vary", "model=vit_kan,vit", "--rounds", "1", "--out", str(tmp_path / "runs"), "--json",
                    str(out), "data=synthetic", "data.n_train=64", "data.n_test=32", "model.kwargs.depth=1",
                    "trainer.epochs=2", "trainer.batch_size=32", "trainer.device=cpu"])
    printed = capsys.readouterr().out
    rows = {r["config"]: r for r in json.loads(out.read_text())["rows"]}
    kan, mlp = (json.loads((tmp_path / "runs" / name / "summary.json").read_text())
                for name in ("r0_c0_vit_kan", "r0_c1_vit"))
    assert rows["model=vit_kan"]["rounds"] == [kan["img_per_s"]] and rows["model=vit"]["rounds"] == [mlp["img_per_s"]]
    assert rows["model=vit_kan"]["vs_twin"] == pytest.approx(kan["img_per_s"] / mlp["img_per_s"])
    assert "vs_twin" not in rows["model=vit"] and rows["model=vit"]["path"] == "eager"
    assert rows["model=vit"]["peak_mem_gib"] is None  # a CPU run's metrics.csv has no peak memory
    assert "| model=vit_kan |" in printed


def test_app_speed_says_what_failed_and_where_its_output_is(tmp_path, bench_script):
    app_speed = bench_script("app_speed")
    with pytest.raises(SystemExit, match=r"stopped early: model=vit_kan: train.py exited 1 .*r0_c0_vit_kan.log:\n"
                                         r".*trainer.epochs=0 is not valid"):
        app_speed.main(["--vary", "model=vit_kan", "--rounds", "1", "--out", str(tmp_path), "trainer.epochs=0",
                        "data=synthetic", "trainer.device=cpu"])
    with pytest.raises(SystemExit, match=r"--vary 'model': give KEY=VALUE1,VALUE2"):
        app_speed.main(["--vary", "model", "data=synthetic"])


def test_app_speed_stopped_early_keeps_the_rounds_every_configuration_finished(tmp_path, monkeypatch, capsys,
                                                                                bench_script):
    """A run failing in round 2 (or --minutes passing) ends the benchmark; its table and JSON hold round 1, paired
    twin by twin, and it exits saying what stopped it and where the runs are; a row lists every path its runs gave."""
    import json

    app_speed = bench_script("app_speed")
    rates = {("vit_kan", 0): 90.0, ("vit", 0): 100.0, ("vit_kan", 1): 50.0}
    started = []

    def fake_run(config, common, run_dir):
        model, r = dict(config)["model"], int(run_dir.name[1])
        started.append((model, r))
        if (model, r) not in rates:
            raise app_speed.RunFailed(f"{app_speed.label(config)}: train.py exited 1")
        return {"img_per_s": rates[model, r], "peak_mem_gib": None, "final_val_acc": 0.5,
                "path": "eager" if r else "eager, 12 feed-forward sublayers as CUDA graphs"}

    monkeypatch.setattr(app_speed, "run_once", fake_run)
    out = tmp_path / "speed.json"
    with pytest.raises(SystemExit, match=r"stopped early: model=vit: train.py exited 1\nThe table has the 1 round"):
        app_speed.main(["--vary", "model=vit_kan,vit", "--rounds", "3", "--out", str(tmp_path), "--json", str(out)])
    assert started == [("vit_kan", 0), ("vit", 0), ("vit", 1)]  # round 2 starts with the twin, which fails
    result = json.loads(out.read_text())
    assert result["rounds"] == 1 and result["stopped"] == "model=vit: train.py exited 1"
    kan = result["rows"][0]
    assert kan["rounds"] == [90.0] and kan["vs_twin_rounds"] == [0.9]
    assert "| model=vit_kan | 90 | 90 | 0.900 (0.900) |" in capsys.readouterr().out

    rows, done, stopped = app_speed.measure(app_speed.configurations(["model=vit_kan"]), [], 2, tmp_path)
    assert done == 2 and stopped is None  # one round graphed, one plain (a capture that fell back): both listed
    assert rows[0]["path"] == "eager / eager, 12 feed-forward sublayers as CUDA graphs" and "vs_twin" not in rows[0]
    rows, done, stopped = app_speed.measure(app_speed.configurations(["model=vit_kan"]), [], 2, tmp_path, minutes=0)
    assert done == 0 and rows[0]["img_per_s"] is None and stopped.startswith("--minutes 0 had passed before round 0")


def test_app_step_profile_gives_host_calls_a_step_per_way(tmp_path, capsys, bench_script):
    import json

    app_step = bench_script("app_step")
    out = tmp_path / "app.json"
    overrides = ["data=synthetic", "data.n_train=128", "data.n_test=32", "model.kwargs.depth=1",
                 "trainer.batch_size=32", "trainer.device=cpu"]
    app_step.main([*overrides, "--steps", "1", "--rounds", "1", "--profile", "2", "--json", str(out)])
    profiled = {r["way"]: r for r in json.loads(out.read_text())["profile"]}
    assert list(profiled) == ["app", "app, one batch", "bare"]
    for row in profiled.values():
        assert row["wall_ms"] > 0 and row["device_busy_ms"] is None  # no device on a CPU
        assert 0 < len(row["host_calls"]) <= 8
    out = capsys.readouterr().out
    assert "| way (profiled) |" in out and "| way (profiled) | host calls beyond the bare step's" in out
    assert "beyond_bare" not in profiled["bare"]
    for way in ("app", "app, one batch"):  # at most 8 calls (top), each costing more than in the bare step
        extra = {c["name"]: c for c in profiled[way]["beyond_bare"]}
        assert len(extra) <= 8 and all(c["self_ms"] > 0 or c["calls"] > 0 for c in extra.values())
    full = {c["name"]: c for c in app_step.beyond(
        [{"name": "a", "self_ms": 2.0, "calls": 3.0}, {"name": "b", "self_ms": 1.0, "calls": 1.0},
         {"name": "c", "self_ms": 0.5, "calls": 2.0}],
        [{"name": "a", "self_ms": 1.5, "calls": 3.0}, {"name": "b", "self_ms": 1.2, "calls": 1.0}])}
    assert full == {"a": {"name": "a", "self_ms": 0.5, "calls": 0.0}, "c": {"name": "c", "self_ms": 0.5, "calls": 2.0}}
    # calls are counted a step: one optimizer step per training step, whatever the number of steps profiled
    run = app_step.build_run(overrides, tmp_path / "run")
    for steps in (2, 3):
        calls = {c["name"]: c["calls"] for c in app_step.profile(run, steps, top=None)[2]["host_calls"]}
        assert calls["Optimizer.step#AdamW.step"] == 1.0
    # counted host work a step, for the ways --parts-off adds too: no launches on a CPU; clipping's operator calls
    rows = {r["way"]: r for r in app_step.profile(run, 2, parts_off=["clipping"])}
    assert list(rows) == ["app", "app, one batch", "app, one batch, no clipping", "bare"]
    assert all(r["launches"] == 0 for r in rows.values())
    ops = [rows[way]["aten_ops"] for way in ("bare", "app, one batch, no clipping", "app, one batch")]
    assert ops == sorted(set(ops))  # each way more than the one before
    assert app_step.host_work([{"name": "cudaLaunchKernel", "calls": 3.0}, {"name": "cudaGraphLaunch", "calls": 2.0},
                               {"name": "aten::mm", "calls": 4.0}, {"name": "aten::add", "calls": 1.0},
                               {"name": "cudaMemcpyAsync", "calls": 7.0}]) == {"launches": 5.0, "aten_ops": 5.0}


@pytest.mark.slow
def test_logit_gap_benchmark_sets_rounding_against_nearby_models_at_each_stage(tmp_path, capsys, bench_script):
    import json

    logit_gap = bench_script("logit_gap")
    out = tmp_path / "gap.json"
    logit_gap.main(["data=synthetic", "data.n_train=128", "data.n_test=64", "model=vit", "model.kwargs.depth=1",
                    "trainer.batch_size=32", "trainer.device=cpu", "trainer.precision=bf16", "optimizer.lr=0.01",
                    "scheduler.warmup_epochs=0", "--stages", "2", "5", "--later", "1", "3", "--backend", "aot_eager",
                    "--val-batches", "2", "--json", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert [(r["step"], r["pair"]) for r in rows] == [
        (2, "compiled / eager"), (2, "autocast / fp32"), (3, "1 steps later / now"), (5, "3 steps later / now"),
        (5, "compiled / eager"), (5, "autocast / fp32"), (6, "1 steps later / now"), (8, "3 steps later / now")]
    assert [r["stage"] for r in rows] == [2] * 4 + [5] * 4
    for stage in (rows[:4], rows[4:]):
        compiled, rounding, one, three = (r["gap"] for r in stage)
        assert compiled < 1e-3  # aot_eager runs the module's own operators
        assert 0 < rounding < 0.05 < one  # bf16 against fp32: rounding; a step at lr 0.01: another model
        assert three > 0.05
    assert "| compiled / eager |" in capsys.readouterr().out


def test_logit_gap_benchmark_refuses_stages_closer_than_their_nearby_models(capsys, bench_script):
    logit_gap = bench_script("logit_gap")
    with pytest.raises(SystemExit):  # the second stage would begin before the first's nearby models end
        logit_gap.main(["data=synthetic", "--stages", "2", "4", "--later", "1", "3"])
    assert "at least max(--later) apart" in capsys.readouterr().err


def test_device_busy_time_merges_overlapping_kernels_and_leaves_out_host_events_and_annotations(bench_script):
    from types import SimpleNamespace

    from torch.autograd import DeviceType

    def event(device, begin, end, annotation=False):
        return SimpleNamespace(device_type=device, is_user_annotation=annotation,
                               time_range=SimpleNamespace(start=begin, end=end))

    events = [event(DeviceType.CUDA, 0, 10), event(DeviceType.CUDA, 5, 12),  # two streams overlapping: 0-12
              event(DeviceType.CUDA, 20, 25), event(DeviceType.CUDA, 21, 22),  # one inside another: 20-25
              event(DeviceType.CPU, 0, 100), event(DeviceType.CUDA, 30, 90, annotation=True)]
    assert bench_script("app_step").device_busy_us(events) == 17


@pytest.mark.gpu
def test_layer_rounds_give_per_round_ratios_relative_to_the_fused_layer():
    rows = bench.bench_layers([(512, 32, 64)], rounds=2)
    by_impl = {r["impl"]: r for r in rows}
    assert {"vkan fused", "vkan reference", "nn.Linear (same params)"} <= set(by_impl)
    fused, ref = by_impl["vkan fused"], by_impl["vkan reference"]
    assert fused["fused_speedup"] == 1.0 and ref["speedup_vs_reference"] == 1.0
    assert all(len(r["ms_rounds"]) == 2 and r["ms"] > 0 for r in rows)
    # the reference row's "fused speed-up" and the fused row's "speed-up vs reference" are the same ratios
    assert ref["fused_speedup"] == pytest.approx(fused["speedup_vs_reference"])
    assert 0 < fused["rel_err_vs_reference"] < 2e-2
    # the CUDA-graph column: every row captured, the fused row is its own unit
    assert all(r["graph_ms"] > 0 and r["graph_error"] is None for r in rows)
    assert fused["graph_fused_speedup"] == 1.0
    assert ref["graph_fused_speedup"] == pytest.approx(ref["graph_ms"] / fused["graph_ms"])


@pytest.mark.gpu
def test_graph_timing_reports_a_step_that_cannot_be_captured_and_recovers():
    x = torch.randn(256, 256, device="cuda")
    ms, err = bench.graph_time_ms(lambda: (x @ x).sum().item())  # a host sync: not capturable
    assert ms is None and err
    ms, err = bench.graph_time_ms(lambda: x @ x, rep_ms=20)  # the next capture still works
    assert err is None and ms > 0


@pytest.mark.slow
def test_cpu_rows_compare_each_model_with_the_first_and_measure_memory_per_process():
    rows = bench.bench_cpu(batches=(2,), rounds=2)
    assert [r["model"] for r in rows] == ["vit_mlp_tiny_patch4_32", "vit_kan_tiny_patch4_32"]
    mlp, kan = rows
    assert mlp["base"] == kan["base"] == "vit_mlp_tiny_patch4_32" and mlp["time_vs_base"] == mlp["mem_vs_base"] == 1
    assert len(kan["s_rounds"]) == 2 and kan["ratio_min"] <= kan["time_vs_base"] <= kan["ratio_max"]
    per_round = [k / m for k, m in zip(kan["s_rounds"], mlp["s_rounds"])]  # same-round steps, side by side
    assert kan["time_vs_base"] == pytest.approx(statistics.median(per_round))
    assert kan["peak_rss_gib"] > 0.1 and kan["mem_vs_base"] == kan["peak_rss_gib"] / mlp["peak_rss_gib"]


def _allocate_and_measure(mib: int) -> float:
    block = bytearray(mib * 2**20)  # touched: resident
    block[::4096] = b"x" * len(block[::4096])
    return bench.peak_rss_gib()


def test_a_spawned_process_measures_its_own_peak_memory_not_its_parents():
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    parent = torch.ones(600 * 2**20, dtype=torch.uint8)  # 600 MiB resident here before the children start
    parent_peak = bench.peak_rss_gib()
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        small = pool.submit(_allocate_and_measure, 10).result()
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        large = pool.submit(_allocate_and_measure, 400).result()
    assert large - small > 0.3  # a child's own 400 MiB shows in its peak ...
    assert small < parent_peak - 0.4  # ... and the parent's 600 MiB does not (ru_maxrss would carry it over)
    del parent


def test_a_stopped_model_benchmark_keeps_the_blocks_it_finished_in_its_json(tmp_path, monkeypatch):
    import json

    monkeypatch.setattr(bench.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(bench.torch.cuda, "get_device_name", lambda: "test GPU")
    monkeypatch.setattr(bench, "warm_up_gpu", lambda: None)
    blocks = []

    def one_block(compile_modes, configs, **kwargs):
        if len(blocks) == 2:  # the third block (tiny32 under reduce-overhead) is stopped
            raise KeyboardInterrupt
        blocks.append((configs[0][0], compile_modes[0]))
        return [{"model": configs[0][0], "compiled": compile_modes[0], "img_per_s": 1.0}]

    monkeypatch.setattr(bench, "bench_models", one_block)
    out = tmp_path / "models.json"
    with pytest.raises(KeyboardInterrupt):
        bench.main(["--skip-layers", "--models", "tiny32", "--compile-modes", "default,reduce-overhead",
                    "--json", str(out)])
    saved = json.loads(out.read_text())
    assert [(r["model"], r["compiled"]) for r in saved["models"]] == blocks
    assert [mode for _, mode in blocks] == [False, True] and saved["gpu"] == "test GPU"


def test_no_eager_times_only_the_compile_modes_and_refuses_to_time_nothing(monkeypatch):
    monkeypatch.setattr(bench.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(bench.torch.cuda, "get_device_name", lambda: "test GPU")
    monkeypatch.setattr(bench, "warm_up_gpu", lambda: None)
    modes = []
    monkeypatch.setattr(bench, "bench_models",
                        lambda compile_modes, configs, **kwargs: modes.extend(compile_modes) or [])
    bench.main(["--skip-layers", "--models", "tiny32", "--no-eager", "--compile-modes", "default,reduce-overhead"])
    assert modes == [True, "reduce-overhead"]
    with pytest.raises(SystemExit, match="drop one of them"):
        bench.main(["--skip-layers", "--no-eager", "--no-compile"])


def test_graphed_twins_are_compared_with_each_other_and_their_peak_holds_their_graphs(monkeypatch):
    """--graph-ffn: the graphed KAN row's vs_twin is over the graphed MLP's per-round times, a plain row's over the
    plain MLP's; a graphed row's peak adds what its capture kept; the flag reaches bench_models."""
    rows = [{"model": "mlp", "ms_rounds": [10.0, 10.0], "peak_gib": 1.0},
            {"model": "kan", "ms_rounds": [12.5, 12.5], "peak_gib": 1.0},
            {"model": "mlp" + bench.GRAPHED, "ms_rounds": [8.0, 9.0], "peak_gib": 1.0},
            {"model": "kan" + bench.GRAPHED, "ms_rounds": [8.5, 10.0], "peak_gib": 1.0}]
    out = bench.with_graphs_counted(rows, "mlp", {"mlp" + bench.GRAPHED: 0.5, "kan" + bench.GRAPHED: 1.0})
    assert [r["vs_twin"] for r in out] == [1.0, 0.8, 1.0, pytest.approx((8 / 8.5 + 9 / 10) / 2)]
    assert [r["peak_gib"] for r in out] == [1.0, 1.0, 1.5, 2.0] and out[3]["mem_vs_base"] == 2.0

    monkeypatch.setattr(bench.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(bench.torch.cuda, "get_device_name", lambda: "test GPU")
    monkeypatch.setattr(bench, "warm_up_gpu", lambda: None)
    asked = []
    monkeypatch.setattr(bench, "bench_models", lambda compile_modes, configs, **kwargs: asked.append(kwargs) or [])
    bench.main(["--skip-layers", "--models", "tiny32", "--no-compile", "--graph-ffn"])
    assert [kwargs["graph_ffn"] for kwargs in asked] == [True]


def test_graph_ffn_graphs_both_twins_and_each_variant_on_its_own_kernels(monkeypatch):
    """Eager blocks with graph_ffn: the plain twins and variants, then the graphed twins (on "auto", as the app runs
    them) and each variant graphed on the kernels it names; compiled blocks graph nothing."""
    built, graphed = {}, []

    class Model:
        def cuda(self):
            return self

        def train(self):
            return self

    def build(name, img, chans, **kwargs):
        model = Model()
        built[id(model)] = (name, kwargs)
        return model

    def time_steps(models, img, batch, chans, compiled, rounds, base):
        return [{"model": label, "ms_rounds": [1.0], "peak_gib": 1.0, **dict(zip(("name", "kwargs"), built[id(m)]))}
                for label, m in models.items()]

    monkeypatch.setattr(bench, "bench_model", build)
    monkeypatch.setattr(bench, "capture_sublayers", lambda model, *args: graphed.append(built[id(model)]) or 0.5)
    monkeypatch.setattr(bench, "time_train_steps", time_steps)
    config = bench.MODEL_CONFIGS["tiny32"]
    rows = bench.bench_models([False], [config], reference=False, variants=["kernel_path=fused"], graph_ffn=True)
    kan, mlp = config[0], config[1]
    assert [(r["model"], r["kwargs"]) for r in rows] == [
        (mlp, {}), (kan, {}), (f"{kan} kernel_path=fused", {"kernel_path": "fused"}),
        (mlp + bench.GRAPHED, {}), (kan + bench.GRAPHED, {}),
        (f"{kan} kernel_path=fused" + bench.GRAPHED, {"kernel_path": "fused"})]
    assert len(graphed) == 3 and [r["peak_gib"] for r in rows] == [1.0] * 3 + [1.5] * 3
    assert "vs_twin" in rows[0]
    graphed.clear()
    rows = bench.bench_models([True], [config], reference=False, variants=["kernel_path=fused"], graph_ffn=True)
    assert len(rows) == 3 and not graphed and "vs_twin" not in rows[0]


def test_epoch_times_splits_a_runs_clock_into_first_epochs_steady_epochs_and_the_last_ones_extra(tmp_path,
                                                                                                 bench_script):
    epoch_times = bench_script("epoch_times")
    log = ["[2026-12-01 10:00:00,000][vkan.train][INFO] - vit: 5.50 M parameters | cuda | set up in 20 s | run folder x"]
    clock, rows = 30.0, ["epoch,train_loss,epoch_s,eval_s"]
    for epoch in range(1, 6):  # epoch 1 trains 25 s (compiling); the others 1 s, with 0.25 s outside; 5 ends 9 s later
        trained = 25.0 if epoch == 1 else 1.0
        clock += trained + (0.25 if epoch < 5 else 9.25)
        log.append(f"[2026-12-01 10:{int(clock // 60):02d}:{clock % 60:06.3f}".replace(".", ",") +
                   f"][vkan.train][INFO] - epoch {epoch:3d}/5 | loss 1.0 | {trained:.1f} s")
        rows.append(f"{epoch},1.0,{trained},{0.1 if epoch < 5 else 9.0}")
    (tmp_path / "train.log").write_text("\n".join(log + ["[2026-12-01 10:09:00,000][vkan][ERROR] - not an epoch"]))
    (tmp_path / "metrics.csv").write_text("\n".join(rows) + "\n")
    out = epoch_times.report(tmp_path)
    assert out[2] == "| 1 | 1-5 | 55.2 s | 25.0 s |"  # 30 s to the start, 25 s training, 0.25 s after it
    assert out[4] == "Epochs 2-4 (3): log lines 1.250 s apart, training 1.000 s, outside training 0.250 s " \
                     "(scoring 0.100 s)."
    assert out[5] == "Epoch 5, the invocation's last: 9.0 s more outside training than those (scoring 9.0 s)."
    assert epoch_times.report(tmp_path, (3, 3))[4].startswith("Epochs 3-3 (1): log lines 1.250 s apart")
    log.insert(4, log[0].replace("10:00:00,000", "10:00:58,000"))  # a resume after epoch 3 (line at 57.75 s)
    (tmp_path / "train.log").write_text("\n".join(log))
    out = epoch_times.report(tmp_path, (2, 4))
    assert out[2:4] == ["| 1 | 1-3 | 55.2 s | 25.0 s |", "| 2 | 4-5 | 1.0 s | 1.0 s |"]
    assert out[5].startswith("Epochs 2-4 (2): log lines 1.250 s apart")  # 3 -> 4 spans the two invocations: left out
    with pytest.raises(SystemExit, match="train.log not found: give run folders"):
        epoch_times.report(tmp_path / "train.log")


def test_compile_race_counts_each_rounds_first_checks_over_the_limit_and_their_retries(tmp_path, bench_script):
    race = bench_script("compile_race")

    def check(gap):
        return (f"[2026-12-01 10:00:09,000][vkan.train][INFO] - compiled path checked: accuracy 0.9 on the validation "
                f"split, 0.9 outside torch.compile; logits {gap}% apart (limit 3%)")

    retried = "[2026-12-01 10:00:09,000][vkan.train][WARNING] - epoch 2 is trained again from its start on graphs " \
              "compiled afresh, torch.compile's on-disk caches off until this run ends: ..."
    consoles = {(0, 1): [check("0.30")], (1, 1): [check("0.25")],
                (0, 2): [check("43.31"), "[2026-12-01 10:00:09,000][vkan.train][INFO] - compiled path: batches over "
                         "the limit: 1 of 10 (9: 98.0%)", "[2026-12-01 10:00:10,000][vkan.train][INFO] - compiled "
                         "path, the same graphs again: logits 0.31% apart, batches over the limit: 0 of 10", retried,
                         check("0.17")],  # failed (a passing fault: sound when scored again), trained again, passed
                (1, 2): [check("nan"), "error: the compiled model's logits ..."],  # non-finite: over the limit too
                (0, 3): ["error: out of memory"]}  # a run that stopped before its check; run1 logged nothing
    for (run, round_), lines in consoles.items():
        (tmp_path / f"run{run}.round{round_}.log").write_text("\n".join(lines) + "\n")
    assert race.checks_in(tmp_path / "run0.round2.log") == {
        "gaps": [43.31, 0.17], "batches_over": ["1/10"], "again": [{"gap": 0.31, "batches_over": "0/10"}],
        "retried": True}
    assert race.cell(race.checks_in(tmp_path / "run0.round2.log")) == "43.31 (1/10; again 0.31, 0/10) [0.17]"
    assert race.cell(race.checks_in(tmp_path / "run1.round1.log")) == "0.25"
    table = race.report(tmp_path, 2, 3, {1: {"run0": 0, "run1": 0}, 2: {"run0": 0, "run1": 1}, 3: {"run0": 1}})
    first, second, third = table["rounds"]
    assert (first["checks"], first["over_limit"]) == (2, 0)
    assert (second["checks"], second["over_limit"]) == (2, 2) and second["runs"]["run1"]["exit_code"] == 1
    assert second["runs"]["run0"]["gaps"] == [43.31, 0.17]
    assert third["checks"] == 0 and third["runs"]["run1"]["exit_code"] is None


def test_compile_race_starts_the_chosen_model_then_resumes_it_from_its_folder(tmp_path, bench_script):
    race = bench_script("compile_race")
    start = race.command(tmp_path / "run3", 3, 2, 1, ["model=vit", "trainer.compile_mode=default"])
    assert "model=vit" in start and "seed=3" in start and start[-1] == "trainer.compile_mode=default"
    resume = race.command(tmp_path / "run3", 3, 2, 2, ["model=vit", "trainer.compile_mode=default"])
    assert f"resume={tmp_path / 'run3'}" in resume and not any(a.startswith(("model=", "trainer.")) for a in resume)


@pytest.mark.slow
def test_compile_race_starts_then_resumes_every_run_side_by_side(tmp_path, monkeypatch):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "bench" / "compile_race.py"
    tiny = ["trainer.device=cpu", "data.subset=100", "model.kwargs.depth=1", "trainer.batch_size=50"]
    monkeypatch.chdir(tmp_path)  # a relative --root is the folder it names from here, not from the checkout
    out = subprocess.run([sys.executable, str(script), "--root", "race", "--procs", "2", "--rounds", "2", "--set",
                          *tiny, "--json", "race.json"],
                         capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stdout + out.stderr
    root = tmp_path / "race"
    for run in ("run0", "run1"):  # each started in round 1 and resumed in round 2, one epoch each
        summary = json.loads((root / run / "summary.json").read_text())
        assert summary["status"] == "finished" and summary["epochs_done"] == 2
        assert "resuming after epoch 1" in (root / f"{run}.round2.log").read_text()
        assert "epoch   1/2" in (root / f"{run}.round1.log").read_text()
        assert not (root / run / ".resume-2").exists()
    assert "2 run(s) logged no check: not compiled (a CPU?)" in out.stdout  # the CPU runs eager: no check
    assert [r["checks"] for r in json.loads((tmp_path / "race.json").read_text())["rounds"]] == [0, 0]
    again = subprocess.run([sys.executable, str(script), "--root", str(root)], capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 2 and "is not empty" in again.stderr
    refused = subprocess.run([sys.executable, str(script), "--root", str(tmp_path / "other"), "--set",
                              "trainer.limit_val_batches=2"], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "unchecked" in refused.stderr and not (tmp_path / "other").exists()


@pytest.mark.slow
def test_decode_race_starts_runs_together_and_times_each_one_building_the_photo_set(tmp_path, bench_script):
    from PIL import Image

    for c, shade in (("daisy", 40), ("tulips", 200)):
        (tmp_path / "flowers" / c).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (30 + i, 24), (shade, i * 50, 0)).save(tmp_path / "flowers" / c / f"{i}.jpg")
    race = bench_script("decode_race")
    for mode in ("turns", "nocache"):
        seconds = race.race(mode, 2, "flowers", str(tmp_path), lead_s=5.0)  # a late import only starts a run late
        assert len(seconds) == 2 and all(s > 0 for s in seconds)
    assert sorted(p.suffix for p in (tmp_path / "flowers").rglob("*")) == [""] * 2 + [".jpg"] * 6  # read, not written


def test_ffn_step_takes_each_twins_first_sublayer_at_the_models_token_count_and_pins_the_kan_path(bench_script):
    ffn = bench_script("ffn_step")
    rows = list(ffn.sublayers("tiny32", ["auto-keep", "fused"]))
    assert [label for label, *_ in rows] == ["mlp", "kan auto-keep", "kan fused"]
    assert {(tokens, dim, depth) for _, _, tokens, dim, depth in rows} == {(512 * 65, 192, 12)}
    assert type(rows[0][1]).__name__ == "Mlp" and rows[0][1].fc1.out_features == 768
    for (label, mlp, *_), path in zip(rows[1:], ["auto-keep", "fused"]):
        assert [mlp.fc1.kernel_path, mlp.fc2.kernel_path] == [path, path]


def test_step_kernels_sorts_kernel_names_into_kinds_and_sums_each_kind(bench_script):
    probe = bench_script("step_kernels")
    kernels = {  # names as the H200's profiler gave them (bench/results/2026-12-03-twentyeighth/), shortened
        "kan_fwd_kernel": 0.5, "kan_unpack_kernel": 0.25,
        "nvjet_sm90_tst_192x128_64x5_1x2_h_bz_coopB_NNT": 1.0,
        "void cublasLt::splitKreduce_kernel<32, 16, int, float, __nv_bfloat16, float>": 0.5,
        "triton_per_fused__to_copy_add_native_layer_norm_backward_view_12": 0.125,
        "void at::native::(anonymous namespace)::multi_tensor_apply_kernel<at::native::(anonymous namespace)::"
        "FusedOptimizerTensorListMetadata<4>>": 0.25,
        "cudnn_generated_fort_native_sdpa_sm90_flash_bprop_wgmma_f16_knob_26_64x64x64_1x4x1_cga1x1x1_kernel0_0": 2.0,
        "void cudnn::fusion::compute_dot_do_o_specialized<true, 64>(void const*)": 0.5,
        "void cudnn::fusion::convert_dq_to_16bits<true>(void const*, void*)": 0.5,
        "void implicit_convolve_sgemm<__nv_bfloat16, __nv_bfloat16, 128, 5, 5, 3, 3, 3, 1>(int, int)": 1.0,
        "void cudnn::engines_precompiled::nchwToNhwcKernel<__nv_bfloat16, __nv_bfloat16, float>": 0.5,
        "void at::native::reduce_kernel<128, 4, at::native::ReduceOp<float>>": 0.0625, "Memset (Device)": 0.0625}
    assert probe.by_kind(kernels) == {"kan": 0.75, "optimizer": 0.25, "attention": 3.0, "conv": 1.5, "matmul": 1.5,
                                      "inductor": 0.125, "other": 0.125}
    assert probe.kind("triton_poi_fused_kan_linear_0") == "inductor"  # Inductor's kernels are not the KAN layer's


def test_dx_epilogue_variants_give_the_shipped_input_grad_and_its_floors_do_not(bench_script):
    """bench/dx_epilogue.py's other forms of the input grad's last step (the derivatives column by column, or on the
    3-D tile, summed by reshape or by a product) against the shipped kernel's dX in fp32 (the CPU interpreter's bf16
    dots are not exact), at sizes that leave partial tiles; the ``ones`` floors skip the derivatives, so they must not
    match. On a GPU the script's products round their fp32 inputs to TF32 and the shipped kernel's do not (torch's
    TF32 switch is off): a looser bound there."""
    from vkan.kan import uniform_grid
    from vkan.ops import kan_op

    epilogue = bench_script("dx_epilogue")
    torch.manual_seed(0)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    m, n_in, n_out = 40, 20, 24  # 40 rows over 32-row tiles, 20 inputs over 16-input tiles
    grid = uniform_grid(n_in, 5, 3, (-1, 1), device=dev)  # KANLinear's default: uniform, order 3
    x, gy = torch.randn(m, n_in, device=dev), torch.randn(m, n_out, device=dev)
    weights = torch.randn(n_out, n_in, 8) * 0.1, torch.rand(n_out, n_in), torch.randn(n_out, n_in) * 0.1
    _, wt, cp = kan_op._pack(*(w.to(dev) for w in weights), torch.float32)
    shipped = kan_op._launch_dx(gy, x, grid, wt, cp, k=3, uniform=True, act=1, has_base=True)  # its own base dispatch

    def rel_diff(name):
        dx = epilogue.columns_dx(gy, x, grid, wt, epilogue.EPILOGUES[name], 32, 16, 128, 4, 3, cp)
        return ((dx - shipped).abs().max() / shipped.abs().max()).item()

    for name in ("columns reshape", "columns dot32", "tile dot32"):
        assert rel_diff(name) < (5e-3 if dev == "cuda" else 1e-5), name
    assert rel_diff("ones reshape") > 0.1

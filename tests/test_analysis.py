"""Loading runs into DataFrames, and both notebooks end to end against runs trained here on CPU."""
import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import open_dict

from vkan import analysis
from vkan.train import train

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, data_dir):
    """A 2 x 2 sweep (KAN / MLP twin x seed 0 / 1) laid out like a Hydra multirun folder."""
    root = tmp_path_factory.mktemp("multirun")
    jobs = [(m, s) for m in ("vit_kan", "vit") for s in (0, 1)]
    for num, (model, seed) in enumerate(jobs):
        with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
            cfg = compose("train", overrides=[
                f"model={model}", f"seed={seed}", "data=mnist", "data.subset=300", "trainer.epochs=2",
                "trainer.batch_size=50", "model.kwargs.depth=1", "+model.kwargs.patch_size=7", "trainer.device=cpu",
                "trainer.progress_bar=false", "logger=none"])
        with open_dict(cfg):
            cfg.paths.output_dir = str(root / str(num))
            cfg.paths.data_dir = str(data_dir)
        train(cfg)
    return root


def test_load_runs_flattens_config_and_summary(sweep):
    runs = analysis.load_runs(sweep)
    assert len(runs) == 4 and set(runs["model_name"]) == {"vit_kan_tiny_patch4_32", "vit_mlp_tiny_patch4_32"}
    assert list(runs["cfg.seed"]) == [0, 1, 0, 1] and (runs["cfg.model.kwargs.depth"] == 1).all()
    assert runs["cfg.model.kwargs.kan.grid_range"].iloc[0] == (-1.0, 1.0)
    one = analysis.load_runs(sweep / "0")  # a single run folder works too
    assert len(one) == 1 and one["run_dir"].iloc[0] == str(sweep / "0")
    picked = analysis.load_runs([sweep / "3", str(sweep / "0")])  # and a list of folders, in its order
    assert list(picked["run_dir"]) == [str(sweep / "3"), str(sweep / "0")]
    assert set(analysis.load_curves([sweep / "3", sweep / "0"])["run_dir"]) == set(picked["run_dir"])


def test_summarize_gives_mean_and_std_over_seeds(sweep):
    runs = analysis.load_runs(sweep)
    table = analysis.summarize(runs).set_index("model_name")
    kan = runs[runs["model_name"] == "vit_kan_tiny_patch4_32"]["best_val_acc"]
    assert table.loc["vit_kan_tiny_patch4_32", "best_val_acc_mean"] == pytest.approx(kan.mean())
    assert table.loc["vit_kan_tiny_patch4_32", "best_val_acc_std"] == pytest.approx(kan.std())
    assert (table["n_runs"] == 2).all()


def test_load_curves_stacks_metrics_per_run_and_epoch(sweep):
    curves = analysis.load_curves(sweep)
    assert len(curves) == 8 and sorted(curves["epoch"].unique()) == [1, 2]
    stats = analysis.mean_curves(curves)
    assert len(stats) == 4  # 2 models x 2 epochs


def test_curves_against_minutes_put_each_epoch_at_its_runs_mean_wall_time(sweep):
    curves = analysis.load_curves(sweep)
    fig = analysis.plot_curves(curves, x="minutes")
    kan = curves[curves["model_name"] == "vit_kan_tiny_patch4_32"]
    line = next(l for l in fig.axes[1].get_lines() if l.get_label() == "vit_kan_tiny_patch4_32")
    assert list(line.get_xdata()) == pytest.approx(list(kan.groupby("epoch")["wall_s"].mean() / 60))
    assert fig.axes[1].get_xlabel() == "wall-clock minutes"
    with pytest.raises(ValueError, match="wall_s"):  # runs from before metrics.csv logged it
        analysis.plot_curves(curves.drop(columns="wall_s"), x="minutes")


def test_missing_folder_says_what_it_looked_for(tmp_path):
    with pytest.raises(FileNotFoundError, match="summary.json"):
        analysis.load_runs(tmp_path)


def test_load_wandb_runs_reads_summary_and_config_through_the_public_api(monkeypatch):
    import wandb

    class FakeRun:
        def __init__(self, i):
            self.summary = {"best_val_acc": 0.5 + i / 10, "_runtime": 3}
            self.config = {"model": {"name": f"m{i}", "kan": {"grid_size": 5}}, "seed": i}
            self.path, self.name = ["me", "vkan", f"id{i}"], f"run{i}"

    class FakeApi:
        def runs(self, path, filters=None):
            assert path == "me/vkan"
            return [FakeRun(0), FakeRun(1)]

    monkeypatch.setattr(wandb, "Api", FakeApi)
    runs = analysis.load_wandb_runs("vkan", entity="me")
    assert list(runs["best_val_acc"]) == [0.5, 0.6] and list(runs["cfg.model.kan.grid_size"]) == [5, 5]
    assert "_runtime" not in runs and runs["run_dir"].iloc[1] == "wandb:me/vkan/id1"


def test_edge_functions_sum_to_the_layer_output_for_one_input():
    from vkan import KANLinear

    layer = KANLinear(3, 2)
    x = torch.tensor([0.3, -0.7, 1.4])
    base, spline = analysis.edge_functions(layer, x)  # (3 points, out, in)
    phi = torch.stack([base[i, :, i] + spline[i, :, i] for i in range(3)], dim=1)  # phi_{o,i}(x_i)
    torch.testing.assert_close(phi.sum(1), layer(x[None])[0], rtol=1e-5, atol=1e-6)


def run_notebook(name, work_dir, **params):
    import papermill

    work_dir.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(str(REPO / "notebooks" / name), str(work_dir / name), parameters=params,
                               cwd=str(REPO / "notebooks"), kernel_name="python3", progress_bar=False)


@pytest.mark.slow
def test_compare_runs_notebook_end_to_end(sweep, tmp_path):
    figs = tmp_path / "figs"
    run_notebook("compare_runs.ipynb", tmp_path, runs_path=str(sweep), out_dir=str(figs),
                 heatmap_rows="model_name", heatmap_cols="cfg.seed")
    for png in ("curves.png", "tradeoffs.png", "heatmap.png"):
        assert (figs / png).stat().st_size > 10_000, png
    table = pd.read_csv(figs / "summary_table.csv")
    assert set(table["model_name"]) == {"vit_kan_tiny_patch4_32", "vit_mlp_tiny_patch4_32"}


@pytest.mark.slow
def test_kan_activations_notebook_end_to_end(sweep, tmp_path, data_dir):
    figs = tmp_path / "figs"
    run_notebook("kan_activations.ipynb", tmp_path, run_dir=str(sweep / "0"), out_dir=str(figs),
                 data_dir=str(data_dir), n_images=16)
    names = sorted(p.name for p in figs.glob("*.png"))
    assert names == ["edge_importance.png", "edges_blocks.0.mlp.fc1.png", "input_ranges.png"]


def test_every_notebook_parameter_line_parses_under_papermill():
    import papermill

    for path in (REPO / "notebooks").glob("*.ipynb"):
        cell = next(c for c in json.loads(path.read_text())["cells"] if "parameters" in c["metadata"].get("tags", []))
        names = [line.split("=")[0].strip() for line in "".join(cell["source"]).splitlines() if "=" in line]
        assert sorted(papermill.inspect_notebook(str(path))) == sorted(names), path


def test_newest_run_and_sweep_are_found_from_any_folder_of_the_checkout(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "train.yaml").write_text("seed: 0\n")
    (tmp_path / "notebooks").mkdir()
    with pytest.raises(FileNotFoundError, match="no runs yet under .*outputs"):
        analysis.newest_run(root=tmp_path / "notebooks")
    for folder in ("outputs/2026-11-30/10-00-00_a", "multirun/2026-11-30_11-00-00/0", "outputs/2026-12-01/09-00-00_b"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "summary.json").write_text("{}")
    assert analysis.newest_run(root=tmp_path / "notebooks") == tmp_path / "outputs/2026-12-01/09-00-00_b"
    assert analysis.newest_run("sweep", root=tmp_path / "notebooks") == tmp_path / "multirun/2026-11-30_11-00-00"


def test_notebooks_are_committed_without_outputs():
    for path in (REPO / "notebooks").glob("*.ipynb"):
        cells = json.loads(path.read_text())["cells"]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in cells if c["cell_type"] == "code"), path


def fake_run(folder: Path, model: str, seed: int, test_acc: float, holdout_acc: float, status="finished",
             recipe="light", params=5_350_000, commit="abc1234def", config=None, overrides=()) -> Path:
    """A run folder as train.py under Hydra leaves it (summary, config, .hydra/) and as bench/campaign.py tags it;
    ``config`` is its config.yaml beside the seed, ``overrides`` its command line's overrides beside the usual ones."""
    folder.mkdir(parents=True)
    name = {"vit_kan": "vit_kan_tiny_patch4_32", "vit": "vit_mlp_tiny_patch4_32"}[model]
    (folder / "summary.json").write_text(json.dumps({
        "model_name": name, "data": "cifar10", "seed": seed, "val_split": "holdout", "git_commit": commit,
        "status": status, "params": params, "best_val_acc": holdout_acc, "epochs_done": 60, "img_per_s": 7000.4,
        "wall_time_s": 480.04, "test_acc": test_acc}))
    (folder / "config.yaml").write_text(yaml.safe_dump({"seed": seed, **(config or {})}))
    (folder / ".hydra").mkdir()
    (folder / ".hydra" / "hydra.yaml").write_text(
        f"hydra:\n  runtime:\n    choices:\n      experiment: cifar10\n      model: {model}\n      hydra/launcher: basic\n")
    (folder / ".hydra" / "overrides.yaml").write_text(
        f"- experiment=cifar10\n- model={model}\n- seed={seed}\n- hydra.run.dir={folder}\n"
        + "".join(f"- {item}\n" for item in overrides))
    (folder / "campaign.json").write_text(json.dumps({"recipe": recipe, "model": {"vit_kan": "kan", "vit": "mlp"}[model],
                                                            "seed": seed}))
    return folder


def test_accuracy_rows_give_one_row_per_finished_run_with_its_command(tmp_path):
    for seed, (kan, mlp) in enumerate([(0.90, 0.91), (0.92, 0.90)]):
        fake_run(tmp_path / f"kan{seed}", "vit_kan", seed, kan, kan - 0.01)
        fake_run(tmp_path / f"mlp{seed}", "vit", seed, mlp, mlp - 0.01)
    broken = fake_run(tmp_path / "broken", "vit_kan", 2, 0.1, 0.1, status="failed: RuntimeError")
    failed = json.loads((broken / "summary.json").read_text())
    del failed["epochs_done"]  # a run that failed in its first epoch
    (broken / "summary.json").write_text(json.dumps(failed))
    rows = analysis.accuracy_rows(analysis.load_runs(tmp_path))
    assert list(rows.columns) == analysis.ACCURACY_COLUMNS and len(rows) == 4  # the failed run is left out
    assert rows.epochs.tolist() == [60] * 4 and "60.0" not in rows.to_csv()  # whole epochs, as the CSV has them
    first = rows.iloc[0]
    assert (first.dataset, first.model, first.experiment, first.seed) == ("cifar10", "vit", "cifar10", 0)
    assert first.command == "python train.py experiment=cifar10 model=vit seed=0"  # hydra.run.dir dropped
    summary = analysis.accuracy_summary(rows).set_index("model")
    assert summary.loc["vit_kan", "test_mean"] == pytest.approx(0.91)
    assert summary.loc["vit_kan", "test_std"] == pytest.approx(0.0141421, rel=1e-4)
    assert summary.loc["vit", "seeds"] == 2 and summary.loc["vit", "holdout_mean"] == pytest.approx(0.895)
    fake_run(tmp_path / "kan2", "vit_kan", 2, 0.95, 0.94, params=5_500_000)  # same command, another KAN width
    wider = analysis.accuracy_summary(analysis.accuracy_rows(analysis.load_runs(tmp_path)))
    kan = wider[wider.model == "vit_kan"].set_index("params")
    assert kan.loc[5_350_000, "seeds"] == 2 and kan.loc[5_500_000, "seeds"] == 1  # never averaged together
    fake_run(tmp_path / "mlp2", "vit", 2, 0.93, 0.92, commit="fed9876abc")  # a seed added at a later commit
    later = analysis.accuracy_summary(analysis.accuracy_rows(analysis.load_runs(tmp_path))).set_index("model")
    assert later.loc["vit", "seeds"] == 3 and later.loc["vit", "commit"] == "abc1234def fed9876abc"


def test_accuracy_summary_joins_the_seeds_of_one_config_whatever_command_composed_them(tmp_path):
    conv = {"model": {"kwargs": {"tokenizer": "conv"}}, "trainer": {"epochs": 300, "pause_after_minutes": 8, "mixup": 0},
            "paths": {"output_dir": "/tmp/a"}}
    # seed 0 named the tokenizer on its command line before the experiment file had it; seed 1 did not need to
    fake_run(tmp_path / "s0", "vit_kan", 0, 0.92, 0.93, config=conv, overrides=["+model.kwargs.tokenizer=conv"])
    # a later pause, another folder, and mixup=0 from a command line against 0.0 from a file: the same recipe
    later = {**conv, "trainer": {"epochs": 300, "pause_after_minutes": 8.3, "mixup": 0.0}, "paths": {"output_dir": "/b"}}
    fake_run(tmp_path / "s1", "vit_kan", 1, 0.93, 0.92, config=later, commit="fed9876abc")
    fake_run(tmp_path / "s2", "vit_kan", 2, 0.89, 0.89, config={**conv, "model": {"kwargs": {"tokenizer": "patch"}}})
    rows = analysis.accuracy_rows(analysis.load_runs(tmp_path))
    assert rows.recipe.tolist()[:2] == [rows.recipe[0]] * 2 and rows.recipe[2] != rows.recipe[0]
    patch, joined = analysis.accuracy_summary(rows).sort_values("test_mean").itertuples()
    assert joined.seeds == 2 and joined.test_mean == pytest.approx(0.925) and joined.commit == "abc1234def fed9876abc"
    assert joined.command == ("python train.py experiment=cifar10 model=vit_kan +model.kwargs.tokenizer=conv seed=0; "
                              "python train.py experiment=cifar10 model=vit_kan seed=1")
    assert patch.seeds == 1 and patch.test_mean == pytest.approx(0.89)  # another tokenizer: another row


def test_campaign_picks_the_recipe_with_the_best_mean_holdout_over_every_model(tmp_path, bench_script):
    campaign = bench_script("campaign")
    fake_run(tmp_path / "light-kan-s0", "vit_kan", 0, 0.5, 0.80, recipe="light")
    fake_run(tmp_path / "light-mlp-s0", "vit", 0, 0.5, 0.84, recipe="light")
    fake_run(tmp_path / "strong-kan-s0", "vit_kan", 0, 0.5, 0.83, recipe="strong")
    fake_run(tmp_path / "strong-mlp-s0", "vit", 0, 0.5, 0.85, recipe="strong")
    fake_run(tmp_path / "only-kan-s0", "vit_kan", 0, 0.5, 0.99, recipe="only")  # no MLP run: not comparable
    assert campaign.best_recipe(tmp_path, ["kan", "mlp"]) == "strong"
    plan = {"common": ["experiment=cifar10"], "recipes": {"strong": ["augment=strong"]},
            "models": {"kan": ["model=vit_kan"], "mlp": ["model=vit"]}}
    jobs = campaign.jobs(plan, ["strong"], [0, 1], ["trainer.score_test=true"])
    assert list(jobs) == ["strong-kan-s0", "strong-kan-s1", "strong-mlp-s0", "strong-mlp-s1"]
    assert jobs["strong-mlp-s1"]["overrides"] == ["experiment=cifar10", "augment=strong", "model=vit", "seed=1",
                                                 "trainer.score_test=true"]


def test_campaign_runs_some_of_a_plans_models_names_unknown_ones_and_never_relaunches_a_job_in_its_root(
        tmp_path, monkeypatch, capsys, bench_script):
    campaign = bench_script("campaign")
    plan = {"common": [], "recipes": {"strong": ["augment=strong"]},
            "models": {"kan": ["model=vit_kan"], "mlp": ["model=vit"]}}
    mlp_only = campaign.jobs(plan, ["strong"], [1, 2], ["trainer.score_test=true"], models=["mlp"])
    assert list(mlp_only) == ["strong-mlp-s1", "strong-mlp-s2"]  # another invocation on the same ROOT, other seeds
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan))
    monkeypatch.setattr("sys.argv", ["campaign.py", str(plan_file), "--root", str(tmp_path), "--models", "kan77"])
    with pytest.raises(SystemExit) as stop:
        campaign.main()
    assert stop.value.code == 2 and "no model kan77 in" in capsys.readouterr().err and not list(tmp_path.glob("*-s*"))
    (tmp_path / "strong-mlp-s1" / "checkpoints").mkdir(parents=True)  # a job of an earlier invocation on this ROOT
    (tmp_path / "strong-mlp-s1.log").write_text("its log\n")
    monkeypatch.setattr(campaign, "run_all", lambda *args, **kwargs: pytest.fail("launched a job"))
    monkeypatch.setattr("sys.argv", ["campaign.py", str(plan_file), "--root", str(tmp_path), "--seeds", "1", "2"])
    with pytest.raises(SystemExit, match="already holds strong-mlp-s1, so nothing was started: continue unfinished jobs with --resume"):
        campaign.main()
    assert (tmp_path / "strong-mlp-s1.log").read_text() == "its log\n" and not (tmp_path / "strong-kan-s1").exists()


def test_campaign_can_rank_recipes_by_the_mean_of_the_last_evaluations_instead_of_the_best(tmp_path, bench_script):
    campaign = bench_script("campaign")
    curves = {"spiky": [.95, .95, .95, .70, .72], "steady": [.80, .80, .80, .89, .90]}  # first N or all: spiky
    for recipe, curve in curves.items():
        for model in ("vit_kan", "vit"):
            run = fake_run(tmp_path / f"{recipe}-{model}-s0", model, 0, 0.5, max(curve), recipe=recipe)
            rows = [f"{e},{v}" for e, v in enumerate(curve, 1)]
            rows.insert(3, "4,0.10")  # epoch 4 written again after a crash: its last row counts
            rows.insert(2, "3,")  # an epoch without evaluation (eval_every > 1)
            (run / "metrics.csv").write_text("epoch,val_acc\n" + "\n".join(rows) + "\n")
    assert campaign.best_recipe(tmp_path, ["kan", "mlp"]) == "spiky"  # its single best evaluation
    assert campaign.best_recipe(tmp_path, ["kan", "mlp"], last=2) == "steady"  # 0.895 against 0.71
    assert campaign.holdout_score(tmp_path / "spiky-vit-s0", {}, last=3) == pytest.approx((.95 + .70 + .72) / 3)
    (tmp_path / "steady-vit-s0" / "metrics.csv").unlink()  # a run without metrics: left out, not a crash
    assert campaign.best_recipe(tmp_path, ["kan", "mlp"], last=2) == "spiky"  # steady lost its MLP run


@pytest.mark.slow
def test_campaign_resume_continues_the_paused_jobs_to_their_last_epoch(tmp_path, data_dir):
    import os
    import shutil
    import subprocess
    import sys

    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({
        "common": ["data=mnist", "data.subset=200", "data.val_split=holdout", "data.holdout=50", "model.kwargs.depth=1",
                   "+model.kwargs.patch_size=7", "trainer.device=cpu", "trainer.epochs=2", "trainer.batch_size=50",
                   "trainer.pause_after_minutes=0.0001"],  # pauses after each epoch
        "recipes": {"r": []}, "models": {"kan": ["model=vit_kan"], "mlp": ["model=vit"]}}))
    root, repo = tmp_path / "runs", Path(__file__).parents[1]
    env = {**os.environ, "VKAN_DATA_DIR": str(data_dir), "OMP_NUM_THREADS": "1"}

    def campaign(*args):
        return subprocess.run([sys.executable, str(repo / "bench" / "campaign.py"), str(plan), "--root", str(root),
                               *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)

    def summary(job):
        return json.loads((root / job / "summary.json").read_text())

    first = campaign("--seeds", "0")
    assert first.returncode == 0 and "2 job(s) paused: continue them with --resume" in first.stdout
    assert all(summary(job)["status"].startswith("paused") and summary(job)["epochs_done"] == 1
               for job in ("r-kan-s0", "r-mlp-s0"))

    def fail(job):
        (root / job / "summary.json").write_text(json.dumps(summary(job) | {"status": "failed: RuntimeError",
                                                                           "error": "RuntimeError: a failure"}))

    fail("r-mlp-s0")
    assert campaign("--resume", "--set", "optimizer.lr=0.1").returncode == 2  # a resume keeps the config: refused
    retried = campaign("--resume", "--retry-failed", "--set", "trainer.compile_mode=null")
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert "continued, failed: r-mlp-s0" in retried.stdout and "not continued" not in retried.stdout
    assert "1 jobs continued" in retried.stdout
    assert summary("r-mlp-s0")["status"] == "finished" and summary("r-mlp-s0")["epochs_done"] == 2
    assert summary("r-kan-s0")["epochs_done"] == 1  # the paused job is left for --resume
    fail("r-mlp-s0")  # a failed job the plain --resume names and leaves
    again = campaign("--resume")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "not continued, failed: r-mlp-s0" in again.stdout and "--retry-failed continues them" in again.stdout
    assert "1 jobs continued" in again.stdout
    assert summary("r-kan-s0")["status"] == "finished" and summary("r-kan-s0")["epochs_done"] == 2
    log = (root / "r-kan-s0" / "train.log").read_text()
    assert "resuming" in log and "vit_mlp" not in log  # the resume's lines in its own run's log
    assert not list((root / "r-kan-s0").glob(".resume-*")) and not (tmp_path / "outputs").exists()
    assert campaign("--resume").returncode == 1  # nothing left to continue: says so
    assert campaign("--retry-failed").returncode == 2  # only with --resume
    shutil.rmtree(root / "r-mlp-s0" / "checkpoints")  # a failed job without a checkpoint is named, not continued
    lost = campaign("--resume", "--retry-failed")
    assert lost.returncode == 1 and "failed before any checkpoint, not continued: r-mlp-s0" in lost.stdout


def test_campaign_report_gives_mean_and_std_per_recipe_and_model_and_names_failures(tmp_path, bench_script):
    campaign = bench_script("campaign")
    fake_run(tmp_path / "light-kan-s0", "vit_kan", 0, 0.5, 0.80)
    fake_run(tmp_path / "light-kan-s1", "vit_kan", 1, 0.5, 0.82)
    fake_run(tmp_path / "light-mlp-s0", "vit", 0, 0.5, 0.90)
    fake_run(tmp_path / "light-mlp-s1", "vit", 1, 0.5, 0.70, status="running")  # not done, not failed
    fake_run(tmp_path / "wild-kan-s0", "vit_kan", 0, 0.5, 0.1, status="failed: NonFiniteLossError", recipe="wild")
    (tmp_path / "wild-kan-s1").mkdir()  # a job whose folder holds no summary: its log names the error
    (tmp_path / "wild-kan-s1" / "campaign.json").write_text(json.dumps({"recipe": "wild", "model": "kan", "seed": 1}))
    (tmp_path / "wild-kan-s1.log").write_text("starting\nerror: training loss became nan | in epoch 1; stopped\n")
    plan = {"recipes": {"light": [], "wild": ["optimizer.lr=1"], "unrun": ["x=1"]},
            "models": {"kan": ["model=vit_kan"], "mlp": ["model=vit"]}}
    lines = campaign.report(plan, tmp_path).splitlines()
    assert len(lines) == 5  # header, rule, light x {kan, mlp}, wild x kan
    assert lines[2].startswith("| light | kan | (the recipe) | 81.00% ± 1.41 | 2/2 | 60 | 5.35 M |")
    assert lines[3].startswith("| light | mlp | (the recipe) | 90.00% | 1/2; unfinished | 60 |")
    assert "| 0/2; failed: NonFiniteLossError; failed: training loss became nan / in epoch 1 |" in lines[4]
    (tmp_path / "light-kan-s0" / "metrics.csv").write_text("epoch,val_acc\n1,0.5\n2,0.7\n2,0.75\n")  # resumed
    (tmp_path / "light-kan-s1" / "metrics.csv").write_text("epoch,val_acc\n1,0.6\n")  # ended before epoch 2
    assert "| 81.00% ± 1.41 | 75.00% (1/2) | 2/2 |" in campaign.report(plan, tmp_path, at_epoch=2)
    # the mean of each finished run's last 2 evaluations (the epoch written twice counts once): 0.625 and 0.6
    assert "| 81.00% ± 1.41 | 75.00% (1/2) | 61.25% ± 1.77 | 2/2 |" in campaign.report(plan, tmp_path, at_epoch=2,
                                                                                        last=2)


@pytest.mark.parametrize("plan", sorted((Path(__file__).parents[1] / "bench" / "plans").glob("*.json")),
                         ids=lambda p: p.stem)
def test_every_job_of_every_campaign_plan_composes_and_validates(plan, bench_script):
    """Each job as the campaign launches it (its overrides, then logger=none ...): a key the launch removes, such as
    logger.group, fails here rather than on the GPU."""
    from vkan.config import validate

    campaign = bench_script("campaign")
    spec = json.loads(plan.read_text())
    conf = str(Path(__file__).parents[1] / "conf")
    for job in campaign.jobs(spec, list(spec["recipes"]), [1], ["trainer.score_test=false"]).values():
        with initialize_config_dir(config_dir=conf, version_base="1.3"):
            cfg = compose("train", overrides=[*job["overrides"], *campaign.LAUNCH_OVERRIDES])
        validate(cfg)

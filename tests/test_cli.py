"""The command line as a user meets it: one-paragraph errors without tracebacks, no empty run folders,
safe interrupts with their exit codes, resume from a folder, and sweeps that report failed jobs."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vkan.interrupt import Interrupted, StopSignal

REPO = Path(__file__).resolve().parents[1]
TINY = ["model.kwargs.depth=1", "+model.kwargs.patch_size=7", "trainer.device=cpu", "trainer.progress_bar=false",
        "logger=none", "data=mnist"]


def train_py(args, data_dir, cwd, **kwargs):
    env = {**os.environ, "VKAN_DATA_DIR": str(data_dir), "OMP_NUM_THREADS": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run([sys.executable, str(REPO / "train.py"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600, **kwargs)


def test_unknown_key_gets_the_closest_real_key_and_no_plus_advice(tmp_path):
    out = train_py(["trainer.epoch=3"], tmp_path, tmp_path)
    assert out.returncode == 2
    assert "trainer.epoch is not a config key (did you mean trainer.epochs?)" in out.stderr
    assert "+trainer.epoch" not in out.stderr and "Traceback" not in out.stderr
    assert "model.kwargs" not in out.stderr  # the timm hint is for model keys only
    out = train_py(["model.patch_size=7"], tmp_path, tmp_path)
    assert out.returncode == 2 and "+model.kwargs.patch_size=..." in out.stderr
    out = train_py(["data=imagenet"], tmp_path, tmp_path)
    assert out.returncode == 2 and "data=imagenet is not a config option; choose one of cifar10" in out.stderr
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_expected_errors_print_one_paragraph_and_leave_no_empty_run_folder(tmp_path, data_dir):
    out = train_py(TINY + ["trainer.batch_size=0"], data_dir, tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "error: trainer.batch_size=0 is not valid: it must be an integer >= 1" in out.stderr
    out = train_py(TINY + ["paths.data_dir=" + str(tmp_path / "nowhere"), "data.download=false"], data_dir, tmp_path)
    assert out.returncode == 1 and "error: mnist not found under" in out.stderr and "Traceback" not in out.stderr
    assert not list(tmp_path.glob("outputs/*")), "a run that failed at set-up left a folder (or its date folder)"
    out = train_py(TINY + ["resume=" + str(tmp_path / "nowhere")], data_dir, tmp_path)
    assert out.returncode == 1 and "no checkpoints/last.pt there" in out.stderr


def test_a_new_run_or_sweep_in_folders_holding_earlier_runs_is_refused_before_hydra_writes_there(tmp_path, data_dir):
    old = {"metrics.csv": "epoch,val_acc\n1,0.5\n", "train.log": "the old run's log\n", ".hydra/overrides.yaml": "- seed=0\n"}
    for folder in ("run", "sweep/0"):
        for name, text in old.items():
            (tmp_path / folder / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / folder / name).write_text(text)
    run_dir, sweep_dir = tmp_path / "run", tmp_path / "sweep"
    out = train_py(TINY + ["seed=7", f"++hydra.run.dir='{run_dir}'"], data_dir, tmp_path)  # as Hydra reads it
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"error: hydra.run.dir={run_dir} already holds a run" in out.stderr and f"resume={run_dir}" in out.stderr
    out = train_py(["--multirun", *TINY, "seed=7,8", f"hydra.sweep.dir={sweep_dir}"], data_dir, tmp_path)
    assert out.returncode == 1 and f"error: hydra.sweep.dir={sweep_dir} holds earlier runs (0:" in out.stderr
    assert train_py(["--cfg", "job", f"hydra.run.dir={run_dir}"], data_dir, tmp_path).returncode == 0  # prints only
    for folder in ("run", "sweep/0"):  # the old records as they were: Hydra never started
        assert {name: (tmp_path / folder / name).read_text() for name in old} == old
    assert sorted(p.name for p in sweep_dir.iterdir()) == ["0"] and not (run_dir / "summary.json").exists()


def test_the_default_run_folder_is_claimed_so_two_runs_of_one_second_get_one_each(tmp_path, monkeypatch):
    from hydra import compose, initialize_config_dir

    import vkan.cli  # noqa: F401 - registers the vkan_new_folder resolver, as train.py's command line does
    from vkan import config

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(config, "_CLAIMED", {})
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["model=vit", "data=mnist"], return_hydra_config=True)
    first = cfg.hydra.run.dir
    assert cfg.hydra.run.dir == first and Path(first).is_dir()  # asked again in one process: the same folder
    assert Path(first).parent.parent.name == "outputs" and Path(first).name.endswith("_vit_mlp_tiny_patch4_32_mnist")
    monkeypatch.setattr(config, "_CLAIMED", {})  # another process, in the same second: the folder exists
    assert config.claim_new_folder(first) == first + "_2" and config.claim_new_folder(first) == first + "_2"
    monkeypatch.setattr(config, "_CLAIMED", {})
    assert config.claim_new_folder(first) == first + "_3"


@pytest.mark.slow
def test_two_runs_started_together_keep_their_records_apart(tmp_path, data_dir):
    env = {**os.environ, "VKAN_DATA_DIR": str(data_dir), "OMP_NUM_THREADS": "1"}
    args = [sys.executable, str(REPO / "train.py"), *TINY, "model=vit", "data.subset=100", "trainer.epochs=1",
            "trainer.batch_size=50", "hydra.run.dir=${vkan_new_folder:outputs/same}"]  # the default's claim, one name
    runs = [subprocess.Popen(args + [f"seed={seed}"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL) for seed in (0, 1)]
    assert [run.wait(timeout=600) for run in runs] == [0, 0]
    folders = sorted((tmp_path / "outputs").iterdir())
    assert [f.name for f in folders] == ["same", "same_2"]
    for folder in folders:
        assert len((folder / "metrics.csv").read_text().splitlines()) == 2  # its header and its one epoch
        assert (folder / "train.log").read_text().count(" M parameters | ") == 1
    assert sorted(json.loads((f / "summary.json").read_text())["seed"] for f in folders) == [0, 1]
    printed = train_py(["--cfg", "all", "--resolve", "model=vit", "data=mnist"], data_dir, tmp_path)
    assert printed.returncode == 0 and "_vit_mlp_tiny_patch4_32_mnist" in printed.stdout  # the name it would take
    assert sorted(p.name for p in (tmp_path / "outputs").iterdir()) == ["same", "same_2"]  # but printing claims none


def test_the_used_folder_check_reads_the_command_line_as_hydra_does(tmp_path, monkeypatch):
    from vkan.cli import hydra_args, refuse_used_run_folders

    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "sweep" / "3").mkdir(parents=True)
    (tmp_path / "sweep" / "3" / "metrics.csv").write_text("epoch\n1\n")
    monkeypatch.chdir(tmp_path)  # relative folders as Hydra takes them (job.chdir is off)
    refused = [["hydra.run.dir=run"], ["++hydra.run.dir='run'"], ["+hydra.run.dir=\"run\""],
               ["resume=", "hydra.run.dir=run"], ["resume=null", "hydra.run.dir=run"],
               ["-m", "hydra.sweep.dir=sweep"], ["--multi", "seed=0,1", "hydra.sweep.dir=sweep"],
               ["hydra.mode=MULTIRUN", "hydra.sweep.dir=sweep"],
               ["hparams_search=optuna", "hydra.sweep.dir=sweep"], ["-m", "seed=0,1", "hydra.sweep.subdir=one"]]
    for argv in refused:
        with pytest.raises(SystemExit):
            refuse_used_run_folders(hydra_args(argv))
    for argv in (["resume=run"], ["--cfg", "job", "hydra.run.dir=run"], ["-mc", "job", "hydra.sweep.dir=sweep"],
                 ["hydra.run.dir=new"], ["hydra.run.dir=2024"],
                 ["-m", "hydra.sweep.dir=2024"], ["-m", "hydra.sweep.subdir=${hydra.job.num}_x", "seed=0,1"],
                 ["hparams_search=null", "hydra.sweep.dir=sweep"], ["seed=range(0,3)", "model=vit"], []):
        refuse_used_run_folders(hydra_args(argv))  # lets these through


@pytest.mark.slow
def test_a_sweep_job_refused_by_a_folder_an_earlier_job_used_is_named_as_failed(tmp_path, data_dir):
    out = train_py(["-m", *TINY, "debug=fast", "data.subset=200", "trainer.batch_size=20", "seed=0,1",
                    f"hydra.sweep.dir={tmp_path / 'sweep'}", "hydra.sweep.subdir=${data.name}"], data_dir, tmp_path)
    console = out.stdout + out.stderr
    assert out.returncode == 1 and "job 1 failed: " in console and "already holds a run" in console
    assert "job mnist (job 1): failed: ConfigError: " in out.stderr  # its summary.json (job 0's) says finished
    assert len((tmp_path / "sweep" / "mnist" / "metrics.csv").read_text().splitlines()) == 2  # job 0's row alone
    out = train_py(["-m", *TINY, "seed=0,1", f"hydra.sweep.dir={tmp_path / 'other'}", "hydra.sweep.subdir=one"],
                   data_dir, tmp_path)  # a constant subdir: refused before any job starts
    assert out.returncode == 1 and "error: hydra.sweep.subdir=one gives every job of the sweep the same folder" in \
        out.stderr and not (tmp_path / "other").exists()


def test_a_run_that_fails_in_training_keeps_its_folder_and_says_no_checkpoint_exists(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    out = train_py(TINY + ["data.subset=200", "trainer.batch_size=50", "optimizer.lr=1e30", f"hydra.run.dir={run_dir}"],
                   data_dir, tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "became nan in epoch 1" in out.stderr and "no checkpoint has been written yet" in out.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed: NonFiniteLossError" and (out.stdout + out.stderr).count("became nan in epoch 1") == 1
    assert "failed: NonFiniteLossError: " in (run_dir / "train.log").read_text()  # the error, in the run's log too


def test_resume_auto_on_the_runs_own_command_line_continues_that_run(tmp_path, data_dir):
    """The command that started a run, plus resume=auto: its group choices and keys (which a resume does not take
    from the command line) picked the run, so they are not refused; a resumable key still applies."""
    args = TINY + ["data.subset=200", "trainer.batch_size=50", "trainer.epochs=2", "optimizer.lr=2e-3"]
    first = train_py(args + ["trainer.max_epochs_this_run=1"], data_dir, tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    (run_dir,) = [p.parent for p in tmp_path.glob("outputs/*/*/summary.json")]
    assert json.loads((run_dir / "summary.json").read_text())["epochs_done"] == 1
    other = train_py(args + ["optimizer.lr=0.5", "resume=auto"], data_dir, tmp_path)  # another config: not this run
    assert other.returncode == 1 and "found no unfinished run of this config" in other.stderr
    again = train_py(args + ["resume=auto", "trainer.max_epochs_this_run=null"], data_dir, tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["epochs_done"] == 2
    assert [p.parent for p in tmp_path.glob("outputs/*/*/summary.json")] == [run_dir]  # no second run folder


@pytest.mark.slow
def test_sigterm_stops_at_a_step_checkpoints_and_resume_finishes_the_run(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    env = {**os.environ, "VKAN_DATA_DIR": str(data_dir), "OMP_NUM_THREADS": "1"}
    args = TINY + ["data.subset=3000", "trainer.batch_size=20", "trainer.epochs=4", f"hydra.run.dir={run_dir}"]
    proc = subprocess.Popen([sys.executable, str(REPO / "train.py"), *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:  # wait until training runs, then stop it like a scheduler does
        lines.append(line)
        if "run folder" in line:
            time.sleep(3)
            proc.send_signal(signal.SIGTERM)
            break
    rest, _ = proc.communicate(timeout=300)
    output = "".join(lines) + rest
    assert proc.returncode == 143, output[-2000:]
    assert f"continue with: python train.py resume={run_dir}" in output and "Traceback" not in output
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted" and (run_dir / "checkpoints" / "last.pt").exists()
    out = train_py([f"resume={run_dir}", "trainer.batch_size=64"], data_dir, tmp_path)
    assert out.returncode == 1 and "trainer.batch_size cannot change on resume" in out.stderr
    out = train_py([f"resume={run_dir}", "trainer.epochs=1"], data_dir, tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "finished"
    assert not list(tmp_path.glob("outputs/*")), "the resumed invocations left Hydra folders (or date folders) behind"
    assert "resuming after epoch" in (run_dir / "train.log").read_text()
    (run_dir / "checkpoints" / "last.pt").write_bytes(b"garbage")
    out = train_py([f"resume={run_dir}"], data_dir, tmp_path)
    assert out.returncode == 1 and "last.pt is corrupt or truncated" in out.stderr and "best.pt" in out.stderr
    assert "weights_only" not in out.stderr and "Traceback" not in out.stderr


def test_a_second_signal_of_the_same_kind_stops_at_once():
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN where the shell started pytest in the background
    with StopSignal() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested(step=1) == signal.SIGINT  # the first: stop at the next step boundary
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested(step=2) == signal.SIGINT  # another kind (torchrun's agent after Ctrl-C): no change
        with pytest.raises(Interrupted) as now:
            os.kill(os.getpid(), signal.SIGINT)
    assert now.value.exit_code == 130
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored


@pytest.mark.slow
def test_sweep_finishes_every_job_then_exits_non_zero_naming_the_failed_ones(tmp_path, data_dir):
    out = train_py(["-m", "model=vit_kan,vit", f"paths.data_dir={data_dir},{tmp_path / 'nowhere'}", "debug=fast",
                    "data.subset=200", "data.download=false", "trainer.batch_size=20", *TINY,
                    f"hydra.sweep.dir={tmp_path / 'sweep'}"], data_dir, tmp_path)
    assert out.returncode == 1, out.stderr[-2000:]
    assert "2 sweep job(s) failed" in out.stderr and "job 1: failed: DatasetError" in out.stderr
    # jobs: (kan, data), (kan, no data), (mlp, data), (mlp, no data)
    status = {i: json.loads((tmp_path / "sweep" / str(i) / "summary.json").read_text()) for i in range(4)}
    assert [status[i]["model_name"] for i in (0, 2)] == ["vit_kan_tiny_patch4_32", "vit_mlp_tiny_patch4_32"]
    assert status[0]["status"] == status[2]["status"] == "finished"
    for i in (1, 3):
        assert status[i]["status"] == "failed: DatasetError" and "mnist not found" in status[i]["error"]
    assert (tmp_path / "sweep" / "0" / "checkpoints" / "last.pt").exists()
    for i in (1, 3):  # the failed job's error once in its train.log, and once on the console
        assert (tmp_path / "sweep" / str(i) / "train.log").read_text().count("mnist not found") == 1
        assert (out.stdout + out.stderr).count(f"job {i} failed: mnist not found") == 1

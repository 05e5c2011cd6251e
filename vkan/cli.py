"""The command line around ``train(cfg)``: a check of the overrides before Hydra composes them, resume from a
run folder, one-paragraph errors and exit codes (130/143 after an interrupt), and no empty run folders."""
from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import shutil
import sys
from pathlib import Path
from typing import List, Optional

from omegaconf import DictConfig, OmegaConf, open_dict

from vkan.config import (changes_a_resume_refuses, claim_new_folder, did_you_mean, flat_keys, holds_a_run,
                         latest_unfinished_run, resumed_config, used_folder_message)
from vkan.errors import CheckpointError, ConfigError, DatasetError, VkanError
from vkan.interrupt import Interrupted

BAD_INPUT = (ConfigError, DatasetError, CheckpointError)  # bad input, found at set-up: an empty folder is dropped

log = logging.getLogger("vkan")
CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
# the default run folder's claim (conf/hydra/default.yaml): a folder of its own for every run, even two started in
# the same second; registered here, for train.py's command line only
OmegaConf.register_new_resolver("vkan_new_folder", claim_new_folder, replace=True)


def fail(message: str, code: int = 2) -> None:
    """Print one paragraph to stderr and exit."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def first_values(overrides: List[str]) -> Optional[List[str]]:
    """The overrides with every sweep (``a=1,2``) reduced to its first value; None when Hydra's parser rejects
    them (Hydra then reports it) or when one is a range/interval that has no first value here."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
        out = []
        for o in parsed:
            value = next(iter(o.sweep_string_iterator())) if o.is_sweep_override() else o.get_value_element_as_str()
            out.append(f"{o.get_key_element()}={value}")
        return out
    except Exception:
        return None


def hydra_args(argv: List[str]) -> argparse.Namespace:
    """The command line as Hydra's own parser reads it (flags, and the overrides as ``args.overrides``)."""
    from hydra._internal.utils import get_args_parser

    return get_args_parser().parse_known_args(argv)[0]


def prints_only(args: argparse.Namespace) -> bool:
    """Whether the command line (``hydra_args``) only prints (``--cfg``, ``--info``, ``--help``, ``--hydra-help``,
    completion)."""
    return bool(args.cfg or args.info or args.help or args.hydra_help or args.shell_completion)


def refuse_used_run_folders(args: argparse.Namespace) -> None:
    """A new run whose command line names a folder that holds an earlier run's records (``hydra.run.dir``; for a
    sweep, ``hydra.sweep.dir`` or its job folders), or a sweep whose jobs would share one folder
    (a ``hydra.sweep.subdir`` without interpolation): stop before Hydra writes its .hydra/ there. Hydra's own
    parsers read the command line, so quoted values, ``+``/``++`` keys and every multirun flag count. Resumes run in
    a folder of their own, printing commands (``--cfg``, ``--info``, ``--help``) write nothing, and Hydra's dated
    default folders are new (``vkan.train.refuse_a_used_folder`` checks those, and any other caller of ``train``)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if prints_only(args):
        return
    try:
        parsed = OverridesParser.create().parse_overrides(args.overrides)
    except Exception:  # Hydra reports it
        return
    given = {o.key_or_group: None if o.value() is None else str(o.value()) for o in parsed
             if not o.is_sweep_override()}
    if given.get("resume") not in (None, ""):
        return
    multirun = args.multirun or str(given.get("hydra.mode", "")).upper() == "MULTIRUN" or \
        given.get("hparams_search") is not None  # the Optuna search config is a sweep
    if multirun:
        subdir = given.get("hydra.sweep.subdir")
        if subdir is not None and "${" not in str(subdir):  # interpolated ones are checked job by job (train)
            fail(f"hydra.sweep.subdir={subdir} gives every job of the sweep the same folder, where each would mix its "
                 f"records with the others' (and Hydra would overwrite their .hydra/): keep Hydra's job number in it "
                 f"(the default, ${{hydra.job.num}})", 1)
        if given.get("hydra.sweep.dir") in (None, ""):
            return
        folder = Path(given["hydra.sweep.dir"])
        try:
            used = [p for p in [folder, *(sorted(folder.iterdir()) if folder.is_dir() else [])]
                    if p.is_dir() and holds_a_run(p)]
        except OSError:  # unreadable: Hydra will say so
            return
        if used:
            fail(f"hydra.sweep.dir={folder} holds earlier runs ({', '.join(p.name for p in used)}: their metrics.csv "
                 f"or checkpoints/), which this sweep's jobs would mix their records with. Give the sweep another "
                 f"hydra.sweep.dir (or leave it to its dated default), move the old one away, or continue one of its "
                 f"runs with python train.py resume={used[-1]}", 1)
        return
    if given.get("hydra.run.dir") not in (None, "") and holds_a_run(Path(given["hydra.run.dir"])):
        fail(used_folder_message(Path(given["hydra.run.dir"]), "hydra.run.dir"), 1)


def preflight(argv: List[str], config_dir: Path = CONF_DIR, config_name: str = "train") -> None:
    """Compose the command line's config once before Hydra does, to answer an unknown key or group option with
    the closest real one (Hydra's own message suggests adding the key with ``+``); then refuse a new run in a named
    folder that holds another run (``refuse_used_run_folders``). A printing command (``--cfg ... --resolve``) names
    the default run folder without claiming it."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import ConfigCompositionException, MissingConfigException

    args = hydra_args(argv)
    if prints_only(args):
        OmegaConf.register_new_resolver("vkan_new_folder", lambda path: path, replace=True)
    refuse_used_run_folders(args)

    overrides = [a for a in argv if "=" in a and not a.startswith("-") and not a.lstrip("+~").startswith("hydra.")]
    singles = first_values(overrides)
    if not singles:
        return
    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
            compose(config_name, overrides=singles)
            return
    except MissingConfigException as e:
        group = str(e).split("Could not find '")[-1].split("'")[0]
        options = getattr(e, "options", None) or []
        fail(f"{group.replace('/', '=', 1)} is not a config option"
             + (f"; choose one of {', '.join(options)}" if options else "") + f" (the files in conf/{group.split('/')[0]}/)")
    except ConfigCompositionException as e:
        text = str(e)
        if "Could not override '" not in text and "Could not append to config" not in text:
            fail(text.splitlines()[0])
        key = text.split("'")[1]
        with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
            known = flat_keys(compose(config_name, overrides=[s for s in singles if not s.startswith(key + "=")]))
        timm_hint = (f"; timm model options go under model.kwargs (+model.kwargs.{key.rsplit('.', 1)[-1]}=...)"
                     if key.startswith("model.") else "")
        fail(f"{key} is not a config key{did_you_mean(key, known)}. `python train.py --cfg job` prints every key "
             f"with its value{timm_hint}.")


def run_job(cfg: DictConfig) -> float:
    """What ``train.py``'s Hydra main does: train, and turn the expected failures into one message and an exit code
    (single run) or a failed job that the sweep reports at its end (multirun)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from vkan.train import log_error_to, train

    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    own_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        if cfg.resume:
            cfg = resume_target(cfg, list(hydra_cfg.overrides.task))
        summary = train(cfg)
    except Interrupted as err:
        raise SystemExit(err.exit_code)
    except Exception as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1" and not multirun:
            raise
        if multirun:
            from vkan.sweep import record_failed_job

            record_failed_job(own_dir, hydra_cfg.job.num, f"{type(err).__name__}: {err}")
            message, trace = f"job {hydra_cfg.job.num} failed: {err}", not isinstance(err, VkanError)
            if getattr(err, "in_train_log", False):  # train() wrote it to the run's train.log already
                log_error_to(message, files=False, logger=log, exc_info=trace)
            else:
                log.error(message, exc_info=trace)
            return math.nan
        if isinstance(err, BAD_INPUT):  # a run that trained and failed keeps its folder: summary.json says why
            drop_if_empty(own_dir)
        if isinstance(err, VkanError):
            fail(str(err), 1)
        raise
    finally:
        if cfg.resume:
            merge_log_into_run(own_dir, Path(cfg.paths.output_dir))
    return summary.get(cfg.optimized_metric, math.nan)


def resume_target(cfg: DictConfig, overrides: List[str]) -> DictConfig:
    """The config to continue: a run folder's saved one (``resume=<dir>``) or the newest unfinished run of this
    config under ./outputs and ./multirun (``resume=auto``), with the command line's resumable overrides. Under
    ``resume=auto`` the others (group choices, recipe keys) composed the config that found the run, so they are
    its own and are dropped rather than refused."""
    run_dir = cfg.resume
    if run_dir == "auto":
        found = latest_unfinished_run(cfg, [Path("outputs"), Path("multirun")])
        if found is None:
            raise ConfigError("resume=auto found no unfinished run of this config under ./outputs or ./multirun; "
                              "start one without resume, or give its folder: resume=<run_dir>")
        run_dir = found
        refused = set(changes_a_resume_refuses(overrides))
        overrides = [o for o in overrides if not o.startswith("resume=") and o not in refused]
    if not Path(run_dir, "checkpoints", "last.pt").exists():
        raise ConfigError(f"resume={run_dir}: no checkpoints/last.pt there; give a run folder written by train.py")
    resumed = resumed_config(Path(run_dir), overrides)
    with open_dict(resumed):
        resumed.resume = str(Path(run_dir).resolve())
    return resumed


def drop_if_empty(run_dir: Path) -> None:
    """Remove a single run's folder that ended before anything worth keeping (no checkpoint, no metrics), and its
    date folder (``outputs/<date>/``) when nothing else is in it."""
    if run_dir.is_dir() and not holds_a_run(run_dir):
        logging.shutdown()
        shutil.rmtree(run_dir, ignore_errors=True)
        with contextlib.suppress(OSError):  # not empty: other runs of that day
            run_dir.parent.rmdir()


def merge_log_into_run(own_dir: Path, run_dir: Path) -> None:
    """A resume's lines go to the resumed run's train.log; Hydra's folder for the resume is then dropped."""
    own_dir, run_dir = own_dir.resolve(), run_dir.resolve()
    if own_dir == run_dir or not own_dir.is_dir():
        return
    if {p.name for p in own_dir.iterdir()} <= {".hydra", "train.log"}:
        log_file = own_dir / "train.log"
        if log_file.exists():
            with open(run_dir / "train.log", "a") as f:
                f.write(log_file.read_text())
        shutil.rmtree(own_dir, ignore_errors=True)
        if own_dir.parent.parent.name == "outputs":  # Hydra's date folder, outputs/<date>/, when nothing else is in it
            with contextlib.suppress(OSError):
                own_dir.parent.rmdir()

"""The training config: checks before anything is loaded, the model it names, and the config a resume continues.

Every check raises ``ConfigError`` naming the key and what it accepts. A resumed run takes its saved
``config.yaml``; only the keys in ``RESUME_OVERRIDABLE`` may change on the command line.
"""
from __future__ import annotations

import difflib
import fnmatch
import json
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

from omegaconf import DictConfig, OmegaConf, open_dict

from vkan.errors import ConfigError
from vkan.ops import PATHS as KAN_KERNEL_PATHS

# keys a resume may change: how far and how fast to go on, where the data is, how to log and show progress
RESUME_OVERRIDABLE = ("trainer.epochs", "trainer.max_epochs_this_run", "trainer.max_minutes",
                      "trainer.pause_after_minutes", "trainer.progress_bar", "trainer.checkpoint_every",
                      "trainer.device", "trainer.compile", "trainer.compile_mode", "trainer.kan_kernel_path",
                      "trainer.graph_ffn",
                      "trainer.eval_every",
                      "paths.data_dir", "logger.mode", "resume")
# keys that may differ between two runs of "the same config" (resume=auto)
RUN_LOCAL = RESUME_OVERRIDABLE + ("paths.output_dir",)
# keys that say how a run was run, not what it trained: runs that differ only in these are seeds of one recipe
# (the results table's rows, vkan.analysis.accuracy_summary)
RUN_ONLY = ("seed", "resume", "paths.*", "logger.*", "trainer.max_epochs_this_run",
            "trainer.pause_after_minutes", "trainer.progress_bar", "trainer.score_test", "trainer.checkpoint_every")
# (trainer.max_minutes is not among them: a run it cut short trained fewer epochs than its recipe says)
# trainer.compile_mode: auto (vkan.train.compile_mode) or one of torch.compile's modes; None is its default mode
COMPILE_MODES = ("auto", None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
# keys added after runs were first saved, with the value that runs saved without them behaved as
ADDED_KEYS = {"trainer.score_test": True, "trainer.max_minutes": None, "trainer.pause_after_minutes": None,
              "model.kwargs.kan.base_init": "kaiming", "model.kwargs.kan_hidden_multiple": 1,
              "optimizer.kan_spline_lr_scale": 1.0, "optimizer.kan_spline_weight_decay": None,
              "model.kwargs.tokenizer": "patch", "trainer.checkpoint_every": 1, "trainer.kan_kernel_path": "auto",
              "trainer.graph_ffn": False}


def flat_items(node: dict, prefix: str = "") -> Iterator[Tuple[str, Any]]:
    """(dotted key, value) of every leaf of a nested dict (an empty dict is a leaf)."""
    for k, v in node.items():
        if isinstance(v, dict) and v:
            yield from flat_items(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def flat_keys(cfg: Any) -> List[str]:
    """Every leaf key of a (Dict)Config as a dotted path."""
    node = cfg if isinstance(cfg, dict) else OmegaConf.to_container(cfg, resolve=False)
    return [key for key, _ in flat_items(node)]


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """`` (did you mean trainer.epochs?)`` for the closest known key, or an empty string."""
    known = list(known)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if not close:  # a typo in the last part only: compare last parts
        last = {k.rsplit(".", 1)[-1]: k for k in known if k.rsplit(".", 1)[0] == key.rsplit(".", 1)[0]}
        close = [last[m] for m in difflib.get_close_matches(key.rsplit(".", 1)[-1], list(last), n=1, cutoff=0.6)]
    return f" (did you mean {close[0]}?)" if close else ""


# --- checks -----------------------------------------------------------------------------------------------

def _check(cfg: DictConfig, key: str, ok, what: str) -> None:
    value = OmegaConf.select(cfg, key, default=ADDED_KEYS.get(key))  # a run saved before the key: its old behaviour
    try:
        good = ok(value)
    except TypeError:
        good = False
    if not good:
        raise ConfigError(f"{key}={value!r} is not valid: it must be {what}")


def _int(lo: int):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= lo


def _optional_int(lo: int):
    return lambda v: v is None or _int(lo)(v)


def validate(cfg: DictConfig) -> None:
    """Check the values training depends on, before any data is loaded; raise ConfigError on the first bad one."""
    t, o = "trainer.", "optimizer."
    _check(cfg, "seed", _int(0), "an integer >= 0")
    _check(cfg, t + "batch_size", _int(1), "an integer >= 1 (per process)")
    _check(cfg, t + "epochs", _int(1), "an integer >= 1")
    _check(cfg, t + "max_epochs_this_run", _optional_int(1), "null or an integer >= 1")
    _check(cfg, t + "eval_every", _int(1), "an integer >= 1")
    _check(cfg, t + "checkpoint_every", _int(1), "an integer >= 1")
    for key in ("max_minutes", "pause_after_minutes"):
        _check(cfg, t + key, lambda v: v is None or (not isinstance(v, bool) and v > 0), "null or a number of minutes > 0")
    _check(cfg, t + "score_test", lambda v: v in (None, True, False), "true or false")
    for key in ("limit_train_batches", "limit_val_batches"):
        _check(cfg, t + key, _optional_int(1), "null or an integer >= 1")
    _check(cfg, t + "precision", lambda v: v in ("auto", "bf16", "fp32"), "auto, bf16 or fp32")
    _check(cfg, t + "compile", lambda v: v == "auto" or isinstance(v, bool), "auto, true or false")
    _check(cfg, t + "compile_mode", lambda v: v in COMPILE_MODES, "auto, null or default (torch.compile's default "
           "mode), reduce-overhead, max-autotune or max-autotune-no-cudagraphs")
    _check(cfg, t + "kan_kernel_path", lambda v: v in KAN_KERNEL_PATHS,
           ", ".join(KAN_KERNEL_PATHS[:-1]) + " or " + KAN_KERNEL_PATHS[-1])
    _check(cfg, t + "graph_ffn", lambda v: v == "auto" or isinstance(v, bool), "auto, true or false")
    _check(cfg, t + "grad_clip", lambda v: v is None or v > 0, "null or a number > 0")
    _check(cfg, t + "label_smoothing", lambda v: 0 <= v < 1, "in [0, 1)")
    for key in ("mixup", "cutmix", "kan_reg_weight"):
        _check(cfg, t + key, lambda v: v >= 0, "a number >= 0")
    _check(cfg, t + "mix_prob", lambda v: 0 <= v <= 1, "in [0, 1]")
    _check(cfg, t + "ema.decay", lambda v: 0 <= v < 1, "in [0, 1) (0 = no EMA)")
    _check(cfg, t + "grid_update.every", _int(0), "an integer >= 0 (0 = never)")
    _check(cfg, t + "grid_update.max_samples", _int(2), "an integer >= 2")
    _check(cfg, t + "ddp.comm_dtype", lambda v: v in ("fp32", "bf16"), "fp32 or bf16")
    _check(cfg, t + "ddp.bucket_cap_mb", lambda v: v > 0, "a number of MB > 0")
    _check(cfg, o + "name", lambda v: v in ("adamw", "sgd"), "adamw or sgd")
    _check(cfg, o + "lr", lambda v: v > 0, "a number > 0")
    _check(cfg, o + "weight_decay", lambda v: v >= 0, "a number >= 0")
    _check(cfg, o + "kan_spline_lr_scale", lambda v: v > 0, "a number > 0 (1: the optimizer's lr)")
    _check(cfg, o + "kan_spline_weight_decay", lambda v: v is None or v >= 0, "null (weight_decay) or a number >= 0")
    _check(cfg, "scheduler.warmup_epochs", lambda v: v >= 0, "a number of epochs >= 0")
    _check(cfg, "scheduler.min_lr_ratio", lambda v: 0 <= v <= 1, "in [0, 1]")
    _check(cfg, "data.val_split", lambda v: v in ("holdout", "test", "val"), "holdout, test or val")
    _check(cfg, "data.holdout", lambda v: v > 0, "a number of images (>= 1) or a fraction (< 1) of the training set")
    _check(cfg, "data.subset", _optional_int(1), "null or an integer >= 1")
    _check(cfg, "data.img_size", _int(8), "an integer >= 8")
    _check(cfg, "data.augment.compile", lambda v: v in (None, True, False, "auto", "default", "max-autotune-no-cudagraphs"),
           "auto, true, false, default or max-autotune-no-cudagraphs (a mode with CUDA graphs would let each training "
           "batch overwrite the one before)")
    if OmegaConf.select(cfg, "model.kwargs.kan_hidden_multiple") is not None:
        _check(cfg, "model.kwargs.kan_hidden_multiple", _int(1), "an integer >= 1 (1 = the matched width as it is)")
    validate_kan_options(cfg)


def validate_kan_options(cfg: DictConfig) -> None:
    """``model.kwargs.kan`` must hold KANSpec fields with valid values."""
    from vkan.kan import KANSpec

    kan = OmegaConf.select(cfg, "model.kwargs.kan")
    if kan is None:
        return
    options = OmegaConf.to_container(kan, resolve=True)
    for key in options:
        if key not in KANSpec.names():
            raise ConfigError(f"model.kwargs.kan.{key} is not a KAN option"
                              f"{did_you_mean(key, KANSpec.names())}; the options are {', '.join(KANSpec.names())}")
    try:
        KANSpec.of(**options)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"model.kwargs.kan: {e}") from e


# --- the model a config names ------------------------------------------------------------------------------

def model_spec(cfg: DictConfig, num_classes: int, in_chans: int, img_size: int) -> Dict[str, Any]:
    """timm name and create_model kwargs (``model.kwargs`` as written plus the data's shape): what a checkpoint
    stores to rebuild the model."""
    kwargs = OmegaConf.to_container(cfg.model.kwargs, resolve=True) if cfg.model.get("kwargs") else {}
    kwargs.update(num_classes=num_classes, in_chans=in_chans, img_size=img_size)
    return {"model_name": cfg.model.name, "model_kwargs": kwargs}


# --- resuming ------------------------------------------------------------------------------------------------

def holds_a_run(folder: Path) -> bool:
    """Whether ``folder`` holds a run's records worth keeping: its metrics.csv or checkpoints (a run that stopped
    before either has nothing to lose; ``vkan.cli.drop_if_empty`` removes such a folder)."""
    return (Path(folder) / "metrics.csv").exists() or (Path(folder) / "checkpoints").exists()


_CLAIMED: Dict[str, str] = {}  # claim_new_folder's answers in this process


def claim_new_folder(path: str) -> str:
    """``path``, created here, or ``path_2``, ``path_3``, ... when it exists already: the default run folder
    (conf/hydra/default.yaml, resolver ``vkan_new_folder``) names the second a run started, so two runs of one model
    and dataset started in the same second would otherwise share a folder, its metrics.csv and its checkpoints.
    Creating the folder is the claim, so two processes never get the same one; this process asking again for the
    same ``path`` gets the same answer (Hydra may resolve its config more than once)."""
    if path not in _CLAIMED:
        candidate, n = path, 1
        while True:
            try:
                Path(candidate).mkdir(parents=True)  # the date folder as needed, then the run's: taken if it exists
                break
            except FileExistsError:
                n += 1
                candidate = f"{path}_{n}"
        _CLAIMED[path] = candidate
    return _CLAIMED[path]


def used_folder_message(folder: Path, named_as: str = "") -> str:
    """Why a new run may not start in ``folder`` (``holds_a_run``), and what to do instead; ``named_as`` is the
    setting that named it (``hydra.run.dir``), when one did."""
    setting = named_as or "hydra.run.dir, or hydra.sweep.dir for a -m sweep"
    return (f"{named_as + '=' if named_as else ''}{folder} already holds a run (its metrics.csv or checkpoints/), "
            f"which a new run there would mix its records with. Continue that run with python train.py "
            f"resume={folder}, or give the new one another folder ({setting}; or leave it to its dated default), or "
            f"move the old one away first")


def saved_config(run_dir: Path) -> DictConfig:
    """The config a run folder was started with (``config.yaml``)."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"resume={run_dir}: no config.yaml there; resume takes a run folder written by train.py "
                          f"(outputs/<date>/<time>_<model>_<data>)")
    return OmegaConf.load(path)


def override_key(item: str) -> str:
    """The dotted key of a command-line override (``+key=value``, ``~key``, ``key=value``)."""
    return item.lstrip("+~").partition("=")[0]


def changes_a_resume_refuses(overrides: Iterable[str]) -> List[str]:
    """The overrides a resume does not take: any key outside ``RESUME_OVERRIDABLE`` (Hydra's own keys go to Hydra)."""
    return [item for item in overrides if not override_key(item).startswith("hydra.")
            and not any(fnmatch.fnmatch(override_key(item), pattern) for pattern in RESUME_OVERRIDABLE)]


def resumed_config(run_dir: Path, overrides: Iterable[str] = ()) -> DictConfig:
    """The saved config of ``run_dir`` with the command-line ``overrides`` (``key=value``) that a resume
    allows; any other override raises ConfigError naming it and the allowed keys."""
    run_dir = Path(run_dir).resolve()
    cfg = saved_config(run_dir)
    refused = changes_a_resume_refuses(overrides)
    if refused:
        raise ConfigError(f"resume={run_dir} continues that run with its saved config; {override_key(refused[0])} "
                          f"cannot change on resume (only {', '.join(RESUME_OVERRIDABLE[:-1])}). Start a new run to "
                          f"change it.")
    for item in overrides:
        key, value = override_key(item), item.partition("=")[2]
        if key == "resume" or key.startswith("hydra."):
            continue
        with open_dict(cfg):
            OmegaConf.update(cfg, key, OmegaConf.from_dotlist([f"v={value}"]).v, force_add=True)
    with open_dict(cfg):
        cfg.resume = str(run_dir)
        cfg.paths.output_dir = str(run_dir)
    return cfg


def config_fingerprint(cfg: Any, leave_out: Iterable[str]) -> str:
    """A config's leaves as one sorted JSON string, for telling configs apart: keys added since older runs were
    saved get the value those runs behaved as (``ADDED_KEYS``), and keys matching a ``leave_out`` pattern are left
    out. ``cfg`` is a (Dict)Config, resolved here, or a plain dict as read from a run's config.yaml."""
    tree = cfg if isinstance(cfg, dict) else OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    values = {**ADDED_KEYS, **dict(flat_items(tree))}
    kept = {k: _number_as_float(v) for k, v in values.items() if not any(fnmatch.fnmatch(k, p) for p in leave_out)}
    return json.dumps(kept, sort_keys=True, default=str)


def _number_as_float(value: Any) -> Any:
    """``mixup=0`` on a command line and ``mixup: 0.0`` in a file are one setting: numbers compare as floats."""
    if isinstance(value, (list, tuple)):
        return [_number_as_float(v) for v in value]
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def same_run_config(a: DictConfig, b: DictConfig) -> bool:
    """Whether two configs describe the same run, apart from ``RUN_LOCAL`` keys."""
    try:
        return config_fingerprint(a, RUN_LOCAL) == config_fingerprint(b, RUN_LOCAL)
    except Exception:  # an interpolation that no longer resolves: not the same run
        return False


def latest_unfinished_run(cfg: DictConfig, roots: Iterable[Path]) -> Optional[Path]:
    """The newest run folder under ``roots`` with a checkpoint, an unfinished status and ``cfg``'s config."""
    candidates = []
    for root in roots:
        for ckpt in Path(root).glob("**/checkpoints/last.pt"):
            run = ckpt.parent.parent
            summary = run / "summary.json"
            status = json.loads(summary.read_text()).get("status", "") if summary.exists() else ""
            if status != "finished" and (run / "config.yaml").exists():
                candidates.append((ckpt.stat().st_mtime, run))
    for _, run in sorted(candidates, reverse=True):
        if same_run_config(OmegaConf.load(run / "config.yaml"), cfg):
            return run
    return None

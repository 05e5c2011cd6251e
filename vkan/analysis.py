"""Analysis helpers for notebooks: runs and sweeps as DataFrames, comparison plots, learned KAN activations."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import hashlib
import json

import numpy as np
import pandas as pd
import torch
import yaml

from vkan.config import RUN_ONLY, config_fingerprint
from vkan.kan import KANLinear
from vkan.kan_tools import forward_with_kan_inputs, kan_layers

PathLike = Union[str, Path]
RunPaths = Union[PathLike, Sequence[PathLike]]  # a run folder, a sweep or tree of them, or a list of any of these
SUMMARY_COLUMNS = ["model_name", "data", "seed", "params", "best_val_acc", "final_val_acc", "img_per_s", "wall_time_s",
                   "status"]


def flatten(tree: dict, prefix: str = "") -> Dict[str, object]:
    """{"model": {"kwargs": {"depth": 12}}} -> {"model.kwargs.depth": 12}; lists become tuples."""
    flat: Dict[str, object] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = tuple(value) if isinstance(value, list) else value
    return flat


def project_root(start: Optional[PathLike] = None) -> Path:
    """The checkout that holds ``outputs/`` and ``multirun/``: the first folder at or above ``start`` (default: the
    working folder, e.g. ``notebooks/``) with ``conf/train.yaml``, else the one vkan was installed from."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "conf" / "train.yaml").exists():
            return folder
    installed = Path(__file__).resolve().parents[1]
    return installed if (installed / "conf" / "train.yaml").exists() else here


def newest_run(kind: str = "run", root: Optional[PathLike] = None) -> Path:
    """The newest run folder (``kind="run"``: any folder with summary.json under outputs/ and multirun/) or the
    newest sweep folder (``kind="sweep"``: a multirun/<date_time> folder; the newest run when there is none)."""
    root = project_root(root)
    if kind == "sweep":
        sweeps = [p for p in (root / "multirun").glob("*") if p.is_dir() and any(p.glob("*/summary.json"))]
        if sweeps:
            return max(sweeps, key=lambda p: p.stat().st_mtime)
    runs = [p.parent for folder in ("outputs", "multirun") for p in (root / folder).glob("**/summary.json")]
    if not runs:
        raise FileNotFoundError(f"no runs yet under {root / 'outputs'} or {root / 'multirun'}: train one first "
                                f"(python train.py ...), or pass the run folder explicitly")
    return max(runs, key=lambda p: (p / "summary.json").stat().st_mtime)


def find_runs(paths: RunPaths) -> List[Path]:
    """Run folders (holding summary.json) at or under ``paths``: one run, a sweep, a tree of them, or a list of
    these (say, the runs of one comparison from two sessions), in the list's order."""
    runs: List[Path] = []
    for path in map(Path, [paths] if isinstance(paths, (str, Path)) else paths):
        found = [path] if (path / "summary.json").exists() else sorted(p.parent for p in path.rglob("summary.json"))
        if not found:
            raise FileNotFoundError(f"no run folders (with summary.json) under {path}")
        runs += found
    return runs


def load_runs(path: RunPaths) -> pd.DataFrame:
    """One row per run: summary.json fields, the flattened config (``cfg.*`` columns), ``recipe`` (a short hash of
    the config apart from the seed and how the run was run, ``vkan.config.RUN_ONLY``: equal for the seeds of one
    recipe, whatever command line composed it), Hydra's config-group choices (``choice.model``,
    ``choice.experiment``, ...), the command line's overrides and ``run_dir``."""
    rows = []
    for run in find_runs(path):
        row = json.loads((run / "summary.json").read_text())
        config = yaml.safe_load((run / "config.yaml").read_text()) if (run / "config.yaml").exists() else {}
        row.update({f"cfg.{k}": v for k, v in flatten(config).items()})
        if config:
            row["recipe"] = hashlib.sha1(config_fingerprint(config, RUN_ONLY).encode()).hexdigest()[:10]
        row.update(hydra_record(run))
        row["run_dir"] = str(run)
        rows.append(row)
    return pd.DataFrame(rows)


def hydra_record(run: Path) -> Dict[str, object]:
    """What Hydra saved of how a run was launched (``.hydra/``): group choices and overrides ({} without it)."""
    hydra_file, overrides_file = run / ".hydra" / "hydra.yaml", run / ".hydra" / "overrides.yaml"
    out: Dict[str, object] = {}
    if hydra_file.exists():
        choices = (yaml.safe_load(hydra_file.read_text()) or {}).get("hydra", {}).get("runtime", {}).get("choices", {})
        out.update({f"choice.{group}": value for group, value in choices.items() if not group.startswith("hydra")})
    if overrides_file.exists():
        out["overrides"] = " ".join(yaml.safe_load(overrides_file.read_text()) or [])
    return out


ACCURACY_COLUMNS = ["dataset", "model", "experiment", "seed", "test_acc", "holdout_acc", "params", "img_per_s",
                    "wall_s", "epochs", "commit", "command", "stopped_by", "recipe"]


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame else pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _command(overrides: str) -> str:
    return " ".join(["python train.py", *(o for o in overrides.split() if not o.startswith("hydra."))])


def accuracy_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """The results table, one row per finished run that scored the test split (``ACCURACY_COLUMNS``; tuning
    runs never see it): ``model`` is the model config (vit_kan, vit, ...), ``holdout_acc`` the best epoch's
    holdout accuracy (empty when the run validated on test), ``command`` the ``python train.py`` line that
    reproduces the run, ``stopped_by`` set when ``trainer.max_minutes`` ended it before ``trainer.epochs``,
    ``recipe`` the hash of its config apart from the seed (``load_runs``)."""
    done = runs[(_column(runs, "status") == "finished") & _column(runs, "test_acc").notna()]
    table = pd.DataFrame({
        "dataset": _column(done, "data"), "model": _column(done, "choice.model").fillna(_column(done, "model_name")),
        "experiment": _column(done, "choice.experiment").fillna("none"), "seed": _column(done, "seed"),
        "test_acc": _column(done, "test_acc"),
        "holdout_acc": _column(done, "best_val_acc").where(_column(done, "val_split") == "holdout"),
        "params": _column(done, "params"), "img_per_s": _column(done, "img_per_s").astype(float).round(0),
        "wall_s": _column(done, "wall_time_s").astype(float).round(1),
        "epochs": _column(done, "epochs_done").astype("Int64"),  # whole numbers, whatever other runs lack
        "commit": _column(done, "git_commit"), "command": _column(done, "overrides").fillna("").map(_command),
        "stopped_by": _column(done, "stopped_by"), "recipe": _column(done, "recipe")})
    return table[ACCURACY_COLUMNS].sort_values(["dataset", "experiment", "model", "seed"]).reset_index(drop=True)


def accuracy_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over seeds of ``accuracy_rows``: one row per dataset, model, recipe (the config apart from the
    seed; the command without its seed for a run with no config.yaml) and parameter count (the same config builds
    another model when a default changes, e.g. the KAN width rule). ``commit`` is the runs' commits (space-separated
    when the seeds ran at several) and ``command`` the multirun line over the seeds; seeds that ran from different
    command lines of one config (say, an override that later went into the experiment file) give each line with its
    seeds, separated by "; "."""
    seedless = rows["command"].str.replace(r"(?<!\S)seed=\d+\s*", "", regex=True).str.strip()
    rows = rows.assign(command_sans_seed=seedless)
    rows["recipe"] = _column(rows, "recipe").astype(object).fillna(rows["command_sans_seed"])
    grouped = rows.groupby(["dataset", "experiment", "model", "recipe", "params"], dropna=False, sort=False)
    table = grouped.agg(test_mean=("test_acc", "mean"), test_std=("test_acc", "std"),
                        holdout_mean=("holdout_acc", "mean"),
                        img_per_s=("img_per_s", "mean"), wall_s=("wall_s", "mean"), epochs=("epochs", "mean"),
                        seeds=("seed", "count"),
                        commit=("commit", lambda c: " ".join(dict.fromkeys(map(str, c.dropna())))))
    table["command"] = grouped[["seed", "command_sans_seed"]].apply(_seeds_command)  # matched by the group's key
    return table.reset_index().drop(columns=["recipe"])


def _seeds_command(group: pd.DataFrame) -> str:
    """Each seedless command line of a group with its seeds: ``python train.py -m ... seed=0,1,2``."""
    lines = []
    for command, runs in group.groupby("command_sans_seed", sort=False):
        seeds = ",".join(map(str, sorted(runs["seed"])))
        multi = command.replace("python train.py", "python train.py -m", 1) if len(runs) > 1 else command
        lines.append(f"{multi} seed={seeds}")
    return "; ".join(lines)


def load_curves(path: RunPaths) -> pd.DataFrame:
    """Every run's metrics.csv stacked (one row per run and epoch) with ``run_dir``, model, data and seed."""
    frames = []
    for run in find_runs(path):
        if not (run / "metrics.csv").exists():
            continue
        curve = pd.read_csv(run / "metrics.csv")
        summary = json.loads((run / "summary.json").read_text())
        curve["run_dir"] = str(run)
        for key in ("model_name", "data", "seed"):
            curve[key] = summary.get(key)
        frames.append(curve)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def load_wandb_runs(project: str, entity: Optional[str] = None, filters: Optional[dict] = None) -> pd.DataFrame:
    """The same table as ``load_runs`` from a W&B project through its public API (needs a login)."""
    import wandb

    api = wandb.Api()
    rows = []
    for run in api.runs(f"{entity}/{project}" if entity else project, filters=filters):
        row = {k: v for k, v in run.summary.items() if not k.startswith("_")}
        row.update({f"cfg.{k}": v for k, v in flatten(dict(run.config)).items()})
        row.update(run_dir=f"wandb:{run.path if isinstance(run.path, str) else '/'.join(run.path)}", wandb_name=run.name)
        rows.append(row)
    return pd.DataFrame(rows)


def summarize(runs: pd.DataFrame, by: Sequence[str] = ("model_name", "data"),
              metrics: Sequence[str] = ("best_val_acc", "img_per_s", "params")) -> pd.DataFrame:
    """mean, std and count over seeds for each group: columns ``<metric>_mean``, ``<metric>_std``, ``n_runs``."""
    grouped = runs.groupby(list(by), dropna=False)
    table = grouped[list(metrics)].agg(["mean", "std"])
    table.columns = [f"{m}_{s}" for m, s in table.columns]
    table["n_runs"] = grouped.size()
    return table.reset_index()


def mean_curves(curves: pd.DataFrame, by: str = "model_name") -> pd.DataFrame:
    """Per-epoch mean and std over seeds of every metric column, and of ``wall_s`` (the run's wall-clock seconds at
    the epoch's end) where the runs logged it."""
    numeric = [c for c in ("train_loss", "train_acc", "val_loss", "val_acc", "wall_s") if c in curves]
    return curves.groupby([by, "epoch"])[numeric].agg(["mean", "std"]).reset_index()


# --- figures ---------------------------------------------------------------------------------------------

def plot_curves(curves: pd.DataFrame, by: str = "model_name", x: str = "epoch"):
    """The comparison figure: train loss and val accuracy per epoch, one line (mean ± std band) per model.

    ``x="minutes"`` draws them against wall-clock minutes instead (each epoch at its runs' mean ``wall_s`` of
    metrics.csv, summary.json's wall time at the epoch's end: compiling and evaluation included), the comparison at
    an equal time budget; that reads true only for runs that had the GPU to themselves, or shared it alike."""
    import matplotlib.pyplot as plt

    if x not in ("epoch", "minutes"):
        raise ValueError(f'plot_curves draws against x="epoch" or x="minutes", not {x!r}')
    if x == "minutes" and ("wall_s" not in curves or curves["wall_s"].isna().any()):
        raise ValueError("plot_curves(x=\"minutes\") needs the wall_s column of metrics.csv in every run (logged "
                         "since commit e52a70d); draw runs without it against x=\"epoch\"")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    stats = mean_curves(curves, by)
    for (ax, metric, title) in ((axes[0], "train_loss", "train loss"), (axes[1], "val_acc", "val accuracy")):
        for name, group in stats.groupby(by):
            mean, std = group[(metric, "mean")], group[(metric, "std")].fillna(0)
            at = group["epoch"] if x == "epoch" else group[("wall_s", "mean")] / 60
            ax.plot(at, mean, marker="o", ms=3, label=name)
            ax.fill_between(at, mean - std, mean + std, alpha=0.2)
        ax.set(xlabel="epoch" if x == "epoch" else "wall-clock minutes", title=title)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_tradeoffs(runs: pd.DataFrame, by: str = "model_name"):
    """Best val accuracy against parameters and against training throughput, one colour per model."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, group in runs.groupby(by):
        axes[0].scatter(group["params"] / 1e6, group["best_val_acc"], label=name)
        axes[1].scatter(group["img_per_s"], group["best_val_acc"], label=name)
    axes[0].set(xlabel="parameters (M)", ylabel="best val accuracy")
    axes[1].set(xlabel="training img/s", ylabel="best val accuracy")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_heatmap(runs: pd.DataFrame, rows: str, cols: str, metric: str = "best_val_acc"):
    """Mean ``metric`` over a two-axis sweep (e.g. ``cfg.model.kwargs.kan.grid_size`` x ``cfg.optimizer.lr``)."""
    import matplotlib.pyplot as plt

    table = runs.pivot_table(index=rows, columns=cols, values=metric, aggfunc="mean")
    fig, ax = plt.subplots(figsize=(1.2 * len(table.columns) + 3, 0.6 * len(table.index) + 2))
    im = ax.imshow(table.values, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(table.columns)), [str(c) for c in table.columns], rotation=30, ha="right")
    ax.set_yticks(range(len(table.index)), [str(i) for i in table.index])
    for (r, c), v in np.ndenumerate(table.values):
        if np.isfinite(v):
            ax.text(c, r, f"{v:.3f}", ha="center", va="center", color="white", fontsize=8)
    ax.set(xlabel=cols, ylabel=rows, title=f"mean {metric}")
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    return fig, table


# --- learned activations ---------------------------------------------------------------------------------

@torch.no_grad()
def edge_functions(layer: KANLinear, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Base and spline parts of every edge's phi at the 1-D points ``x`` (P,): two (P, out, in) tensors."""
    xs = x.reshape(-1, 1).expand(-1, layer.in_features).to(layer.grid)  # (P, in)
    base = layer.base_activation(xs)[:, None, :] * layer.base_weight[None].float()  # (P, out, in)
    bases = layer.b_splines(xs)  # (P, in, C)
    spline = torch.einsum("pic,oic->poi", bases, layer.scaled_spline_weight.float())  # (P, out, in)
    return base, spline


def layer_inputs(model: torch.nn.Module, batch: torch.Tensor, max_rows: int = 20000) -> Dict[str, torch.Tensor]:
    """The (N, in) inputs each KAN layer sees when ``model(batch)`` runs (eval mode), at most ``max_rows``."""
    seen: Dict[str, torch.Tensor] = {}
    forward_with_kan_inputs(model, batch, lambda name, layer, x: seen.__setitem__(name, x[:max_rows].float().cpu()))
    return seen


def outside_fraction(layer: KANLinear, inputs: torch.Tensor) -> float:
    """Fraction of inputs outside the layer's interior grid range, where only the base branch is shaped."""
    k, g = layer.spline_order, layer.grid_size
    lo, hi = layer.grid[:, k].cpu(), layer.grid[:, g + k].cpu()
    return ((inputs < lo) | (inputs > hi)).float().mean().item()


@torch.no_grad()
def edge_importance(layer: KANLinear, inputs: torch.Tensor) -> torch.Tensor:
    """Mean |phi_{o,i}(x_i)| over the inputs the layer saw: (out, in)."""
    x = inputs.to(layer.grid)  # (N, in)
    base = layer.base_activation(x)  # (N, in)
    total = torch.zeros(layer.out_features, layer.in_features, device=x.device)
    weight = layer.scaled_spline_weight.float()
    for chunk in range(0, x.shape[0], 2048):
        xb = x[chunk:chunk + 2048]
        phi = torch.einsum("nic,oic->noi", layer.b_splines(xb), weight) + base[chunk:chunk + 2048, None, :] * layer.base_weight.float()
        total += phi.abs().sum(0)
    return (total / x.shape[0]).cpu()


def plot_edges(layer: KANLinear, edges: Iterable[Tuple[int, int]], title: str = "", inputs: Optional[torch.Tensor] = None):
    """phi(x) of chosen (out, in) edges: spline part, base part and total, with the knots of input ``in``."""
    import matplotlib.pyplot as plt

    edges = list(edges)
    grid = layer.grid.cpu()
    fig, axes = plt.subplots(1, len(edges), figsize=(3.6 * len(edges), 3.2), squeeze=False)
    for ax, (o, i) in zip(axes[0], edges):
        lo, hi = grid[i, 0].item(), grid[i, -1].item()
        pad = 0.15 * (hi - lo)
        x = torch.linspace(lo - pad, hi + pad, 400)
        base, spline = edge_functions(layer, x)
        ax.plot(x, spline[:, o, i].cpu(), label="spline")
        ax.plot(x, base[:, o, i].cpu(), label="base", ls="--")
        ax.plot(x, (base + spline)[:, o, i].cpu(), label="total", color="k")
        for knot in grid[i]:
            ax.axvline(knot.item(), color="grey", lw=0.5, alpha=0.5)
        if inputs is not None:
            ax2 = ax.twinx()
            ax2.hist(inputs[:, i].numpy(), bins=60, color="tab:orange", alpha=0.2)
            ax2.set_yticks([])
        ax.set(title=f"edge {i} -> {o}", xlabel=f"input {i}")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_input_ranges(layers: Dict[str, KANLinear], inputs: Dict[str, torch.Tensor]):
    """Histogram of all inputs each KAN layer saw, with its grid range; the title gives the fraction outside."""
    import matplotlib.pyplot as plt

    names = list(layers)
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        layer, x = layers[name], inputs[name]
        k, g = layer.spline_order, layer.grid_size
        ax.hist(x.flatten().numpy(), bins=80, color="tab:blue", alpha=0.7)
        ax.axvspan(layer.grid[:, k].min().item(), layer.grid[:, g + k].max().item(), color="tab:green", alpha=0.15)
        ax.set_title(f"{name}\n{100 * outside_fraction(layer, x):.1f}% outside grid", fontsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_importance(importances: Dict[str, torch.Tensor]):
    """Edge-importance maps (out x in) per KAN layer."""
    import matplotlib.pyplot as plt

    names = list(importances)
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.0 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        im = ax.imshow(importances[name].numpy(), aspect="auto", cmap="magma")
        ax.set(title=name, xlabel="input", ylabel="output")
        ax.title.set_fontsize(8)
        fig.colorbar(im, ax=ax)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    return fig

"""Runs that start side by side and decode one photo set: each one's seconds, with the cache's turns
(``vkan.data.photos.cache_turn``: one run decodes, the others load its file) and with the cache off (every run
decodes, as all did before the turns when the cache was empty).

    python bench/decode_race.py --data-dir ../shared/data --runs 6
    python bench/decode_race.py --data-dir /tmp/data --runs 6 --modes turns nocache --json decode_race.json

Each mode starts ``--runs`` processes that import vkan, then all begin at one moment to build the training split
as ``python train.py experiment=flowers`` does (``vkan.data.source_splits``: decode, or load the cache, and split),
with an empty VKAN_CACHE_DIR of their own mode (``turns``) or none (``nocache``).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def child(data: str, data_dir: str, start_at: float) -> None:
    """One run: wait for the common start, build the training split, print its seconds as JSON."""
    from omegaconf import OmegaConf

    from vkan.data import source_splits

    cfg = OmegaConf.load(REPO / "conf" / "data" / f"{data}.yaml")
    time.sleep(max(0.0, start_at - time.time()))
    began = time.perf_counter()
    images, _ = source_splits(cfg, Path(data_dir))["train"]()
    print(json.dumps({"seconds": time.perf_counter() - began, "images": int(images.shape[0])}))


def race(mode: str, runs: int, data: str, data_dir: str, lead_s: float) -> list:
    """Start ``runs`` children of one mode together; their seconds."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "VKAN_CACHE_DIR": cache if mode == "turns" else "",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        start_at = time.time() + lead_s  # time enough for every child to import torch and vkan
        procs = [subprocess.Popen([sys.executable, __file__, "--child", "--data", data, "--data-dir", data_dir,
                                   "--start-at", str(start_at)], env=env, stdout=subprocess.PIPE, text=True)
                 for _ in range(runs)]
        outs = [p.communicate()[0] for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit(f"{mode}: a run failed (exit codes {[p.returncode for p in procs]})")
    return [json.loads(out.strip().splitlines()[-1])["seconds"] for out in outs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="flowers", help="a photo data config of conf/data/ that names its folder (flowers, flowers102)")
    ap.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--runs", type=int, default=6)
    ap.add_argument("--modes", nargs="+", default=["turns", "nocache"], choices=["turns", "nocache"])
    ap.add_argument("--lead-s", type=float, default=15.0, help="seconds from launch to the common start")
    ap.add_argument("--json", help="write the seconds per mode here too")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--start-at", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.data, args.data_dir, args.start_at)
    seconds = {mode: race(mode, args.runs, args.data, args.data_dir, args.lead_s) for mode in args.modes}
    print(f"{args.runs} runs building {args.data} at once (os.cpu_count() = {os.cpu_count()})")
    print("| mode | min s | median s | max s |\n|---|---|---|---|")
    for mode, s in seconds.items():
        print(f"| {mode} | {min(s):.1f} | {statistics.median(s):.1f} | {max(s):.1f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(seconds, indent=1) + "\n")


if __name__ == "__main__":
    main()

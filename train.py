"""Train a ViT-KAN (or its MLP twin): `python train.py model=vit_kan data=cifar10`; `-m` for sweeps."""
import sys

import hydra
from omegaconf import DictConfig

from vkan.cli import preflight, run_job


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    """Hydra entry point: ``vkan.train.train(cfg)`` through ``vkan.cli.run_job``; returns the summary's
    ``cfg.optimized_metric`` to a sweeper (NaN for a failed job, which the sweep reports when it ends)."""
    return run_job(cfg)


if __name__ == "__main__":
    preflight(sys.argv[1:])
    main()

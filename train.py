"""Train a ViT-KAN (or its MLP twin): `python train.py model=vit_kan data=cifar10`; `-m` for sweeps."""
import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns ``cfg.optimized_metric`` of the run's summary for sweepers."""
    from vkan.train import train

    summary = train(cfg)
    return summary.get(cfg.optimized_metric)


if __name__ == "__main__":
    main()

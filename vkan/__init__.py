"""vkan: Vision Transformers with Kolmogorov-Arnold (B-spline KAN) feed-forward layers, built on timm."""
from vkan.kan import KANLinear, KANSpec, b_spline_bases
from vkan.efficient_kan import KAN
from vkan.kan_tools import kan_layers, kan_regularization_loss, param_groups, update_grids
from vkan.mlp import KANMlp
from vkan import models  # noqa: F401  (registers vit_kan_* / vit_mlp_* with timm)
from vkan.models import REGISTERED_MODELS, KanVisionTransformer, matched_kan_hidden
from vkan.checkpoint import load_run
from vkan.ffn_graphs import graph_feed_forwards

__all__ = [
    "KAN", "KANLinear", "KANMlp", "KANSpec", "KanVisionTransformer", "REGISTERED_MODELS", "b_spline_bases",
    "graph_feed_forwards", "kan_layers", "kan_regularization_loss", "load_run", "matched_kan_hidden", "param_groups",
    "update_grids",
]
__version__ = "0.1.0"

"""The small-data ViT pieces (vkan.small_data): the shifted patch and convolutional tokenizers and locality
self-attention."""
import pytest
import torch
from timm.models.vision_transformer import VisionTransformer

from vkan.small_data import ConvPatchEmbed, LocalitySelfAttention, ShiftedPatchEmbed, small_data_layers


def test_shifted_patch_tokenizer_sees_the_image_and_its_four_half_patch_diagonal_shifts():
    embed = ShiftedPatchEmbed(img_size=8, patch_size=4, in_chans=1, embed_dim=6)
    seen = {}
    embed.patch_norm.register_forward_hook(lambda m, args, out: seen.setdefault("patches", args[0]))
    x = torch.arange(64.0).reshape(1, 1, 8, 8)
    tokens = embed(x)
    assert tokens.shape == (1, 4, 6) and embed.num_patches == 4
    first = seen["patches"][0, 0].reshape(5, 4, 4)  # the top-left patch of the 5 stacked images
    assert torch.equal(first[0], x[0, 0, :4, :4])
    # shift (dx, dy) = (-1, -1) half patches: pixel (r, c) shows the image at (r - 2, c - 2), zero outside
    assert torch.equal(first[1][2:, 2:], x[0, 0, :2, :2]) and (first[1][:2] == 0).all()
    assert torch.equal(first[4], x[0, 0, 2:6, 2:6])  # shift (+1, +1)


def test_convolutional_tokenizer_ends_on_the_patch_grid_and_sees_beyond_its_patch():
    torch.manual_seed(0)
    embed = ConvPatchEmbed(img_size=16, patch_size=4, in_chans=3, embed_dim=8)
    convs = [layer for layer in embed.proj if isinstance(layer, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(3, 64), (64, 8)]  # log2(4) = 2 halvings
    x = torch.rand(1, 3, 16, 16)
    tokens = embed(x)
    assert tokens.shape == (1, 16, 8) and embed.num_patches == 16
    nearby = x.clone()
    nearby[:, :, 5, 5] += 10.0  # a pixel of the second patch row and column, next to the first patch
    assert not torch.allclose(embed(nearby)[0, 0], tokens[0, 0])  # the first token sees it
    far = x.clone()
    far[:, :, 15, 15] += 10.0  # beyond the receptive field (13 px) of the first token
    assert torch.equal(embed(far)[0, 0], tokens[0, 0])


@pytest.mark.parametrize("img_size, patch_size", [(12, 3), (12, 6), (28, 8)])
def test_convolutional_tokenizer_names_the_patch_sizes_it_takes(img_size, patch_size):
    with pytest.raises(ValueError, match="square power-of-two patch size .* that divides the image"):
        ConvPatchEmbed(img_size=img_size, patch_size=patch_size, embed_dim=8)


@pytest.mark.parametrize("tokenizer", ["spt", "conv"])
def test_tokenizers_take_timms_new_image_size_and_refuse_a_new_patch_size(tokenizer):
    model = VisionTransformer(img_size=16, patch_size=4, embed_dim=16, depth=1, num_heads=2, num_classes=3,
                              **small_data_layers({"tokenizer": tokenizer}))
    model.set_input_size(img_size=32)  # timm's way: the grid and the position embedding follow
    assert model.patch_embed.num_patches == 64 and model(torch.randn(1, 3, 32, 32)).shape == (1, 3)
    with pytest.raises(ValueError, match=r"is built for patch_size=\(4, 4\) and cannot change it to \(8, 8\)"):
        model.set_input_size(patch_size=8)
    if tokenizer == "conv":
        with pytest.raises(ValueError, match="that divides the image"):
            model.set_input_size(img_size=30)
    assert model.patch_embed.img_size == (32, 32)  # a refused change leaves the model as it was


def test_locality_self_attention_never_attends_to_the_token_itself():
    torch.manual_seed(0)
    attn = LocalitySelfAttention(8, num_heads=2).eval()
    x = torch.randn(1, 2, 8)
    other = x.clone()
    other[0, 0] += 3.0
    # two tokens, the diagonal masked: token 0 attends to token 1 alone, so its output ignores its own input
    assert torch.allclose(attn(x)[0, 0], attn(other)[0, 0])
    assert not torch.allclose(attn(x)[0, 1], attn(other)[0, 1])
    assert attn.temperature.requires_grad and attn.temperature.item() == pytest.approx(4 ** -0.5)


def test_small_data_names_become_timm_hooks_and_train():
    kwargs = small_data_layers({"tokenizer": "spt", "attention": "lsa", "depth": 1})
    model = VisionTransformer(img_size=16, patch_size=4, embed_dim=16, num_heads=2, num_classes=3, **kwargs)
    assert isinstance(model.patch_embed, ShiftedPatchEmbed) and isinstance(model.blocks[0].attn, LocalitySelfAttention)
    model(torch.randn(2, 3, 16, 16)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ValueError, match="tokenizer='sptt': choose one of patch, spt, conv"):
        small_data_layers({"tokenizer": "sptt"})


@pytest.mark.parametrize("tokenizer, embed_cls", [("spt", ShiftedPatchEmbed), ("conv", ConvPatchEmbed)])
def test_kan_and_mlp_twins_take_the_small_data_options_by_name_and_stay_parameter_matched(tokenizer, embed_cls):
    import timm

    import vkan  # noqa: F401

    options = dict(tokenizer=tokenizer, attention="lsa", global_pool="avg", class_token=False, patch_size=2, depth=2)
    kan = timm.create_model("vit_kan_tiny_patch4_32", num_classes=10, kan_hidden_multiple=1, **options)  # matched
    mlp = timm.create_model("vit_mlp_tiny_patch4_32", num_classes=10, **options)
    assert isinstance(kan.patch_embed, embed_cls) and isinstance(mlp.blocks[1].attn, LocalitySelfAttention)
    assert kan.patch_embed.num_patches == 256
    n_kan, n_mlp = (sum(p.numel() for p in m.parameters()) for m in (kan, mlp))
    assert abs(n_kan / n_mlp - 1) < 0.01, (n_kan, n_mlp)
    assert kan(torch.randn(2, 3, 32, 32)).shape == (2, 10)

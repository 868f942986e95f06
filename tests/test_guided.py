"""Image-guided attention: against explicit N x N attention matrices, and how the network wires it."""

from __future__ import annotations

import pytest
import torch

from stereo_attn.attention import ImageGuidedAttention3d, build_attention
from stereo_attn.model.spec import ModelConfigError, build_network
from tests.helpers.blocks import randomize


def explicit_guided(block: ImageGuidedAttention3d, x: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """The block written with each head's (H*W x H*W) attention matrix and one slice per disparity."""
    d, h, w = x.shape[2:]
    window = block.window or max(h, w)
    rows, columns = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    tile = ((rows // window) * w + columns // window).flatten()
    same_window = (tile[:, None] == tile[None, :]).to(x.dtype)  # (N, N): pixel i may attend to j
    heads, key, value = block.heads, block.key_channels // block.heads, block.value_channels // block.heads
    g = guide.flatten(2)
    g = (g - g.mean(1, keepdim=True)) / torch.sqrt(g.var(1, unbiased=False, keepdim=True) + 1e-5)
    projected = block.to_queries_keys.weight @ g + block.to_queries_keys.bias[:, None]
    queries, keys = projected[:, : heads * key], projected[:, heads * key :]
    voxels = x.flatten(3)  # (B, C, D, N)
    normed = voxels
    if block.prenorm:
        centred = voxels - voxels.mean(1, keepdim=True)
        normed = centred / torch.sqrt(voxels.var(1, unbiased=False, keepdim=True) + 1e-5)
    values = torch.einsum("vc,bcdn->bvdn", block.to_values, normed)
    mixed = torch.zeros_like(values)
    for head in range(heads):
        q = queries[:, head * key : (head + 1) * key].softmax(dim=1)  # (B, key, N)
        k = keys[:, head * key : (head + 1) * key].exp()
        # Each key channel's softmax over the pixels of i's window: (B, key, N_i, N_j).
        weights = k[:, :, None, :] * same_window
        weights = weights / weights.sum(-1, keepdim=True)
        attention = torch.einsum("bki,bkij->bij", q, weights)  # row i: pixel i's weights over all pixels
        assert torch.allclose(attention.sum(-1), torch.ones(()).to(attention))
        for disparity in range(d):
            v = values[:, head * value : (head + 1) * value, disparity]  # (B, value, N)
            mixed[:, head * value : (head + 1) * value, disparity] = v @ attention.transpose(1, 2)
    update = torch.einsum("cv,bvdn->bcdn", block.out, mixed)
    return x + update.view_as(x)


def make_block(heads: int = 2, window: int = 0, prenorm: bool = True) -> ImageGuidedAttention3d:
    options = {"key_channels": 8, "value_channels": 4, "heads": heads, "window": window, "prenorm": prenorm}
    return randomize(build_attention("guided", 6, guide_channels=5, **options), 0.5).double()


@pytest.mark.parametrize(
    ("heads", "window", "prenorm"), [(1, 0, True), (2, 0, True), (2, 2, True), (1, 3, False), (2, 7, True)]
)
def test_equals_explicit_attention_matrices(heads: int, window: int, prenorm: bool) -> None:
    """Windows of 2 and 3 pixels do not divide the 4 x 5 map (padding), 7 is larger than it."""
    torch.manual_seed(0)
    block = make_block(heads, window, prenorm)
    x, guide = torch.randn(2, 6, 3, 4, 5).double(), torch.randn(2, 5, 4, 5).double()
    torch.testing.assert_close(block(x, guide), explicit_guided(block, x, guide))


def test_windows_keep_pixels_of_other_windows_out() -> None:
    torch.manual_seed(7)
    block = make_block(window=2)
    x, guide = torch.randn(1, 6, 2, 4, 4).double(), torch.randn(1, 5, 4, 4).double()
    changed_x, changed_guide = x.clone(), guide.clone()
    changed_x[..., 2:, 2:] += 1.0  # the bottom-right window only
    changed_guide[..., 2:, 2:] += 1.0
    before, after = block(x, guide), block(changed_x, changed_guide)
    torch.testing.assert_close(after[..., :2, :], before[..., :2, :])
    torch.testing.assert_close(after[..., :, :2], before[..., :, :2])
    assert not torch.allclose(after[..., 2:, 2:], before[..., 2:, 2:])


def test_channels_last_volume_gives_the_same_result() -> None:
    torch.manual_seed(1)
    block = make_block()
    x, guide = torch.randn(1, 6, 4, 3, 5).double(), torch.randn(1, 5, 3, 5).double()
    strided = x.contiguous(memory_format=torch.channels_last_3d)
    torch.testing.assert_close(block(strided, guide), block(x, guide))


def test_new_block_is_the_identity() -> None:
    block = build_attention("guided", 8, guide_channels=4)
    x = torch.randn(1, 8, 2, 3, 4)
    torch.testing.assert_close(block(x, torch.randn(1, 4, 3, 4)), x)


def test_pixels_permuted_together_permute_the_output() -> None:
    torch.manual_seed(2)
    block = make_block()
    x, guide = torch.randn(1, 6, 3, 4, 5).double(), torch.randn(1, 5, 4, 5).double()
    order = torch.randperm(20)
    permuted = block(x.flatten(3)[..., order].view_as(x), guide.flatten(2)[..., order].view_as(guide))
    torch.testing.assert_close(permuted, block(x, guide).flatten(3)[..., order].view_as(x))


def test_disparities_are_not_mixed() -> None:
    """Each disparity slice is filtered on its own: changing one slice leaves the others' output."""
    torch.manual_seed(3)
    block = make_block()
    x, guide = torch.randn(1, 6, 3, 4, 5).double(), torch.randn(1, 5, 4, 5).double()
    changed = x.clone()
    changed[:, :, 1] += torch.randn_like(changed[:, :, 1])
    before, after = block(x, guide), block(changed, guide)
    torch.testing.assert_close(after[:, :, [0, 2]], before[:, :, [0, 2]])
    assert not torch.allclose(after[:, :, 1], before[:, :, 1])


def test_larger_guide_is_average_pooled_to_the_volume() -> None:
    torch.manual_seed(4)
    block = make_block()
    x, guide = torch.randn(1, 6, 2, 3, 4).double(), torch.randn(1, 5, 6, 8).double()
    pooled = torch.nn.functional.avg_pool2d(guide, 2)
    torch.testing.assert_close(block(x, guide), block(x, pooled))


@pytest.mark.parametrize("window", [0, 2])
def test_gradients_match_finite_differences(window: int) -> None:
    torch.manual_seed(5)
    block = make_block(window=window)
    x = torch.randn(1, 6, 2, 2, 3, dtype=torch.float64, requires_grad=True)
    guide = torch.randn(1, 5, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x, guide))


def test_bf16_autocast_stays_close_to_fp32() -> None:
    torch.manual_seed(6)
    block = make_block().float()
    x, guide = torch.randn(2, 6, 4, 8, 8), torch.randn(2, 5, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = block(x, guide)
    assert low.dtype == torch.float32
    reference = block(x, guide)
    assert (low - reference).abs().max() < 0.05 * reference.abs().max()


def test_needs_the_guide_width_and_two_keys_per_head() -> None:
    with pytest.raises(ValueError, match="guide_channels"):
        build_attention("guided", 8)
    with pytest.raises(ValueError, match="2 key channels per head"):
        build_attention("guided", 8, guide_channels=4, key_channels=4, heads=4)
    with pytest.raises(ValueError, match="window must be 0"):
        build_attention("guided", 8, guide_channels=4, window=-1)


SMALL = {
    "max_disparity": 32,
    "features": {"channels": [8, 8, 8], "blocks": 1},
    "groups": 4,
    "aggregation": {"channels": 8, "hourglasses": 1},
    "upsample_hidden": 8,
}


@pytest.mark.parametrize("places", [["quarter"], ["eighth"], ["quarter", "eighth", "sixteenth"]])
def test_network_feeds_the_left_features_to_every_place(places: list[str]) -> None:
    network = build_network(
        {**SMALL, "attention": {"name": "guided", "key_channels": 4}, "attention_places": places}, ""
    )
    blocks = [m for m in network.modules() if isinstance(m, ImageGuidedAttention3d)]
    assert len(blocks) == len(places)
    for block in blocks:
        torch.nn.init.normal_(block.out)
    seen = []
    for block in blocks:
        block.register_forward_hook(lambda _, args, out: seen.append((args[0].shape, args[1].shape)))
    network.eval()
    with torch.no_grad():
        out = network(torch.rand(1, 3, 48, 64), torch.rand(1, 3, 48, 64))
    assert out["disparity"].shape == (1, 48, 64) and torch.isfinite(out["disparity"]).all()
    assert all(guide == (1, 8, 12, 16) for _, guide in seen)  # the left trunk at 1/4, pooled inside


def test_config_cannot_set_the_guide_width() -> None:
    config = {**SMALL, "attention": {"name": "guided", "guide_channels": 3}}
    with pytest.raises(ModelConfigError, match="unknown option 'guide_channels'"):
        build_network(config, "")

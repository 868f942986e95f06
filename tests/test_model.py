"""The stereo network: shapes for any size, gradients everywhere, determinism, swappable attention."""

from __future__ import annotations

import gc

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from stereo_attn.attention import build_attention
from stereo_attn.model import StereoNetwork
from stereo_attn.model.aggregation import attend, scoring_head
from stereo_attn.model.cost_volume import groupwise_correlation
from stereo_attn.model.heads import ConvexUpsampler, soft_argmin
from stereo_attn.model.spec import ModelConfigError, build_network

from helpers.project import CONF

TINY = {"features": {"channels": [8, 8, 16], "blocks": 1}, "groups": 4, "aggregation": {"channels": 8}}


def tiny(attention: str = "efficient", **options) -> StereoNetwork:
    torch.manual_seed(0)
    return StereoNetwork(**{**TINY, "attention": {"name": attention}, "upsample_hidden": 8, **options})


@pytest.mark.parametrize(
    ("height", "width", "max_disparity"), [(37, 61, 48), (64, 96, 96), (50, 131, 192), (33, 40, 20)]
)
def test_any_size_and_disparity_range(height: int, width: int, max_disparity: int) -> None:
    net = tiny(max_disparity=max_disparity).eval()
    left, right = torch.rand(2, 3, height, width), torch.rand(2, 3, height, width)
    with torch.no_grad():
        out = net(left, right)
    assert out["disparity"].shape == out["confidence"].shape == (2, height, width)
    assert len(out["disparities"]) == 1  # eval: the final stage only
    assert (out["confidence"] >= 0).all() and (out["confidence"] <= 1 + 1e-5).all()
    # Soft-argmin over the bins: disparities lie in [0, 4 * bins], bins covering max_disparity.
    assert net.bins * 4 >= max_disparity and out["disparity"].min() >= 0
    assert out["disparity"].max() <= net.bins * 4


def test_gradients_reach_every_stage_and_attention_block() -> None:
    net = tiny(
        attention_places=["quarter", "eighth", "sixteenth"], aggregation={"channels": 8, "hourglasses": 2}
    )
    out = net(torch.rand(1, 3, 48, 64), torch.rand(1, 3, 48, 64))
    assert len(out["disparities"]) == 3  # stem + two hourglasses, for the multi-output loss
    sum(d.mean() for d in out["disparities"]).backward()
    missing = [name for name, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    # Inside each attention block only the zero-initialised output projection gets a gradient at first
    # (the rest feeds through it); every other parameter must get one.
    assert all(".attention_" in name and not name.endswith("out.weight") for name in missing), missing
    attention_outputs = [name for name, _ in net.named_parameters() if name.endswith("out.weight")]
    assert len(attention_outputs) == 1 + 2 * 2  # quarter, and eighth + sixteenth in each hourglass


def test_eval_output_is_deterministic() -> None:
    net = tiny("soft").eval()
    left, right = torch.rand(1, 3, 40, 72), torch.rand(1, 3, 40, 72)
    with torch.no_grad():
        first, second = net(left, right), net(left, right)
    torch.testing.assert_close(first["disparity"], second["disparity"], rtol=0, atol=0)


def test_swapping_the_attention_block_changes_nothing_else() -> None:
    plain = tiny("none").eval()
    attended = tiny("efficient").eval()
    outside = {k: v for k, v in attended.state_dict().items() if ".attention_" not in k}
    assert outside.keys() == plain.state_dict().keys()
    attended.load_state_dict(plain.state_dict(), strict=False)
    left, right = torch.rand(1, 3, 40, 72), torch.rand(1, 3, 40, 72)
    with torch.no_grad():  # a new attention block is the identity, so the networks agree exactly
        torch.testing.assert_close(attended(left, right)["disparity"], plain(left, right)["disparity"])


@pytest.mark.parametrize("width", [13, 5])  # wider than the range, and narrower (an exported graph's case)
def test_groupwise_correlation_equals_its_definition_pixel_by_pixel(width: int) -> None:
    left, right = torch.randn(2, 6, 3, width), torch.randn(2, 6, 3, width)
    volume = groupwise_correlation(left, right, disparities=8, groups=3)
    expected = torch.zeros(2, 3, 8, 3, width)
    for d in range(8):
        for x in range(d, width):  # zero where x - d is outside the right image
            product = left[..., x] * right[..., x - d]  # (B, C, H)
            expected[:, :, d, :, x] = product.view(2, 3, 2, 3).mean(dim=2)
    torch.testing.assert_close(volume, expected)


def test_soft_argmin_and_confidence_on_known_distributions() -> None:
    scores = torch.full((1, 8, 1, 2), -30.0)
    scores[0, 5, 0, 0] = 30.0  # a sharp peak at bin 5
    scores[0, :, 0, 1] = 0.0  # flat: expectation in the middle, low confidence
    disparity, confidence = soft_argmin(scores)
    torch.testing.assert_close(disparity[0, 0], torch.tensor([5.0, 3.5]))
    assert confidence[0, 0, 0] > 0.99 and confidence[0, 0, 1] == pytest.approx(3 / 8)


def test_windowed_soft_argmin_ignores_a_second_mode() -> None:
    # Two modes: 0.6 at bin 2, 0.4 at bin 9. All bins average to 4.8, between both surfaces; a window
    # around the peak gives the peak's own disparity, refined by its neighbours.
    probability = torch.full((1, 12, 1, 1), 1e-6)
    probability[0, [1, 2, 3, 9], 0, 0] = torch.tensor([0.1, 0.4, 0.1, 0.4])
    scores = probability.log()
    full, _ = soft_argmin(scores)
    windowed, _ = soft_argmin(scores, window=1)
    near = probability[0, 1:4, 0, 0]
    expected = (near * torch.tensor([1.0, 2.0, 3.0])).sum() / near.sum()
    torch.testing.assert_close(windowed[0, 0, 0], expected)
    assert full[0, 0, 0].item() == pytest.approx(4.8, abs=1e-3)
    # A window at least as wide as the volume is the plain soft-argmin, at the peak's far end too.
    random = torch.randn(2, 7, 3, 4)
    torch.testing.assert_close(soft_argmin(random, window=6)[0], soft_argmin(random)[0])
    edge = torch.full((1, 5, 1, 1), -9.0)
    edge[0, 0] = 3.0
    edge[0, 1] = 2.0
    expected_edge = torch.tensor([3.0, 2.0]).softmax(0) @ torch.tensor([0.0, 1.0])
    assert soft_argmin(edge, window=1)[0].item() == pytest.approx(expected_edge.item(), rel=1e-3)


def test_regression_window_applies_at_inference_only() -> None:
    network = tiny(max_disparity=32, regression_window=1)
    left, right = torch.rand(1, 3, 32, 48), torch.rand(1, 3, 32, 48)
    network.eval()
    with torch.no_grad():
        windowed = network(left, right)["disparity"]
        network.regression_window = None
        full = network(left, right)["disparity"]
    assert not torch.allclose(windowed, full)  # random weights: multi-modal distributions differ
    network.train()
    network.regression_window = 1
    trained = network(left, right)["disparity"]
    network.regression_window = None
    torch.testing.assert_close(trained, network(left, right)["disparity"])
    with pytest.raises(ValueError, match="regression_window"):
        StereoNetwork(max_disparity=32, regression_window=-1)
    assert tiny().regression_window is None  # configs without the option (older checkpoints): every bin


def test_convex_upsampling_keeps_constant_disparity_and_scales_it() -> None:
    upsampler = ConvexUpsampler(context_channels=4, factor=4, hidden=8)
    weights = upsampler.weights(torch.randn(1, 4, 5, 6))
    out = upsampler(torch.full((1, 5, 6), 2.5), weights)
    assert out.shape == (1, 20, 24)
    # Interior pixels: a convex combination of equal values. Border pixels see zero padding.
    torch.testing.assert_close(out[:, 4:-4, 4:-4], torch.full((1, 12, 16), 10.0))


def test_attention_inside_the_network_keeps_the_convolutions_channels_last_layout() -> None:
    # Same values and gradients as the block alone; the output and the gradient it hands back are
    # channels-last like the convolutions around it (mixed layouts made ReLU's backward 25x slower).
    torch.manual_seed(0)
    block = build_attention("efficient", 4, chunk_voxels=50)
    torch.nn.init.normal_(block.out.weight)  # not the identity it starts as
    base = torch.randn(2, 4, 3, 5, 7)
    volume = base.contiguous(memory_format=torch.channels_last_3d).requires_grad_()
    upstream = torch.randn(2, 4, 3, 5, 7)
    grads = []

    def keep_gradient(grad: torch.Tensor) -> None:
        grads.append(grad)

    source = volume * 1  # a non-leaf, as the stem's output is
    source.register_hook(keep_gradient)
    out = attend(block, source, torch.empty(0))
    assert out.is_contiguous(memory_format=torch.channels_last_3d)
    out.backward(upstream)
    assert grads[0].is_contiguous(memory_format=torch.channels_last_3d)
    reference_input = base.clone().requires_grad_()
    reference = block(reference_input)
    reference.backward(upstream)
    torch.testing.assert_close(out, reference)
    torch.testing.assert_close(volume.grad, reference_input.grad)
    with torch.no_grad():
        assert attend(block, volume, torch.empty(0)).is_contiguous(memory_format=torch.channels_last_3d)


def test_the_pointwise_head_is_one_3x3x3_convolution_of_rank_one() -> None:
    # A projection to one channel and then a 3x3x3 filter of it equals a single 3x3x3 convolution whose
    # kernel is the filter times the projection (zero padding commutes: the projection has no bias).
    torch.manual_seed(0)
    head = scoring_head(6, "pointwise").double()
    volume = torch.randn(2, 6, 5, 7, 9, dtype=torch.float64)
    projection, spatial = head[0].weight[0, :, 0, 0, 0], head[1].weight[0, 0]
    kernel = (projection[:, None, None, None] * spatial)[None]
    expected = torch.nn.functional.conv3d(volume, kernel, padding=1)
    torch.testing.assert_close(head(volume), expected)


def test_head_choice_changes_only_the_heads_and_is_checked() -> None:
    conv, pointwise = tiny(), tiny(aggregation={"channels": 8, "head": "pointwise"})
    differ = {k for k, v in conv.state_dict().items() if pointwise.state_dict().get(k, v).shape != v.shape}
    only_in_one = conv.state_dict().keys() ^ pointwise.state_dict().keys()
    assert differ | only_in_one and all(".heads." in key for key in differ | only_in_one)
    out = pointwise.eval()(torch.rand(1, 3, 32, 48), torch.rand(1, 3, 32, 48))
    assert out["disparity"].shape == (1, 32, 48)
    config = {**TINY, "aggregation": {"channels": 8, "head": "deep"}}
    with pytest.raises(ModelConfigError, match=r"head must be one of \('conv', 'pointwise'\), got 'deep'"):
        build_network(config, "x.ckpt")


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="one shape"):
        tiny()(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 40))
    with pytest.raises(ValueError, match="attention places"):
        tiny(attention_places=["half"])


@pytest.mark.parametrize("preset", ["small", "mid", "base"])
@pytest.mark.parametrize("attention", ["efficient", "soft", "polynl", "none"])
def test_presets_compose_with_any_attention(preset: str, attention: str) -> None:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("bench_attention", overrides=[f"+model={preset}", f"model/attention={attention}"])
    net = instantiate(cfg.model, _convert_="all")
    assert isinstance(net, StereoNetwork) and net.name == preset
    blocks = [type(m).__name__ for n, m in net.named_modules() if n.endswith("attention_quarter")]
    expected = {"efficient": "EfficientAttention3d", "soft": "SoftAttention3d", "polynl": "PolyNL3d"}
    assert blocks == [expected.get(attention, "Identity")]


def freed_nans() -> None:
    """Leave NaNs in memory the allocator hands out next, so reads of uninitialized memory show."""
    junk = [torch.full((n,), float("nan")) for n in (10**3, 10**4, 10**5, 10**6)]
    del junk
    gc.collect()


def test_bf16_training_on_a_depth_2_volume_has_exact_finite_gradients() -> None:
    # A 32 px range gives the 1/16 stage a depth of 2, where torch's bf16 channels-last Conv3d backward
    # reads uninitialized memory; layers.Conv3d runs that case in fp32.
    network = build_network(
        {
            "max_disparity": 32,
            "features": {"channels": [16, 24, 32], "blocks": 1},
            "groups": 8,
            "aggregation": {"channels": 16, "hourglasses": 1},
            "attention": {"name": "efficient"},
        },
        "",
    ).train()
    left, right = torch.rand(2, 3, 32, 64), torch.rand(2, 3, 32, 64)
    gradients = []
    for _ in range(4):
        freed_nans()
        network.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            output = network(left, right)
        sum(d.float().mean() for d in output["disparities"]).backward()
        gradients.append({n: p.grad.clone() for n, p in network.named_parameters() if p.grad is not None})
    for name, gradient in gradients[0].items():
        assert torch.isfinite(gradient).all(), name
        for other in gradients[1:]:
            assert torch.equal(other[name], gradient), name  # deterministic: no garbage read

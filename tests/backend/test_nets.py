"""Every architecture and fusion option builds, maps (B,T,C,H,W) dB to (B,1,H,W) logits, survives NaN,
and trains (gradients reach the first layer)."""

import pytest
import torch
from torch import nn

from backend.nets import ARCHITECTURES, build_decision, build_model, expand_first_layer, model_variants
from backend.nets.profile import count_macs, count_parameters
from backend.nets.simta import DecisionFusion

torch.set_num_threads(1)
VARIANTS = model_variants()


def tiny(name: str, steps: int = 4) -> nn.Module:
    arch, kwargs = VARIANTS[name]
    extra = {"steps": steps, "width": 4}
    if arch != "convlstm":
        extra["depth"] = 2
    return build_model(arch, **kwargs, **extra)


def db_input(net: nn.Module, side: int = 32, batch: int = 2) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(batch, net.steps, len(net.polarizations), side, side) * 3 - 15


def test_variants_cover_every_architecture():
    assert {arch for arch, _ in VARIANTS.values()} == set(ARCHITECTURES)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_forward_shape_nan_and_gradient(name):
    net = tiny(name)
    assert net.size_multiple in (1, 4)
    x = db_input(net)
    x[0, :2, :, :5, :5] = float("nan")  # missing data / early-season padding
    x.requires_grad_(False)
    logits = net(x)
    assert logits.shape == (2, 1, 32, 32)
    assert torch.isfinite(logits).all()
    logits.mean().backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_polarizations_follow_fusion_scheme():
    assert tiny("simta_vv").polarizations == ["VV"]
    assert tiny("simta_vh").polarizations == ["VH"]
    for name in ("simta_data", "simta_feature_cga", "simta_decision", "unet", "utae"):
        assert tiny(name).polarizations == ["VV", "VH"]
    assert tiny("recurrent_unet_vh").polarizations == ["VH"]


def test_normalization_buffers_are_saved_and_used():
    net = tiny("simta_data")
    assert net.normalization() == {"VV": {"mean": -12.0, "std": 4.0}, "VH": {"mean": -19.0, "std": 4.0}}
    net.set_normalization({"VV": {"mean": -10.0, "std": 2.0}, "VH": {"mean": -20.0, "std": 5.0}})
    state = net.state_dict()
    assert state["norm.mean"].flatten().tolist() == [-10.0, -20.0]
    assert state["norm.std"].flatten().tolist() == [2.0, 5.0]
    with pytest.raises(ValueError, match="std must be > 0"):
        net.set_normalization({"VV": {"mean": 0, "std": 0}, "VH": {"mean": 0, "std": 1}})


def test_nan_equals_zero_in_normalized_space():
    """A missing value acts exactly like a value at the polarization mean."""
    net = tiny("recurrent_unet_vh").eval()
    x = db_input(net, batch=1)
    filled = x.clone()
    x[0, 1, 0, 3:9, 3:9] = float("nan")
    filled[0, 1, 0, 3:9, 3:9] = -19.0
    x[0, 2, 0, 0, 0] = float("-inf")  # 10*log10(0)
    filled[0, 2, 0, 0, 0] = -19.0
    with torch.no_grad():
        torch.testing.assert_close(net(x), net(filled))


def test_decision_fusion_is_weighted_sum_of_branches():
    vv, vh = tiny("simta_vv").eval(), tiny("simta_vh").eval()
    fused = DecisionFusion(vv, vh, weight=0.25).eval()
    x = db_input(fused)
    with torch.no_grad():
        expected = 0.25 * vv(x[:, :, :1]) + 0.75 * vh(x[:, :, 1:])
        torch.testing.assert_close(fused(x), expected)
    learned = DecisionFusion(vv, vh)
    assert any(n == "weight_logit" for n, _ in learned.named_parameters())


def test_build_decision_from_trained_branches():
    vv, vh = tiny("simta_vv").eval(), tiny("simta_vh").eval()
    vh.set_normalization({"VH": {"mean": -20.0, "std": 3.0}})
    fused = build_decision(vv, vh, weight=0.5).eval()
    assert fused.arch_kwargs["fusion"] == "decision" and fused.normalization()["VH"]["mean"] == -20.0
    x = db_input(fused)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), 0.5 * vv(x[:, :, :1]) + 0.5 * vh(x[:, :, 1:]))
    rebuilt = build_model("simta", **fused.arch_kwargs)
    rebuilt.load_state_dict(fused.state_dict())
    with pytest.raises(ValueError, match="same steps"):
        build_decision(vv, build_model("simta", fusion="vh", steps=4, width=8, depth=2))


def test_expand_first_layer_keeps_output_for_identical_normalized_inputs():
    """Paper Eq. 3: W' = [W/n, ..., W/n]; n identical inputs give sum_c W x / n = W x."""
    vh_net = tiny("recurrent_unet_vh").eval()
    both = expand_first_layer(vh_net, 2).eval()
    assert both.polarizations == ["VH", "VV"]
    assert both.input_conv.weight.shape[1] == 2
    assert both.arch_kwargs["polarizations"] == ["VH", "VV"]
    x_vh = db_input(vh_net, batch=1)
    stats = both.normalization()
    x_vv = (x_vh - stats["VH"]["mean"]) / stats["VH"]["std"] * stats["VV"]["std"] + stats["VV"]["mean"]
    with torch.no_grad():
        torch.testing.assert_close(both(torch.cat([x_vh, x_vv], dim=2)), vh_net(x_vh), atol=1e-5, rtol=1e-5)
    rebuilt = build_model("recurrent_unet", **both.arch_kwargs)
    rebuilt.load_state_dict(both.state_dict())  # the card's (arch, kwargs) rebuilds the expanded net


def test_expand_first_layer_refuses_multi_pol_net():
    with pytest.raises(ValueError, match="single-polarization"):
        expand_first_layer(tiny("recurrent_unet_vhvv"), 2)


def test_unknown_architecture_or_option_is_refused():
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("resnet")
    with pytest.raises(ValueError, match="fusion_method"):
        build_model("simta", fusion="feature", fusion_method="mean", width=4, depth=2, steps=2)
    with pytest.raises(ValueError, match="bad arguments"):
        build_model("unet", colour="red")


def test_mac_counter_matches_hand_count():
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 8 * 8, 10))
    assert count_macs(net, (1, 2, 8, 8)) == 8 * 8 * 4 * 2 * 9 + 4 * 8 * 8 * 10
    assert count_parameters(net) == 4 * 2 * 9 + 4 + 256 * 10 + 10


def test_simta_cost_grows_with_width_and_feature_branches():
    small = build_model("simta", fusion="data", steps=3, width=4, depth=2)
    wide = build_model("simta", fusion="data", steps=3, width=8, depth=2)
    feature = build_model("simta", fusion="feature", fusion_method="add", steps=3, width=4, depth=2)
    shape = (1, 3, 2, 32, 32)
    assert count_macs(small, shape) < count_macs(wide, shape)
    assert count_macs(small, shape) < count_macs(feature, shape)


@pytest.mark.parametrize("fusion", ["feature", "decision"])
def test_inference_form_computes_the_same_with_fewer_convolutions(fusion):
    from backend.nets.blocks import inference_form
    from backend.nets.simta import AdaptiveCDConv

    torch.manual_seed(3)
    if fusion == "decision":
        net = build_decision(build_model("simta", fusion="vv", steps=4, width=4, depth=2),
                             build_model("simta", fusion="vh", steps=4, width=4, depth=2))
    else:
        # CGA's inference form also packs the branches' first level, whose zero blocks count as MACs
        net = build_model("simta", fusion=fusion, fusion_method="add", steps=4, width=4, depth=2)
    with torch.no_grad():  # trained-looking mixing weights and BatchNorm statistics, not the neutral init
        for module in net.modules():
            if isinstance(module, AdaptiveCDConv):
                module.mix_logits.copy_(torch.randn(2))
                module.bn.running_mean.normal_()
                module.bn.running_var.uniform_(0.5, 2.0)
    net.eval()
    folded = inference_form(net)
    x = torch.randn(2, 4, 2, 16, 16) * 3 - 15
    with torch.no_grad():
        torch.testing.assert_close(folded(x), net(x), atol=1e-4, rtol=1e-4)

    def convs(m):
        return sum(isinstance(c, nn.Conv2d) for c in m.modules())

    assert not any(isinstance(m, AdaptiveCDConv) for m in folded.modules())
    assert convs(folded) < convs(net)
    assert any(isinstance(m, AdaptiveCDConv) for m in net.modules())  # the original is left as it was
    assert count_macs(folded, tuple(x.shape)) < count_macs(net, tuple(x.shape))


def test_cga_feature_fusion_runs_both_branches_first_level_in_one_tensor():
    """The packed inference form (backend.nets.packing) computes the network's function on trained-looking
    weights, with no-data pixels, and leaves the other fusion methods and the original network alone."""
    from backend.nets.blocks import inference_form
    from backend.nets.simta import AdaptiveCDConv

    torch.manual_seed(5)
    net = build_model("simta", fusion="feature", fusion_method="cga", steps=4, width=4, depth=2)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, AdaptiveCDConv):
                module.mix_logits.copy_(torch.randn(2))
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.normal_()
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.3)
            if isinstance(module, nn.Conv2d) and module.bias is not None:
                module.bias.normal_(0.0, 0.3)
    net.eval()
    packed = inference_form(net)
    assert packed.packed_first is not None and net.packed_first is None
    first_conv = packed.packed_first.conv_a[0]
    assert (first_conv.in_channels, first_conv.out_channels) == (2, 8)  # both branches' 4 channels side by side
    x = torch.randn(2, 4, 2, 24, 40) * 3 - 15
    x[0, 1, 0, :6, :6] = float("nan")
    x[1, :, 1, -3:, :] = float("nan")
    with torch.no_grad():
        z = net.norm(x)
        for got, expected in zip(packed.encode(z), net.encode(z), strict=True):  # every level's fused map
            assert expected.std() > 0.1  # a meaningful comparison
            torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(packed(x), net(x), atol=1e-4, rtol=1e-4)
    assert inference_form(build_model("simta", fusion="feature", fusion_method="add", steps=4, width=4,
                                      depth=2)).packed_first is None

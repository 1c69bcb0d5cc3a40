"""Fine-tuning internals: encoder/decoder split, what each mode freezes, VV adaptation (Eq. 3), grouped split."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_finetune_fixtures import PATCH, SEASON, STEPS, points_from_truth, synth_scene

from backend.errors import UserError
from backend.nets import build_model
from backend.training.finetune import (
    add_vv_input,
    fine_tune,
    frozen_parts,
    initial_network,
    is_decoder,
    parameter_groups,
)
from backend.training.loop import TrainConfig


def _simta():
    torch.manual_seed(0)
    return build_model("simta", fusion="feature", fusion_method="cga", steps=STEPS, width=4, depth=2, large_kernel=3)


def _rnn():
    torch.manual_seed(0)
    return build_model("recurrent_unet", polarizations=["VH"], steps=STEPS, width=4, depth=2)


def test_simta_encoder_holds_the_temporal_parts_and_decoder_the_upsampling():
    groups = parameter_groups(_simta())
    tops = {g: {n.split(".")[0] for n in names} for g, names in groups.items()}
    assert tops["encoder"] == {"encoders", "fusers", "collapse", "tsa"}
    assert tops["decoder"] == {"decoder"}


def test_recurrent_unet_split_and_decision_fusion_weight():
    groups = parameter_groups(_rnn())
    assert {n.split(".")[0] for n in groups["encoder"]} == {"stages"}
    assert {n.split(".")[0] for n in groups["decoder"]} == {"decoder"}
    assert any(".recur." in n for n in groups["encoder"])  # the recurrence sees time: encoder
    decision = build_model("simta", fusion="decision", steps=STEPS, width=4, depth=2, large_kernel=3)
    assert is_decoder(decision, "weight_logit") and is_decoder(decision, "vv.decoder.head.weight")
    assert not is_decoder(decision, "vh.encoders.0.stages.0.0.vanilla.weight")


def _toy(n=8, size=16, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, size, size)) < 0.5).astype(np.uint8)
    x = rng.normal(-15, 3, (n, STEPS, 2, size, size)).astype(np.float32)
    x[:, :, 1] += 4 * y[:, None]
    return x, y


def _snapshot(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _changed(before, net, names):
    after = net.state_dict()
    return {n for n in names if not torch.equal(before[n], after[n])}


@pytest.mark.parametrize("mode, trained, frozen", [("FTE", "encoder", "decoder"), ("FTD", "decoder", "encoder")])
def test_modes_freeze_their_part_including_batchnorm_statistics(mode, trained, frozen):
    torch.set_num_threads(1)
    net = _simta()
    groups = parameter_groups(net)
    before = _snapshot(net)
    x, y = _toy()
    cfg = TrainConfig(epochs=1, batch_size=4, lr=1e-2, early_season=False, augment=False)
    fine_tune(net, mode, x, y, x[:2], y[:2], cfg)
    assert not _changed(before, net, groups[frozen]), f"{mode} changed {frozen} weights"
    assert len(_changed(before, net, groups[trained])) > len(groups[trained]) // 2
    frozen_stats = [k for k in before if k.endswith("running_mean") and
                    is_decoder(net, k) == (frozen == "decoder")]
    assert frozen_stats and not _changed(before, net, frozen_stats), "frozen BatchNorm statistics moved"
    assert all(p.requires_grad for p in net.parameters()), "requires_grad restored after training"


def test_ft_trains_everything_and_ri_starts_from_random_weights():
    torch.set_num_threads(1)
    net = _simta()
    before = _snapshot(net)
    with frozen_parts(net, "FT") as params:
        assert len(params) == len(list(net.parameters()))
    stats = {"VV": {"mean": -11.0, "std": 3.0}, "VH": {"mean": -18.0, "std": 3.0}}
    fresh = initial_network(net, "RI", False, stats, seed=5)
    assert fresh is not net and fresh.normalization() == stats
    conv = "encoders.0.stages.0.0.vanilla.weight"
    assert not torch.equal(fresh.state_dict()[conv], before[conv])
    assert initial_network(net, "FTE", False, stats, seed=5) is net


def test_vv_adaptation_splits_the_first_layer_by_the_number_of_inputs():
    base = _rnn().eval()
    vv_stats = {"mean": -11.0, "std": 2.5}
    net = add_vv_input(base, vv_stats).eval()
    assert net.polarizations == ["VH", "VV"] and net.normalization()["VV"] == vv_stats
    w0, w1 = base.input_conv.weight, net.input_conv.weight
    assert w1.shape[1] == 2 and torch.allclose(w1, w0.repeat(1, 2, 1, 1) / 2)
    # Eq. 3: with the same normalized value on both inputs, the expanded net computes the original output
    vh = torch.randn(1, STEPS, 1, 16, 16) * 3 - 18
    z = (vh - base.normalization()["VH"]["mean"]) / base.normalization()["VH"]["std"]
    vv = z * vv_stats["std"] + vv_stats["mean"]
    with torch.no_grad():
        assert torch.allclose(base(vh), net(torch.cat([vh, vv], dim=2)), atol=1e-5)


def test_vv_adaptation_refuses_models_it_cannot_adapt():
    with pytest.raises(UserError, match="VH-only"):
        add_vv_input(_simta(), {"mean": -11.0, "std": 3.0})
    torch.manual_seed(0)
    simta_vh = build_model("simta", fusion="vh", steps=STEPS, width=4, depth=2, large_kernel=3)
    with pytest.raises(UserError, match="no single input convolution"):
        add_vv_input(simta_vh, {"mean": -11.0, "std": 3.0})


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return synth_scene(tmp_path_factory.mktemp("finetune-parts") / "scene")


def _labelled(scene_dir, labels, block):
    import datetime as dt

    from backend.raster import open_series
    from backend.training.labels import read_labels
    from backend.training.patches import LabelledScene

    reader = open_series(vv=[str(scene_dir / "VV.tif")], vh=[str(scene_dir / "VH.tif")])
    season = tuple(dt.date.fromisoformat(d) for d in SEASON)
    labels = read_labels(str(labels), reader.grid, "class", None, block, log=lambda m: None)
    return LabelledScene(reader, season, labels)


def _feature_ids(scene_obj, spec, patch):
    """Which feature labels each pixel of a patch window (index + 1; 0 = none)."""
    from affine import Affine
    from rasterio.features import rasterize

    transform = scene_obj.reader.grid.transform @ Affine.translation(spec.col, spec.row)
    shapes = [(f.geometry, i + 1) for i, f in enumerate(scene_obj.labels.features)]
    return rasterize(shapes, out_shape=(patch, patch), transform=transform, fill=0, dtype="int32")


def test_grouped_split_never_puts_one_polygon_on_both_sides(scene):
    from backend.training.patches import PatchReader, plan_patches, split_groups

    labelled = _labelled(scene, scene / "labels.gpkg", PATCH)
    val = split_groups([labelled], 0.25, seed=1)
    specs = plan_patches([labelled], val, PATCH, min_train=8, max_train=24, seed=1)
    reader = PatchReader([labelled], val, ["VV", "VH"], STEPS, PATCH)
    sides: dict[int, set[str]] = {}
    for spec in specs:
        _, y = reader.read(spec)
        ids = _feature_ids(labelled, spec, PATCH)[y != 255]
        for i in np.unique(ids[ids > 0]):
            sides.setdefault(int(i), set()).add(spec.split)
    assert {s for both in sides.values() for s in both} == {"train", "val"}
    assert all(len(s) == 1 for s in sides.values()), "a polygon's labels reached both training and validation"
    for i, split in sides.items():
        in_val = (0, labelled.labels.features[i - 1].group) in val
        assert split == {"val" if in_val else "train"}
    labelled.reader.close()


def test_points_are_split_by_spatial_blocks(scene, tmp_path):
    from backend.training.patches import split_groups

    labelled = _labelled(scene, points_from_truth(scene, tmp_path / "pts.gpkg", per_class=20), 16)
    val = split_groups([labelled], 0.25, seed=0)
    inverse = ~labelled.reader.grid.transform

    def block(point):
        return tuple(int(v) // 16 for v in inverse @ (point.x, point.y))

    for f in labelled.labels.features:
        same_block = [g for g in labelled.labels.features if block(g.geometry) == block(f.geometry)]
        assert len({((0, g.group) in val) for g in same_block}) == 1
    labelled.reader.close()

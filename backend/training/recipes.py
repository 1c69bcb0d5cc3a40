"""What `make pretrain` builds: one recipe per bundled model, all from the same synthetic data.

Training regions: Mekong-like (weighted up: the product's first users map the Mekong), Korea-like and
Arkansas-like. The Sacramento-like region (water-seeded, continuous flood, another calendar) is never
seen in training and serves as the held-out test region for every model.
Widths are narrow so the whole bundle trains on a 2-core CPU; see docs/training.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from backend.training.synthetic_data import DataRecipe

TRAIN_REGIONS = ("mekong", "mekong", "korea", "arkansas")  # mekong listed twice = twice the scenes
HELDOUT_REGION = "sacramento"
SIMTA_SMALL = {"width": 8, "depth": 3, "large_kernel": 7}


def data_recipes(steps: int, quick: bool = False) -> dict[str, DataRecipe]:
    """Train / validation (same regions, other scenes) / test (held-out region) data for ``steps``."""
    n_train, n_val, n_test = (3, 1, 2) if quick else (12, 3, 8)
    return {
        "train": DataRecipe(TRAIN_REGIONS, n_train, steps=steps, seed=1),
        "val": DataRecipe(TRAIN_REGIONS, n_val, steps=steps, seed=2),
        "test": DataRecipe((HELDOUT_REGION,), n_test, steps=steps, seed=3),
    }


@dataclass(frozen=True)
class ModelRecipe:
    name: str
    arch: str
    kwargs: dict = field(default_factory=dict)
    steps: int = 13
    epochs: int = 8
    lr: float = 2e-3
    kind: str = "train"  # train | decision | expand | forest | rules
    bases: tuple[str, ...] = ()  # models this one is derived from
    description: str = ""


def _simta(name: str, fusion: str, method: str | None = None, description: str = "") -> ModelRecipe:
    kwargs = {"fusion": fusion, **SIMTA_SMALL}
    if method:
        kwargs["fusion_method"] = method
    return ModelRecipe(name, "simta", kwargs, description=description)


RECIPES: list[ModelRecipe] = [
    _simta("simta-vh", "vh", description="SimTA, VH only"),
    _simta("simta-vv", "vv", description="SimTA, VV only"),
    _simta("simta-data", "data", description="SimTA, data-level fusion (VV and VH stacked at the input)"),
    *[_simta(f"simta-feature-{m}", "feature", m, f"SimTA, feature-level fusion with {m.upper()}")
      for m in ("cga", "add", "concat", "aff", "dff")],
    ModelRecipe("simta-decision", "simta", {"fusion": "decision"}, kind="decision", epochs=2,
                bases=("simta-vv", "simta-vh"),
                description="SimTA, decision-level fusion: learned weighted sum of simta-vv and simta-vh"),
    ModelRecipe("rnn-unet-vh", "recurrent_unet", {"polarizations": ["VH"], "width": 8, "depth": 3}, steps=8,
                description="recurrent U-Net, VH, 8 steps (transfer-learning paper)"),
    ModelRecipe("rnn-unet-vhvv", "recurrent_unet", {}, steps=8, kind="expand", epochs=4, lr=1e-3,
                bases=("rnn-unet-vh",),
                description="recurrent U-Net, VH|VV derived from rnn-unet-vh by splitting first-layer weights "
                            "(paper Eq. 3), then fine-tuned"),
    ModelRecipe("unet", "unet", {"width": 8, "depth": 3}, description="U-Net baseline, data-level"),
    ModelRecipe("convlstm", "convlstm", {"width": 16}, description="ConvLSTM baseline"),
    ModelRecipe("simvp", "simvp", {"width": 16}, description="SimVP baseline"),
    ModelRecipe("utae", "utae", {"width": 16, "depth": 3}, description="U-TAE baseline"),
    ModelRecipe("random-forest", "random_forest", kind="forest", description="per-pixel Random Forest"),
    ModelRecipe("phenology-rules", "phenology_rules", kind="rules",
                description="rule-based flooding-then-growth detector on VH"),
]

#: The model `map` uses when none is named: chosen before seeing any real data, as the papers' best
#: configuration (SimTA feature-level fusion with content-guided attention).
DEFAULT_MODEL = "simta-feature-cga"


def recipe(name: str) -> ModelRecipe:
    for r in RECIPES:
        if r.name == name:
            return r
    raise KeyError(name)

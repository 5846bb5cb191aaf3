"""The nested training config resolves exactly what the flat one of commit 6cbc414 did.

``data/experiment_arms.json`` holds every experiment arm's resolved training config (each
preset, each seed) and ``data/flat_run_configs.json`` two run directories' config.json, both
written by that commit's single flat dataclass. ``make demo`` runs the same arms, budgets and
settings as long as these tests pass.
"""

import json
from pathlib import Path

import pytest

from odinpaint.study.experiment import ExperimentConfig, arm_train_config, family_budgets, seeds, selected_arms
from odinpaint.training.config import (
    PRESETS, RECIPES, from_dict, make_config, resolve, setting_fields, settings, to_dict, with_settings,
)

DATA = Path(__file__).parent / "data"


def same_as_flat(cfg, flat: dict) -> None:
    """Every flat field has the same value in ``cfg``; a flat None is a setting the model has not
    (or one left unset)."""
    now = settings(cfg)
    for key, value in flat.items():
        assert now.get(key) == value, key


def test_every_experiment_arm_resolves_as_before():
    stored = json.loads((DATA / "experiment_arms.json").read_text())
    seen = set()
    for preset in ("quick", "study", "paper"):
        cfg = ExperimentConfig(data="DATA", preset=preset).resolved()
        arms = selected_arms(cfg)
        budgets = family_budgets(cfg, arms)
        for arm in arms:
            if arm.family == "classical":
                continue
            for seed in seeds(cfg):
                key = f"{preset}/{arm.name}/seed{seed}"
                same_as_flat(arm_train_config(cfg, arm, budgets.get(arm.family), seed), stored[key])
                seen.add(key)
    assert seen == set(stored)


@pytest.mark.parametrize("model", ["ce", "gan"])
def test_a_flat_config_json_reads_as_the_same_config(model):
    flat = json.loads((DATA / "flat_run_configs.json").read_text())[model]
    cfg = from_dict(flat)
    same_as_flat(cfg, flat)
    assert from_dict(to_dict(cfg)) == cfg
    assert (cfg.d is None) == (model == "ce")


def test_every_preset_and_recipe_resolves_and_round_trips():
    for preset, models in PRESETS.items():
        for model in models:
            cfg = resolve(make_config(model, preset, data="x"))
            assert from_dict(json.loads(json.dumps(to_dict(cfg)))) == cfg
            assert make_config(model, preset, **{k: v for k, v in settings(cfg).items()
                                                  if k not in ("model", "preset")}) == cfg
    for name, recipe in RECIPES.items():
        cfg = resolve(make_config(recipe=name, data="x"))
        assert {k: settings(cfg)[k] for k in recipe} == recipe


def test_settings_go_to_their_group_and_wrong_ones_are_named():
    cfg = make_config("gan", width=8, d_width=4, hole_aware=True, loss="l2", hole_weight=5.0, seed=3)
    assert (cfg.g.width, cfg.d.width, cfg.d.hole_aware, cfg.loss.kind, cfg.loss.hole_weight, cfg.run.seed) == \
        (8, 4, True, "l2", 5.0, 3)
    assert with_settings(cfg, width=16).g.width == 16 and "residual" not in setting_fields("gan")
    with pytest.raises(ValueError, match="'residual': not an option of model 'gan'"):
        make_config("gan", residual=True)
    with pytest.raises(ValueError, match="'colour': no such setting"):
        make_config("ce", colour="red")
    with pytest.raises(ValueError, match="'model'"):
        make_config("gan", recipe="improved-ce")
    with pytest.raises(ValueError, match="'min_correction'"):
        resolve(make_config("ce", data="x", min_correction=2.0))  # needs residual


def test_train_options_are_generated_from_the_config_fields():
    from odinpaint.cli import _train_config, build_parser

    def parsed(*flags):
        return _train_config(build_parser().parse_args(["train", "--data", "x", *flags]))

    cfg = parsed("--model", "gan", "--no-skip", "--hole-l1", "5", "--no-channels-last", "--d-width", "16",
                 "--mask-kind", "freeform", "--loss", "l2")
    assert (cfg.g.skips, cfg.loss.hole_weight, cfg.run.channels_last, cfg.d.width, cfg.ondemand.mask_kind,
            cfg.loss.kind) == (False, 5.0, False, 16, "freeform", "l2")
    assert parsed() == make_config("ce", "quick", data="x")  # a flag left out keeps the preset's value
    # make default-model's recipe is the flags it once spelled out
    old_flags = ("--fill biharmonic --mask-channel --skips --residual --refine --tta --min-correction 2 --composite "
                 "--loss level-psnr --image-weight 0 --hole-weight 1 --lr-schedule cosine").split()
    assert parsed("--recipe", "improved-ce") == parsed("--model", "ce", *old_flags)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--fill", "purple"])  # choices come from the registry

"""The planner alone: window jobs from a mask, with no model and no pixels."""

import cv2
import numpy as np
import pytest

from odinpaint.inference.plan import FillPolicy, Planner


def _covered(jobs, shape):
    n = np.zeros(shape, int)
    for j in jobs:
        n[j.y0 : j.y0 + j.paste.shape[0], j.x0 : j.x0 + j.paste.shape[1]] += j.paste
    return n


def test_the_plan_is_pure_and_covers_every_hole_pixel():
    target = np.zeros((300, 300), bool)
    target[40:90, 50:110] = True  # compact: one window, then refinement tiles
    cv2.line(target.view(np.uint8), (10, 200), (130, 260), 1, 6)  # thin: tiles at its thickness
    target[150:152, 20:23] = True  # a speck: a shared window at the model's size
    planner = Planner(size=64)  # holes up to 140 px in one level
    a, b = planner.level(target), planner.level(target.copy())
    assert a.coarse is None and len(a.jobs) == len(b.jobs) and len(a.refine) == len(b.refine)
    box = np.zeros_like(target)
    box[40:90, 50:110] = True
    refined = _covered(a.refine, target.shape)
    assert (refined[box] >= 1).all() and (refined[~box] == 0).all()  # the box alone is refined, all of it
    for x, y in zip(a.jobs + a.refine, b.jobs + b.refine):  # the same mask, the same jobs
        assert (x.y0, x.x0, x.side) == (y.y0, y.x0, y.side) and (x.paste == y.paste).all()
    assert (_covered(a.jobs, target.shape)[target] >= 1).all() and (_covered(a.jobs, target.shape)[~target] == 0).all()
    assert {j.side for j in a.jobs} == {64, 110}  # the speck's and the stroke's at the model's size; the box's


def test_the_policy_sets_the_window_rules():
    target = np.zeros((400, 400), bool)
    target[100:160, 100:160] = True  # 60 px: one window of ceil(60 / share) px
    for share in (0.55, 0.4):
        plan = Planner(64, FillPolicy(hole_share=share)).level(target)
        assert [j.side for j in plan.jobs] == [int(np.ceil(60 / share))]
    assert Planner(64, FillPolicy(refine=0)).level(target).refine == []
    refine = Planner(64, FillPolicy(refine=1.25)).level(target).refine
    assert {j.side for j in refine} == {int(np.ceil(np.ceil(60 / 0.55) / 1.25))}
    big = np.zeros((400, 400), bool)
    big[20:380, 20:380] = True  # over the largest window: filled coarse first
    plan = Planner(64, FillPolicy(max_downscale=4.0)).level(big)
    assert plan.coarse is not None and (plan.coarse == big).all()
    assert Planner(64, FillPolicy(max_downscale=16.0)).level(big).coarse is None


@pytest.mark.parametrize("shape,expected", [((300, 400), 2), ((1000, 1500), 4), ((4000, 6000), 16)])
def test_the_seam_band_follows_the_image_size(shape, expected):
    assert FillPolicy().feather(shape) == expected


def test_far_apart_holes_are_separate_clusters_and_near_ones_one():
    hole = np.zeros((600, 900), bool)
    hole[10:30, 10:30] = True
    hole[550:580, 850:880] = True
    hole[40:50, 40:50] = True  # near the first
    groups = list(Planner(32).clusters(hole, margin=6))
    assert len(groups) == 2
    assert sorted(int(t.sum()) for _, _, t in groups) == [400 + 100, 900]

"""The RITM-style click simulator on synthetic shapes with known click positions."""

import numpy as np
import pytest

from dermview.interactive.simulator import Click, next_click, simulate
from dermview.metrics import jaccard


def _rect(shape, r0, c0, r1, c1):
    m = np.zeros(shape, bool)
    m[r0:r1, c0:c1] = True
    return m


def _disc(shape, r, c, radius):
    rr, cc = np.ogrid[:shape[0], :shape[1]]
    return (rr - r) ** 2 + (cc - c) ** 2 <= radius ** 2


def test_from_nothing_clicks_the_centre_of_the_shape():
    gt = _disc((60, 80), 20, 40, 12)
    assert next_click(np.zeros_like(gt), gt) == Click(20, 40, True)


def test_missed_part_gives_a_positive_click_inside_it():
    gt = _rect((60, 100), 10, 10, 50, 90)
    pred = _rect((60, 100), 10, 10, 50, 50)        # the right half (cols 50-89) is missed
    click = next_click(pred, gt)
    assert click.positive
    assert click.row in (29, 30) and click.col in (69, 70)   # the middle of the missed half


def test_false_part_gives_a_negative_click_in_it():
    gt = _rect((60, 100), 20, 20, 40, 40)
    pred = gt | _disc((60, 100), 30, 75, 15)        # a larger blob beside the lesion
    click = next_click(pred, gt)
    assert click == Click(30, 75, False)


def test_image_border_counts_as_outside():
    gt = _rect((40, 40), 0, 0, 40, 10)             # a strip along the left border
    click = next_click(np.zeros_like(gt), gt)
    assert click.col in (4, 5)                       # deepest from the border too, not col 0


def test_perfect_mask_needs_no_click():
    gt = _rect((20, 20), 5, 5, 15, 15)
    assert next_click(gt, gt) is None


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError):
        next_click(np.zeros((4, 4), bool), np.zeros((4, 5), bool))


def test_simulate_counts_clicks_until_the_target():
    gt = _rect((60, 100), 10, 10, 50, 90)
    calls = []

    def click(row, col, positive):
        calls.append((row, col, positive))
        # each click reveals the ground truth within 15 px of it
        rr, cc = np.ogrid[:60, :100]
        near = (rr - row) ** 2 + (cc - col) ** 2 <= 15 ** 2
        click.mask = np.where(near, gt, click.mask)
        return click.mask

    click.mask = np.zeros_like(gt)
    run = simulate(click.mask, gt, click, max_clicks=20, stop_at=0.9)
    assert run.ious[0] == 0.0 and len(run.ious) == len(run.clicks) + 1
    assert run.ious[-1] >= 0.9 and run.ious[-2] < 0.9
    assert run.noc(0.9, 20) == len(run.clicks)
    first = run.clicks[0]                       # on the long axis of the rectangle, 20 px in
    assert first.positive and first.row in (29, 30) and 29 <= first.col <= 70
    assert all(p for _, _, p in calls)
    assert run.iou_after(100) == run.ious[-1]
    assert jaccard(click.mask, gt) == run.ious[-1]


def test_simulate_stops_at_max_clicks_and_reports_failure():
    gt = _rect((30, 30), 5, 5, 25, 25)
    run = simulate(np.zeros_like(gt), gt, lambda r, c, p: np.zeros_like(gt), max_clicks=4)
    assert len(run.clicks) == 4 and run.noc(0.9, 4) == 4 and run.ious[-1] == 0.0


def test_min_clicks_continues_past_the_target():
    gt = _rect((30, 30), 5, 5, 25, 25)
    run = simulate(gt, gt, lambda r, c, p: gt, max_clicks=5, min_clicks=3)
    assert run.noc(0.9, 5) == 0
    assert len(run.clicks) == 0  # a perfect mask offers no click at all

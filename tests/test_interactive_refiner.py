"""Refiner API on the bundled samples and on synthetic images; grow from seed."""

from pathlib import Path

import numpy as np
import pytest

from dermview.interactive import Refiner, grow_from_seed
from dermview.interactive.grow import apply_region, colour_distance
from dermview.interactive.prompts import WorkGrid
from dermview.io import load_image, load_mask
from dermview.metrics import jaccard

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"


class _FakeSegmenter:
    """Stands in for the network: the probability is given per image by the test."""

    threshold = 0.5

    def __init__(self, prob):
        self.prob = prob

    def preprocess_params(self):
        return None

    def predict(self, rgb, tta=False):
        return self.prob.copy()


def _blob_image(h=120, w=160):
    """Skin-coloured image with a dark disc (the lesion) and a lighter rim attached to it."""
    rgb = np.full((h, w, 3), (205, 160, 140), np.uint8)
    rr, cc = np.ogrid[:h, :w]
    core = (rr - 60) ** 2 + (cc - 70) ** 2 <= 30 ** 2
    rim = ((rr - 60) ** 2 + (cc - 95) ** 2 <= 22 ** 2) & ~core
    rgb[core] = (90, 50, 40)
    rgb[rim] = (150, 105, 90)
    rng = np.random.default_rng(0)
    rgb = np.clip(rgb + rng.normal(0, 3, rgb.shape), 0, 255).astype(np.uint8)
    prob = np.where(core, 0.97, np.where(rim, 0.2, 0.01)).astype(np.float32)
    return rgb, prob, core, core | rim


@pytest.mark.parametrize("method", ["probcut", "grabcut"])
def test_positive_click_adds_the_missed_part_and_undo_restores(method):
    rgb, prob, core, lesion = _blob_image()
    ref = Refiner(_FakeSegmenter(prob), method=method)
    s = ref.start(rgb)
    before = s.mask
    assert jaccard(before, core) > 0.97          # the model's mask: the dark core only
    m = s.click(60, 108, positive=True)         # in the light rim
    assert m[60, 108] and jaccard(m, lesion) > jaccard(before, lesion) + 0.1
    assert np.array_equal(s.mask, m) and len(s.prompts) == 1
    assert np.array_equal(s.undo(), before) and s.prompts == []
    assert np.array_equal(s.undo(), before)     # nothing left to undo


def test_negative_click_removes_and_leaves_far_edits_alone():
    rgb, prob, core, lesion = _blob_image()
    ref = Refiner(_FakeSegmenter(prob))
    painted = core.copy()
    painted[5:15, 140:155] = True               # a painted patch far from the click
    s = ref.start(rgb, mask=painted)
    m = s.click(60, 70, positive=False)         # "this is not" in the middle of the core
    assert not m[60, 70]
    assert m[5:15, 140:155].all()               # the painted patch stays
    assert m.sum() < painted.sum()


def test_a_click_keeps_hand_erased_pixels_unless_it_lands_on_them():
    """Trial finding: a lesion click next to an eraser correction put the erased pixels back
    (the cut takes them again and they touch the click's region)."""
    rgb, prob, core, lesion = _blob_image()
    erased = core & (np.arange(core.shape[1])[None, :] >= 88)   # the core's edge by the rim
    painted = core & ~erased
    s = Refiner(_FakeSegmenter(prob)).start(rgb)
    s.wait()
    s.set_mask(painted, fixed=erased)
    m = s.click(60, 108, positive=True)          # in the light rim, beside the erased strip
    assert m[60, 108] and not m[erased].any()
    assert (m & ~lesion).sum() < 0.02 * lesion.sum()
    # without the hand edits the same click takes the strip back (what the fix prevents)
    s2 = Refiner(_FakeSegmenter(prob)).start(rgb)
    s2.set_mask(painted)
    assert s2.click(60, 108, positive=True)[erased].mean() > 0.5
    # a lesion click on the erased strip itself is the later word: it comes back
    m = s.click(60, 91, positive=True)
    assert m[erased].mean() > 0.9


def test_a_box_keeps_hand_edits_inside_it_and_drops_painted_lesion_outside():
    rgb, prob, core, _ = _blob_image()
    painted = core.copy()
    painted[5:15, 140:155] = True                # painted by hand, outside the box below
    hole = np.zeros_like(core)
    hole[55:65, 60:70] = True                    # erased by hand inside the lesion
    painted &= ~hole
    s = Refiner(_FakeSegmenter(prob)).start(rgb)
    s.set_mask(painted, fixed=hole | (painted & ~core))
    m = s.box(20, 30, 101, 121)
    assert not m[hole].any() and not m[5:15, 140:155].any()
    with pytest.raises(ValueError):
        s.set_mask(painted, fixed=np.zeros((3, 3), bool))


def test_box_prompt_removes_outside_and_remove_marker_replays():
    rgb, prob, core, lesion = _blob_image()
    ref = Refiner(_FakeSegmenter(prob))
    s = ref.start(rgb, mask=np.zeros(core.shape, bool))
    m = s.box(20, 30, 101, 121)                 # around the lesion
    assert not m[:20].any() and not m[:, 121:].any()
    assert jaccard(m, core) > 0.9
    s.click(60, 108, positive=True)
    assert len(s.prompts) == 2
    after = s.remove(1)                          # drop the click's marker
    assert len(s.prompts) == 1 and np.array_equal(after, m)


def test_prompts_outside_the_image_are_refused():
    rgb, prob, _, _ = _blob_image()
    s = Refiner(_FakeSegmenter(prob)).start(rgb)
    with pytest.raises(ValueError):
        s.click(500, 3)
    with pytest.raises(ValueError):
        s.box(0, 0, 1, 1)
    with pytest.raises(ValueError):
        Refiner(_FakeSegmenter(prob)).start(rgb, mask=np.zeros((3, 3), bool))


def test_work_grid_paste_keeps_untouched_pixels_at_full_resolution():
    grid = WorkGrid.for_shape((1200, 1600), side=400)
    assert grid.work == (300, 400)
    full = np.zeros((1200, 1600), bool)
    full[0, 0] = True                             # a one-pixel edit, finer than the working grid
    work_new = np.zeros((300, 400), bool)
    work_new[100:200, 100:200] = True
    changed = work_new.copy()
    out = grid.paste(full, work_new, changed)
    assert out[0, 0]                              # outside the change: kept exactly
    assert out[402:798, 402:798].all()           # (bilinear: the corners round off)
    assert not out[:396, 10:].any() and not out[804:].any() and not out[:, 804:].any()
    assert abs(int(out.sum()) - 1 - 400 * 400) <= 4 * 400 * 2


def test_refiner_on_the_bundled_samples():
    ref = Refiner.load(device="cpu")
    for name in ("IMD009", "ISIC_0000095"):
        rgb = load_image(SAMPLES / f"{name}.jpg")
        gt = load_mask(SAMPLES / f"{name}_segmentation.png", shape=rgb.shape[:2])
        s = ref.start(rgb)
        s.wait()
        assert s.ready and s.mask.shape == rgb.shape[:2] and s.mask.dtype == bool
        j0 = jaccard(s.mask, gt)
        from dermview.interactive.simulator import next_click

        c = next_click(s.mask, gt)
        m = s.click(c.row, c.col, c.positive)
        assert m[c.row, c.col] == c.positive
        assert jaccard(m, gt) >= j0 - 0.01
        assert s.prob.shape == rgb.shape[:2]


def test_grow_from_seed_takes_the_similar_connected_region():
    rgb, _, core, lesion = _blob_image()
    region = grow_from_seed(rgb, (60, 70), tolerance=15)
    assert jaccard(region, core) > 0.95           # the dark core, not the lighter rim
    bigger = grow_from_seed(rgb, (60, 70), tolerance=60, distance=colour_distance(rgb, (60, 70)))
    assert bigger.sum() > region.sum() and bigger[60, 108]
    cut = apply_region(lesion, region, add=False)
    assert cut[core].mean() < 0.05 and cut[lesion & ~core].mean() > 0.95
    assert apply_region(np.zeros_like(core), region, add=True).sum() == region.sum()
    with pytest.raises(ValueError):
        grow_from_seed(rgb, (60, 70), tolerance=-1)
    with pytest.raises(ValueError):
        colour_distance(rgb, (500, 0))


def test_probcut_reused_graph_gives_the_fresh_cut():
    """Each prompt resumes the max-flow of the graph built at preparation: the labels equal
    those of a graph built anew for the same data term, over a sequence of changes (seeds
    added and removed, as undo does)."""
    from dermview.interactive import probcut

    rgb, prob, _, _ = _blob_image()
    prep = probcut.prepare(rgb, prob)
    rng = np.random.default_rng(1)
    h, w = prep.logit.shape
    fg = np.zeros((h, w), bool)
    bg = np.zeros((h, w), bool)
    for step in range(6):
        L = prep.logit + rng.normal(0, 2.0, (h, w)).astype(np.float32) * (step % 2)
        fg = np.zeros((h, w), bool) if step == 4 else fg
        fg[rng.integers(h), rng.integers(w)] = True
        bg[rng.integers(h), rng.integers(w)] = True
        reused = probcut._cut(prep, L, fg & ~bg, bg)
        fresh = probcut.prepare(rgb, prob, reuse_graph=False)  # a new graph for each cut
        assert fresh.graph is None
        assert np.array_equal(reused, probcut._cut(fresh, L, fg & ~bg, bg)), step
    assert prep.cost is not None


def test_medsam_box_follows_the_prompts_and_needs_its_export(monkeypatch, tmp_path):
    """LiteMedSAM's box: the mask's bounding box, widened by a positive click outside it,
    narrowed past a negative click inside it, a box prompt taking over; without an export the
    method says how to make one."""
    from dermview.errors import ParameterError
    from dermview.interactive import medsam
    from dermview.interactive.prompts import BoxPrompt, ClickPrompt

    mask = np.zeros((100, 200), bool)
    mask[20:60, 50:120] = True
    assert medsam._box(mask, []) == (20, 50, 59, 119)
    r0, c0, r1, c1 = medsam._box(mask, [ClickPrompt(40, 170, True)])
    assert (r0, c0, r1) == (20, 50, 59) and c1 > 170
    assert medsam._box(mask, [ClickPrompt(40, 115, False)]) == (20, 50, 59, 114)
    assert medsam._box(mask, [ClickPrompt(40, 170, True), BoxPrompt(5, 5, 30, 40)]) == (5, 5, 29, 39)
    assert medsam._box(np.zeros_like(mask), [ClickPrompt(50, 100, False)]) is None
    r0, c0, r1, c1 = medsam._box(np.zeros_like(mask), [ClickPrompt(50, 100, True)])
    assert r0 < 50 < r1 and c0 < 100 < c1
    monkeypatch.delenv(medsam.ENV, raising=False)
    medsam.configure(tmp_path)
    with pytest.raises(ParameterError, match="export_medsam_onnx"):
        medsam.sessions()
    medsam.configure(None)


# ------------------------------------------------------------- specks a prompt leaves behind
def test_specks_split_off_by_a_prompt_are_dropped_and_holes_filled():
    from dermview.interactive.session import drop_split_specks

    before = np.zeros((100, 100), bool)
    before[20:80, 20:80] = True
    before[90:93, 90:93] = True                      # a speck that was on its own: stays
    new = before.copy()
    new[20:30, 20:80] = False                         # a band removed by a "not lesion" click...
    new[24:27, 40:43] = True                          # ...leaving a 3×3 crumb of it
    new[5:8, 5:8] = True                              # a click's own new blob: stays
    new[50:53, 50:53] = False                         # a new hole (the click's own): stays
    out = drop_split_specks(before, new, min_px=20)
    assert not out[24:27, 40:43].any()                # the crumb is gone
    assert out[90:93, 90:93].all() and out[5:8, 5:8].all() and not out[50:53, 50:53].any()
    assert np.array_equal(out & ~new, np.zeros_like(new))  # nothing else added
    # a ring added around background cuts off a small hole of it: filled
    before2 = np.zeros((100, 100), bool)
    new2 = before2.copy()
    new2[40:50, 40:50] = True
    new2[44:46, 44:46] = False                        # background enclosed by the addition
    out2 = drop_split_specks(before2, new2, min_px=20)
    assert out2[40:50, 40:50].all()
    # pieces of the size limit or more, and an unchanged mask, are left alone
    assert np.array_equal(drop_split_specks(before, new, min_px=9), new)
    assert np.array_equal(drop_split_specks(before, before), before)


def test_a_negative_click_on_a_real_image_leaves_no_specks():
    """Seen in the app: a "not lesion" click at IMD009's edge left about twenty 2-7 px crumbs
    of the removed band outside the new outline."""
    import cv2

    ref = Refiner.load(device="cpu")
    rgb = load_image(SAMPLES / "IMD009.jpg")
    s = ref.start(rgb)
    s.wait()
    before = s.mask
    rows, cols = np.nonzero(before)
    r = int(rows.mean())
    c = int(cols[rows == r].min()) + 3                # just inside the left edge
    m = s.click(r, c, positive=False)
    assert m.sum() < before.sum()
    n, _, stats, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
    n0, _, _, _ = cv2.connectedComponentsWithStats(before.astype(np.uint8), connectivity=8)
    small = [a for a in stats[1:, cv2.CC_STAT_AREA] if a < max(9, int(1e-4 * m.size))]
    assert small == [] or n <= n0


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1)])
def test_probcut_on_an_image_one_pixel_high_or_wide(shape):
    """The mean colour step across an empty direction was NaN (numpy's "Mean of empty slice"
    on a 1x1 image, seen in the robustness trial), which made every edge weight NaN."""
    import warnings

    from dermview.interactive import probcut

    rgb = np.full((*shape, 3), 120, np.uint8)
    rgb[..., 0] = np.arange(shape[1], dtype=np.uint8) * 10
    prob = np.full(shape, 0.7, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ref = Refiner(_FakeSegmenter(prob))
        s = ref.start(rgb)
        m = s.click(0, 0, positive=False)
    assert m.shape == shape and not m[0, 0]
    state = probcut.prepare(rgb, prob)
    assert np.isfinite(state.w_right).all() and np.isfinite(state.w_down).all()


def _old_colour_distance(rgb, seed):
    """colour_distance as it was (the whole image, the seed's disc drawn on a full canvas)."""
    import cv2

    smooth = cv2.GaussianBlur(rgb, (3, 3), 0).astype(np.float32) / np.float32(255)
    lab = cv2.cvtColor(smooth, cv2.COLOR_RGB2LAB)
    disc = np.zeros(rgb.shape[:2], np.uint8)
    cv2.circle(disc, (int(seed[1]), int(seed[0])), 2, 1, -1)
    ref = lab[disc.astype(bool)].mean(axis=0)
    return np.sqrt(((lab - ref) ** 2).sum(axis=2)).astype(np.float32)


def test_grow_from_seed_in_a_window_gives_the_whole_image_region():
    """Grow from seed measures ΔE in a window round the seed, widened while the region
    reaches its edge (a whole 24-MP map took a second at each press): the distances and the
    regions are those of the whole image's map, on random images, seeds at the edges and
    corners too, and tolerances from nothing to everything."""
    import cv2

    from dermview.interactive.grow import SeedDistance

    rng = np.random.default_rng(3)
    for k in range(12):
        h, w = (int(v) for v in rng.integers(2, 300, 2))
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        if k % 2:  # patches of similar colour, as skin and lesion are
            rgb = cv2.GaussianBlur(rgb, (0, 0), float(rng.uniform(2, 9)))
        seeds = [(0, 0), (h - 1, w - 1), (0, w - 1)] + [
            (int(rng.integers(0, h)), int(rng.integers(0, w))) for _ in range(3)]
        for seed in seeds:
            full = _old_colour_distance(rgb, seed)
            assert np.array_equal(colour_distance(rgb, seed), full)
            grower = SeedDistance(rgb, seed, window=int(rng.integers(4, 64)))
            for tol in (0.0, 2.0, 6.0, 15.0, 40.0, 400.0):
                expected = grow_from_seed(rgb, seed, tol, distance=full)
                assert np.array_equal(grower.full_region(tol), expected), (k, seed, tol)
                assert np.array_equal(grow_from_seed(rgb, seed, tol), expected)
    # a small region stays in the first window of a large image
    big = np.full((3000, 4000, 3), 180, np.uint8)
    cv2.circle(big, (1000, 1500), 60, (90, 60, 40), -1)
    grower = SeedDistance(big, (1500, 1000))
    (r0, c0), region = grower.region(10.0)
    whole = grow_from_seed(big, (1500, 1000), 10.0, distance=_old_colour_distance(big, (1500, 1000)))
    assert grower.box == (1244, 1756, 744, 1256)  # the first window
    rows, cols = np.nonzero(whole)
    assert (r0, c0) == (rows.min(), cols.min()) and region.shape == (
        rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)  # the region's box
    assert int(region.sum()) == int(whole.sum()) > 10000

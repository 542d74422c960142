"""``Refiner`` and its per-image ``Session``: prompts in, a new mask out, one undo step each.

```python
ref = Refiner.load(device="cpu")          # bundled segmenter; method "probcut" (the default)
s = ref.start(rgb, mask=None)             # per-image preparation starts in the background
s.mask                                    # bool H×W (waits for the preparation if needed)
m = s.click(row, col, positive=True)      # bool H×W after every prompt so far
m = s.box(row0, col0, row1, col1)         # "the lesion is in here"
m = s.undo()                              # back one prompt
s.remove(i)                               # drop prompt i (its marker) and redo the rest
s.set_mask(painted, fixed=by_hand)        # go on from an edited mask; hand edits stay
```

A method is a module with ``prepare(rgb, prob) -> state`` (slow part, run once per image in
a background thread) and ``apply(state, mask, prompts) -> mask`` (per prompt).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import ModuleType
from typing import Any

import cv2
import numpy as np

from dermview.errors import ParameterError
from dermview.interactive import grabcut, probcut
from dermview.interactive.prompts import BoxPrompt, ClickPrompt, Prompt, check_prompt

#: Refinement methods by name (``"medsam"``, LiteMedSAM, is added on first use; it needs the
#: ONNX export of ``training/export_medsam_onnx.py``, see :mod:`dermview.interactive.medsam`).
METHODS: dict[str, ModuleType] = {"probcut": probcut, "grabcut": grabcut}


#: Pieces a prompt splits off smaller than this share of the image (at least 9 px) are specks.
SPECK_SHARE = 1e-4


def drop_split_specks(before: np.ndarray, new: np.ndarray,
                      min_px: int | None = None) -> np.ndarray:
    """``new`` without the specks a prompt cut off: lesion pieces of fewer than ``min_px``
    pixels split from a larger lesion region of ``before`` (a "not lesion" click that removes
    a band leaves crumbs of it behind) are removed, and holes of fewer than ``min_px`` pixels
    split from a larger background region are filled. Pieces and holes that were already on
    their own in ``before``, and new ones (a click's own blob or hole), stay.

    Only the changed pixels' box, widened by ``min_px``, is examined (a split-off speck
    touches the change and is smaller than that), so large images stay fast.

    Args:
        before, new: bool ``(H, W)`` masks before and after the prompt.
        min_px: speck size limit in pixels (None: :data:`SPECK_SHARE` of the image, ≥ 9).
    Returns:
        bool ``(H, W)``.
    """
    before, out = np.asarray(before, bool), np.asarray(new, bool).copy()
    limit = max(9, int(SPECK_SHARE * out.size)) if min_px is None else int(min_px)
    rows, cols = np.nonzero(before != out)
    if rows.size == 0:
        return out
    H, W = out.shape
    r0, r1 = max(rows.min() - limit - 1, 0), min(rows.max() + limit + 2, H)
    c0, c1 = max(cols.min() - limit - 1, 0), min(cols.max() + limit + 2, W)
    b, o = before[r0:r1, c0:c1], out[r0:r1, c0:c1]
    for value in (True, False):
        n, labels, stats, _ = cv2.connectedComponentsWithStats((o == value).astype(np.uint8),
                                                               connectivity=8)
        small = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] < limit]
        if not small:
            continue
        _, was_labels, was_stats, _ = cv2.connectedComponentsWithStats(
            (b == value).astype(np.uint8), connectivity=8)
        for i in small:
            x, y = stats[i, cv2.CC_STAT_LEFT], stats[i, cv2.CC_STAT_TOP]
            w, h = stats[i, cv2.CC_STAT_WIDTH], stats[i, cv2.CC_STAT_HEIGHT]
            # a piece at the box's edge may go on outside it: not known to be small
            if (x == 0 and c0 > 0) or (y == 0 and r0 > 0) or \
                    (x + w == o.shape[1] and c1 < W) or (y + h == o.shape[0] and r1 < H):
                continue
            piece = labels[y:y + h, x:x + w] == i
            origin = np.unique(was_labels[y:y + h, x:x + w][piece])
            # split off: all its pixels had this value before, in one larger region
            if len(origin) == 1 and origin[0] > 0 and \
                    was_stats[origin[0], cv2.CC_STAT_AREA] > stats[i, cv2.CC_STAT_AREA]:
                o[y:y + h, x:x + w][piece] = not value
    return out


def _method(name: str) -> ModuleType:
    if name == "medsam" and name not in METHODS:
        from dermview.interactive import medsam

        METHODS["medsam"] = medsam
    if name not in METHODS:
        raise ParameterError(f"Unknown refinement method {name!r} (known: probcut, grabcut, medsam)")
    return METHODS[name]


class Refiner:
    """Makes :class:`Session` objects for images; holds the segmenter and a worker thread."""

    def __init__(self, segmenter: Any, method: str = "probcut",
                 load: Callable[[], Any] | None = None) -> None:
        """``segmenter``: the network for images whose probability map is not given (None:
        ``load()`` makes it, in the worker thread, when first needed)."""
        self.segmenter = segmenter
        self._load = load
        self.method = _method(method)
        self.method_name = method
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="refine-prepare")

    @classmethod
    def load(cls, device: str = "cpu", weights: str | None = None,
             method: str = "probcut") -> Refiner:
        """The bundled segmenter (or ``weights``) on ``device`` with refinement ``method``."""
        from dermview.model.inference import Segmenter

        return cls(Segmenter.load(weights, device=device), method=method)

    def start(self, rgb: np.ndarray, mask: np.ndarray | None = None,
              prob: np.ndarray | None = None) -> Session:
        """A session on one image.

        Args:
            rgb: uint8 ``(H, W, 3)`` RGB image.
            mask: bool ``(H, W)`` mask to refine; ``None`` = the segmenter's own.
            prob: float32 ``(H, W)`` the segmenter's probability for this image if the caller
                already has it (the app does), else it is computed in the background.
        """
        rgb = np.ascontiguousarray(rgb)
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"rgb must be uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
        for name, arr in (("mask", mask), ("prob", prob)):
            if arr is not None and np.shape(arr) != rgb.shape[:2]:
                raise ValueError(f"{name} shape {np.shape(arr)} differs from the image {rgb.shape[:2]}")
        return Session(self, rgb, mask, prob)

    def _prepare(self, rgb: np.ndarray, prob: np.ndarray | None
                 ) -> tuple[Any, np.ndarray, np.ndarray]:
        model_mask = None
        if prob is None:
            from dermview.segmentation import segment_image

            if self.segmenter is None and self._load is not None:
                self.segmenter = self._load()
            res = segment_image(rgb, self.segmenter)
            prob, model_mask = res.prob, res.mask
        else:
            from dermview.postprocess import mask_from_prob

            threshold = self.segmenter.threshold if self.segmenter is not None else 0.5
            model_mask = mask_from_prob(prob, threshold)
        return self.method.prepare(rgb, prob), prob, model_mask


class Session:
    """Refinement of one image; create with :meth:`Refiner.start`. Not thread-safe: call it
    from one thread (the preparation runs in the refiner's own)."""

    def __init__(self, refiner: Refiner, rgb: np.ndarray, mask: np.ndarray | None,
                 prob: np.ndarray | None) -> None:
        self._refiner = refiner
        self.shape: tuple[int, int] = rgb.shape[:2]
        self._future: Future = refiner._pool.submit(refiner._prepare, rgb, prob)
        self._initial = None if mask is None else np.asarray(mask, bool).copy()
        self._history: list[np.ndarray] = []  # packed masks after each prompt
        self.prompts: list[Prompt] = []
        self._base = 0  # prompts before this index were made before the last set_mask
        #: bool (H, W) pixels set by hand (see :meth:`set_mask`); None = none
        self._fixed: np.ndarray | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ state
    @property
    def ready(self) -> bool:
        """Whether the per-image preparation has finished (prompts answer at once)."""
        return self._future.done()

    @property
    def error(self) -> str | None:
        """Why the preparation failed (a model that cannot load…), once it has; else None."""
        if not self._future.done() or self._future.exception() is None:
            return None
        return str(self._future.exception())

    def wait(self) -> None:
        """Block until the preparation is done (re-raises its error)."""
        self._future.result()

    @property
    def prob(self) -> np.ndarray:
        """float32 ``(H, W)`` the segmenter's probability map (waits for the preparation)."""
        return self._future.result()[1]

    @property
    def initial(self) -> np.ndarray:
        """bool ``(H, W)`` the mask before any prompt."""
        if self._initial is None:
            self._initial = self._future.result()[2]
        return self._initial

    @property
    def mask(self) -> np.ndarray:
        """bool ``(H, W)`` the current mask (a copy)."""
        if not self._history:
            return self.initial.copy()
        return np.unpackbits(self._history[-1], count=self.shape[0] * self.shape[1]
                             ).reshape(self.shape).astype(bool)

    # ---------------------------------------------------------------- prompts
    def _prompt(self, prompt: Prompt) -> np.ndarray:
        prompt = check_prompt(prompt, self.shape)
        state = self._future.result()[0]
        with self._lock:
            prompts = [*self.prompts, prompt]
            before = self.mask
            new = self._refiner.method.apply(state, before, prompts)
            new = drop_split_specks(before, new)
            new = self._keep_fixed(before, new, prompt)
            self.prompts = prompts
            self._history.append(np.packbits(new))
        return new

    def click(self, row: int, col: int, positive: bool = True) -> np.ndarray:
        """A click at ``(row, col)``: ``positive`` = "this is lesion". Returns the new mask."""
        return self._prompt(ClickPrompt(int(row), int(col), bool(positive)))

    def box(self, row0: int, col0: int, row1: int, col1: int) -> np.ndarray:
        """A box (corners in any order, end exclusive): "the lesion is in here"."""
        return self._prompt(BoxPrompt(int(row0), int(col0), int(row1), int(col1)))

    def undo(self) -> np.ndarray:
        """Take back the last prompt (no-op without prompts). Returns the mask."""
        with self._lock:
            if self._history:
                self.prompts.pop()
                self._history.pop()
        return self.mask

    def _keep_fixed(self, before: np.ndarray, new: np.ndarray, prompt: Prompt) -> np.ndarray:
        """``new`` with the hand-set pixels as they were in ``before``.

        A click on a hand-set part that says the opposite (a lesion click on an erased
        stroke) frees that 8-connected part first: the click is the later word. A box frees
        the hand-set lesion pixels outside it ("the lesion is in here")."""
        fixed = self._fixed
        if fixed is None:
            return new
        if isinstance(prompt, ClickPrompt):
            r, c = prompt.row, prompt.col
            if fixed[r, c] and before[r, c] != prompt.positive:
                part = (fixed & (before == before[r, c])).astype(np.uint8)
                _, labels = cv2.connectedComponents(part, connectivity=8)
                fixed = fixed & (labels != labels[r, c])
                self._fixed = fixed
        elif isinstance(prompt, BoxPrompt):
            inside = np.zeros(self.shape, bool)
            inside[prompt.row0:prompt.row1, prompt.col0:prompt.col1] = True
            fixed = fixed & (inside | ~before)
            self._fixed = fixed
        out = new.copy()
        out[fixed] = before[fixed]
        return out

    def set_mask(self, mask: np.ndarray, prompts: list[Prompt] | None = None,
                 fixed: np.ndarray | None = None) -> None:
        """Continue from ``mask`` (edited outside the session: painted, undone in the app).

        ``prompts``: the prompts still in force (``None`` = all so far); they constrain later
        prompts but can no longer be undone or removed here (the app's undo stack has them).
        ``fixed``: bool ``(H, W)``, pixels set by hand (brush, eraser); later prompts keep
        their value in ``mask`` unless a click lands on them saying otherwise (see
        :meth:`_keep_fixed`). ``None`` = no pixel is fixed."""
        mask = np.asarray(mask, bool)
        if mask.shape != self.shape:
            raise ValueError(f"mask shape {mask.shape} differs from the image {self.shape}")
        if fixed is not None and np.shape(fixed) != self.shape:
            raise ValueError(f"fixed shape {np.shape(fixed)} differs from the image {self.shape}")
        with self._lock:
            if prompts is not None:
                self.prompts = list(prompts)
            self._initial = mask.copy()
            self._history = []
            self._base = len(self.prompts)
            self._fixed = None if fixed is None or not np.any(fixed) else np.asarray(fixed, bool).copy()

    def remove(self, index: int) -> np.ndarray:
        """Drop prompt ``index`` (its marker) and apply the later ones again in order."""
        if not self._base <= index < len(self.prompts):
            raise IndexError(f"no removable prompt {index} (the session has {len(self.prompts)}, "
                             f"the first {self._base} before its last set_mask)")
        keep = self.prompts[:index] + self.prompts[index + 1:]
        with self._lock:
            self.prompts = self.prompts[:index]
            self._history = self._history[:index - self._base]
        for p in keep[index:]:
            self._prompt(p)
        return self.mask


__all__ = ["Refiner", "Session", "ClickPrompt", "BoxPrompt", "METHODS", "drop_split_specks"]

"""Interactive refinement: a few clicks or a box fix a mask; grow-from-seed; the click simulator.

Qt-free. See :mod:`dermview.interactive.session` for the API.
"""

from dermview.interactive.grow import grow_from_seed
from dermview.interactive.prompts import BoxPrompt, ClickPrompt
from dermview.interactive.session import METHODS, Refiner, Session

__all__ = ["Refiner", "Session", "ClickPrompt", "BoxPrompt", "METHODS", "grow_from_seed"]

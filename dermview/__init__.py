"""dermview: dermoscopy lesion review (frame and hair removal, lesion segmentation, mask correction).

The core (everything outside ``dermview.gui``) never imports Qt and never imports torch at
module level, so command-line tools and the GUI start fast.
"""

__version__ = "0.1.0"

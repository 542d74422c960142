"""Controllers of the main window: each listens to the document's (and its panel's) signals
and does one job — segmentation jobs, the preprocessing preview, overlays, saving. The window
only creates them and lays out their widgets (see ``gui/README.md``)."""

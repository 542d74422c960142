"""Artefact removal: dark frame / vignette and hair (see :func:`preprocess`)."""

from dermview.preprocess.params import SE_SHAPES, PreprocessParams
from dermview.preprocess.pipeline import ANALYSIS_SIZE, Preprocessed, preprocess

__all__ = ["ANALYSIS_SIZE", "SE_SHAPES", "PreprocessParams", "Preprocessed", "preprocess"]

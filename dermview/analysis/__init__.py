"""Lesion analysis (Qt-free): size in px and mm, and the dermoscopic A, B, C criteria.

``analyze_lesion(rgb, mask, mm_per_px=None) -> LesionAnalysis``; ``LesionAnalysis.to_dict()``
gives the flat columns of the CSV and the sidecar.
"""

from dermview.analysis.lesion import DIAMETER_LIMIT_MM, TDS_MISSING, LesionAnalysis, analyze_lesion
from dermview.analysis.params import COLOR_LABELS, COLOR_NAMES, AnalysisParams

__all__ = ["COLOR_LABELS", "COLOR_NAMES", "DIAMETER_LIMIT_MM", "TDS_MISSING", "AnalysisParams",
           "LesionAnalysis", "analyze_lesion"]

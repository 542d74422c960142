"""Label exchange with other tools: DICOM SEG (:mod:`.dicom_seg`), COCO (:mod:`.coco`) and
labelme (:mod:`.labelme`); :mod:`.labelset` finds the labelled images of a folder.

Qt-free. Masks are ``bool`` ``(H, W)`` in memory as everywhere in dermview.
"""

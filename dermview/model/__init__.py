"""Segmentation networks, losses and inference. Importing this package does not import torch;
import the submodules (``blocks``, ``nets``, ``weights``, ``inference``) where torch is needed."""

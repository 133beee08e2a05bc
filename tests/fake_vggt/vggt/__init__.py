"""Test double of facebookresearch/vggt (see ../README.md): same import paths, a known scene instead of a network."""

from .models.vggt import VGGT

__all__ = ["VGGT"]

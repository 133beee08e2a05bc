"""Utilities of the fake vggt package."""

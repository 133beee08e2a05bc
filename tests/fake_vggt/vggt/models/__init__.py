"""Models of the fake vggt package."""

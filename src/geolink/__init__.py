"""geolink: cross-view geo-localization with 3D priors (GeoLink / SkyLink reproduction)."""

__version__ = "0.1.0"

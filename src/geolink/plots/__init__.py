"""Figures drawn from saved pipeline products (manifests, metrics); never recomputes results."""

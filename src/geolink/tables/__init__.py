"""The paper's result tables as products: ours beside the paper's printed values, with seeds and intervals."""

from geolink.tables.build import build_table
from geolink.tables.paper import paper_values
from geolink.tables.render import write_table
from geolink.tables.specs import TABLES

__all__ = ["TABLES", "build_table", "paper_values", "write_table"]

"""The study: its configuration as typed, torch-free dataclasses with every cross-field check, and the names of
its sub-networks. Importing this package imports no torch; the workflow plans from it."""

from subnets.study.config import ConfigError, MultilingualSpec, Study, TaskSpec
from subnets.study.names import DENSE, RANDOM, Source, format_source, parse_source

__all__ = ["DENSE", "RANDOM", "ConfigError", "MultilingualSpec", "Source", "Study", "TaskSpec", "format_source",
           "parse_source"]  # fmt: skip

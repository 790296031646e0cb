"""Data: raw sources (hub or local files, ``sources``), and tokenised, subsampled datasets (``prepare``)."""

from subnets.data.hub import WIKIANN_LANGUAGES, WMT14_LANGUAGES, XNLI_LANGUAGES
from subnets.data.prepare import load_prepared, mix_prepared, prepare_dataset, prepared_info
from subnets.data.sources import HUB, load_parallel, load_parallel_premises, load_raw, source_label

__all__ = [
    "HUB",
    "WIKIANN_LANGUAGES",
    "WMT14_LANGUAGES",
    "XNLI_LANGUAGES",
    "load_parallel",
    "load_parallel_premises",
    "load_prepared",
    "load_raw",
    "mix_prepared",
    "prepare_dataset",
    "prepared_info",
    "source_label",
]

"""Data: raw sources (hub or local files, ``sources``), and tokenised, subsampled datasets (``prepare``)."""

from subnets.data.hub import WIKIANN_LANGUAGES, WMT14_LANGUAGES, XNLI_LANGUAGES
from subnets.data.prepare import DataSizeWarning, load_prepared, mix_prepared, prepare_dataset, prepared_info
from subnets.data.sources import HUB, load_parallel, load_parallel_premises, load_raw, provenance, source_label

__all__ = [
    "HUB",
    "DataSizeWarning",
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
    "provenance",
    "source_label",
]

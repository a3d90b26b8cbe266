"""The unified benchmark: datasets x models x modality subsets x CV folds.

``run_benchmark(config)`` runs a benchmark described by a YAML file (or a dict, or the name of a
shipped one such as ``"default"``) and writes per-fold results, summaries, a paper-style table,
paired comparisons with the best baseline and plots into an output folder; ``radfuse bench`` and
``radfuse report`` are its command-line faces.
"""

from radfuse.benchmark.config import ConfigError, load_config
from radfuse.benchmark.report import write_report
from radfuse.benchmark.runner import BenchmarkResult, run_benchmark

__all__ = ["BenchmarkResult", "ConfigError", "load_config", "run_benchmark", "write_report"]

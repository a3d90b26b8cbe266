"""The unified benchmark: datasets x models x modality subsets x CV folds.

``run_benchmark(config)`` runs a benchmark described by a YAML file (or a dict, or the name of a
shipped one such as ``"default"``) and writes per-fold results, summaries, a paper-style table,
paired comparisons with the best baseline and plots into an output folder; ``radfuse bench`` and
``radfuse report`` are its command-line faces.

Modules, one job each: the configuration (:mod:`~radfuse.benchmark.schema`,
:mod:`~radfuse.benchmark.parsing`, :mod:`~radfuse.benchmark.loading`), the datasets
(:mod:`~radfuse.benchmark.data`), the splits (:mod:`~radfuse.benchmark.splits`), the plan and
subset names (:mod:`~radfuse.benchmark.plan`), building a model (:mod:`~radfuse.benchmark.build`),
one fit (:mod:`~radfuse.benchmark.fit`), the task store (:mod:`~radfuse.benchmark.store`), the
environment record (:mod:`~radfuse.benchmark.environment`), the backends
(:mod:`~radfuse.benchmark.backends`), the orchestration (:mod:`~radfuse.benchmark.runner`), and
the report: metrics, statistics, tables, comparisons, plots and the markdown summary
(:mod:`~radfuse.benchmark.report`).

A survival benchmark (``task: survival``) has its own entries
(:mod:`~radfuse.benchmark.survival_config`), outcome (:mod:`~radfuse.benchmark.survival_data`,
:mod:`~radfuse.benchmark.sources`), metrics (:mod:`~radfuse.benchmark.survival_metrics`),
scoring of a fit (:mod:`~radfuse.benchmark.survival_fit`), XGBoost adapter
(:mod:`~radfuse.benchmark.survival_models`) and report
(:mod:`~radfuse.benchmark.survival_report`, :mod:`~radfuse.benchmark.survival_plots`).
"""

from radfuse.benchmark.loading import load_config
from radfuse.benchmark.report import write_report
from radfuse.benchmark.runner import BenchmarkResult, run_benchmark
from radfuse.benchmark.schema import ConfigError
from radfuse.benchmark.tables import load_results

__all__ = [
    "BenchmarkResult",
    "ConfigError",
    "load_config",
    "load_results",
    "run_benchmark",
    "write_report",
]

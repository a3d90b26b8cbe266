"""The ``radfuse`` command: ``extract``, ``bench``, ``report`` and ``specs``.

This module only parses arguments; each sub-command calls a function of the library.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from radfuse import __version__

# sub-command -> (module, function) called with the parsed arguments; returns an exit status.
_COMMANDS = {
    "extract": ("radfuse.extraction.cli", "run_extract"),
    "specs": ("radfuse.extraction.cli", "run_specs"),
    "bench": ("radfuse.benchmark.cli", "run_bench"),
    "report": ("radfuse.benchmark.cli", "run_report"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="radfuse",
        description=(
            "Radiomics-first machine learning on multi-modal medical images: extract PyRadiomics "
            "features for a cohort, and benchmark missing-modality models on them."
        ),
    )
    parser.add_argument("--version", action="version", version=f"radfuse {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "extract",
        help="extract radiomics features for every patient and modality of a manifest",
        description="Extract PyRadiomics features for a cohort into one wide table.",
    )
    p.add_argument("manifest", help="manifest CSV (wide or long form; see radfuse.read_manifest)")
    p.add_argument("--spec", default="mri_all_filters", help="feature spec name or YAML path")
    p.add_argument("--out", required=True, help="output table (.csv or .parquet)")
    p.add_argument("--n-jobs", type=int, default=1, help="parallel worker processes")
    p.add_argument("--cache", default=None, help="cache folder: finished cases are not recomputed")
    p.add_argument(
        "--scheduler", default=None, help="Dask scheduler address (runs on that cluster)"
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    p = sub.add_parser(
        "bench",
        help="run a benchmark (default: the built-in phantom cohort benchmark)",
        description="Cross datasets x models x modality subsets x CV folds; write tables, plots.",
    )
    p.add_argument("config", nargs="?", default=None, help="benchmark YAML (default: built-in)")
    p.add_argument("--out", default=None, help="output folder (default: benchmark_results/NAME)")
    p.add_argument("--n-jobs", type=int, default=None, help="parallel tasks (overrides config)")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address")
    p.add_argument(
        "--shuffle-labels",
        action="store_true",
        help="canary: permute the labels; every AUC should then be near 0.5",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    p = sub.add_parser(
        "report",
        help="rebuild the tables and plots of a finished benchmark folder",
        description="Rebuild summary tables and plots from a benchmark output folder.",
    )
    p.add_argument("folder", help="benchmark output folder")

    sub.add_parser("specs", help="list the shipped feature specs", description="List specs.")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``radfuse`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module_name, func_name = _COMMANDS[args.command]
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

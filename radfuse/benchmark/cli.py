"""``radfuse bench`` and ``radfuse report`` (arguments are parsed in :mod:`radfuse.cli`)."""

from __future__ import annotations

import sys
from pathlib import Path

from radfuse.benchmark.schema import ConfigError

__all__ = ["run_bench", "run_report"]


def run_bench(args) -> int:
    """Run a benchmark from parsed arguments; return the exit status.

    ``args`` carries ``config`` (a YAML path, a shipped name, or None for the default), ``out``,
    ``n_jobs``, ``scheduler`` (a Dask scheduler address), ``shuffle_labels`` and ``no_progress``.
    """
    from radfuse.benchmark.runner import run_benchmark

    try:
        result = run_benchmark(
            args.config,
            out_dir=args.out,
            n_jobs=args.n_jobs,
            backend=args.scheduler,
            shuffle_labels=bool(args.shuffle_labels),
            progress=not args.no_progress,
        )
    except ConfigError as exc:
        print(f"radfuse bench: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "radfuse bench: interrupted; finished fits are kept, rerun the same command to resume.",
            file=sys.stderr,
        )
        return 130
    info = result.run_info
    print(
        f"radfuse bench: {info['n_fits']} fits ({info['n_fits_run']} run, "
        f"{info['n_fits_reused']} reused) in {info['wall_seconds']:.1f} s; results in "
        f"{result.out_dir} (summary.md, paper_table.md, results.csv, *.png)."
    )
    return 0


def run_report(args) -> int:
    """Rebuild the tables and plots of a benchmark folder; return the exit status."""
    from radfuse.benchmark.report import write_report

    folder = Path(args.folder)
    try:
        results, _ = write_report(folder)
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"radfuse report: {exc}", file=sys.stderr)
        return 2
    print(f"radfuse report: {len(results)} result rows; wrote {folder / 'summary.md'} and plots.")
    return 0

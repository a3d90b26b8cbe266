"""``radfuse extract`` and ``radfuse specs`` (argument parsing lives in :mod:`radfuse.cli`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from radfuse._utils.io import unwritable_folder

__all__ = ["run_extract", "run_specs"]


def _write_table(df, path: Path) -> None:
    if path.suffix.lower() == ".parquet":
        df.to_parquet(path)
    else:
        df.to_csv(path)


def error_table_path(out: Path) -> Path:
    """Where ``radfuse extract`` writes the error table: ``<out stem>_errors.csv`` beside it."""
    return out.with_name(f"{out.stem}_errors.csv")


def _unwritable(path: Path) -> str | None:
    """Why ``path`` cannot be written (its folder is created if needed), or None if it can.

    Checked with a real file in the folder, so it holds for root and for read-only or full
    file systems, before any case is extracted.
    """
    if path.is_dir():
        return "it is a folder"
    if path.exists() and not os.access(path, os.W_OK):
        return "the file exists and is read-only"
    why = unwritable_folder(path.parent)
    if why is None:
        path.parent.mkdir(parents=True, exist_ok=True)
    return why


def run_extract(args) -> int:
    """Run ``radfuse extract``; exit status 0 unless nothing could be extracted.

    Exit status 2 (nothing extracted) for a bad manifest, spec, cache folder or an output path
    that cannot be written (checked before extraction); 1 when every case failed or the
    finished table could not be written.

    ``args`` has ``manifest, spec, out, n_jobs, cache, scheduler, no_progress``.
    """
    from radfuse.extraction.cohort import extract_cohort
    from radfuse.extraction.manifest import ManifestError

    out = Path(args.out).expanduser()
    if out.suffix.lower() not in (".csv", ".parquet"):
        print(f"radfuse extract: --out must end in .csv or .parquet, got {out}", file=sys.stderr)
        return 2
    for what, path in (("--out", out), ("the error table", error_table_path(out))):
        reason = _unwritable(path)
        if reason is not None:
            print(
                f"radfuse extract: cannot write {what} {str(path)!r} ({reason}); nothing was "
                "extracted. Choose a writable path.",
                file=sys.stderr,
            )
            return 2
    try:
        result = extract_cohort(
            args.manifest,
            args.spec,
            n_jobs=args.n_jobs,
            cache_dir=args.cache,
            backend="dask" if args.scheduler else None,
            scheduler=args.scheduler,
            progress=not getattr(args, "no_progress", False),
        )
    except (ManifestError, ValueError, FileNotFoundError) as exc:
        print(f"radfuse extract: {exc}", file=sys.stderr)
        return 2

    err_path = error_table_path(out)
    try:
        _write_table(result.features, out)
        result.errors.to_csv(err_path, index=False)
    except OSError as exc:
        kept = f"; the finished cases are kept in --cache {args.cache}" if args.cache else ""
        print(f"radfuse extract: writing {out} failed ({exc}){kept}.", file=sys.stderr)
        return 1
    s = result.summary
    print(
        f"radfuse extract: {s['n_cases']} cases: {s['n_done']} extracted, {s['n_cached']} from "
        f"cache, {s['n_failed']} failed; {s['seconds']:.1f} s"
    )
    print(
        f"  features: {out} ({result.features.shape[0]} patients x "
        f"{result.features.shape[1]} columns)"
    )
    print(f"  errors:   {err_path} ({len(result.errors)} rows)")
    if len(result.errors):
        for row in result.errors.head(5).itertuples():
            print(f"    {row.patient_id} / {row.modality}: {row.error}")
        if len(result.errors) > 5:
            print(f"    ... see {err_path}")
    if s["n_done"] + s["n_cached"] == 0:
        print("radfuse extract: nothing could be extracted.", file=sys.stderr)
        return 1
    return 0


def run_specs(args=None) -> int:
    """Print the shipped feature specs with their one-line descriptions."""
    from radfuse.extraction.specs import list_specs

    specs = list_specs()
    if not specs:
        print("no feature specs found", file=sys.stderr)
        return 1
    width = max(len(n) for n in specs)
    for name, desc in specs.items():
        print(f"{name:<{width}}  {desc}")
    return 0

"""Conventions with one owner each, shared by extraction, the benchmark and the estimators.

- :mod:`radfuse._utils.hashing`: SHA-256 of canonical JSON (cache keys, fit keys, fingerprints).
- :mod:`radfuse._utils.io`: atomic file writes (temporary file in the same folder + ``os.replace``).
- :mod:`radfuse._utils.resources`: shipped data (wheel's ``radfuse/_data`` or the repository).
- :mod:`radfuse._utils.parallel`: the joblib / Dask backend context.
"""

"""Cohort radiomics extraction: manifests, feature specs, exact fast PyRadiomics, cache, CLI.

Public names: :func:`read_manifest`, :func:`extract_cohort`, :class:`RadiomicsExtractor`,
:func:`load_spec`, :func:`list_specs`.
"""

from radfuse.extraction.cohort import (
    ExtractionResult,
    RadiomicsExtractor,
    extract_cohort,
    feature_names,
)
from radfuse.extraction.exact import ExactExtractor, FilterSkippedError
from radfuse.extraction.manifest import ManifestError, read_manifest
from radfuse.extraction.specs import FeatureSpec, list_specs, load_spec

__all__ = [
    "ExactExtractor",
    "ExtractionResult",
    "FeatureSpec",
    "FilterSkippedError",
    "ManifestError",
    "RadiomicsExtractor",
    "extract_cohort",
    "feature_names",
    "list_specs",
    "load_spec",
    "read_manifest",
]

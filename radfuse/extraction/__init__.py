"""Cohort radiomics extraction: manifests, feature specs, exact fast PyRadiomics, cache, CLI.

Public names: :func:`read_manifest`, :func:`extract_cohort`, :class:`RadiomicsExtractor`,
:func:`load_spec`, :func:`list_specs`.
"""

from radfuse.extraction.cohort import ExtractionResult, extract_cohort
from radfuse.extraction.exact import ExactExtractor
from radfuse.extraction.manifest import ManifestError, read_manifest
from radfuse.extraction.naming import FilterSkippedError, feature_names
from radfuse.extraction.specs import FeatureSpec, list_specs, load_spec
from radfuse.extraction.transformer import RadiomicsExtractor

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

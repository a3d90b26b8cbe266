"""Built-in data: synthetic phantom image cohorts, synthetic multi-modal feature tables with
controlled missingness (with a class label or a censored survival outcome), and a bundled
public table. Nothing here downloads anything."""

from radfuse.datasets.centres import Centre
from radfuse.datasets.survival import make_multimodal_survival
from radfuse.datasets.tables import (
    load_breast_cancer_views,
    make_multimodal_classification,
    simulate_missing_modalities,
)

__all__ = [
    "Centre",
    "load_breast_cancer_views",
    "make_multimodal_classification",
    "make_multimodal_survival",
    "make_phantom_cohort",
    "simulate_missing_modalities",
]


def __getattr__(name):
    # The phantom generator needs SimpleITK; import it only when asked for.
    if name == "make_phantom_cohort":
        from radfuse.datasets.phantom import make_phantom_cohort

        return make_phantom_cohort
    raise AttributeError(f"module 'radfuse.datasets' has no attribute {name!r}")

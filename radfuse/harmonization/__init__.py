"""Harmonisation of multi-centre feature tables, fitted inside cross-validation folds.

:class:`ComBatHarmonizer` removes centre (scanner, protocol) effects per modality block with
empirical-Bayes ComBat, estimated on the training rows and applied to new rows of known
centres; missing modalities (whole NaN blocks) pass through.
"""

from radfuse.harmonization.combat import ComBatHarmonizer

__all__ = ["ComBatHarmonizer"]

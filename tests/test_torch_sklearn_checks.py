"""scikit-learn's estimator checks on the torch estimators (tiny settings for speed)."""

import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from radfuse.estimator_checks import expected_failed_checks
from radfuse.estimators import MFNVAEClassifier, MMTClassifier

torch.set_num_threads(1)

# Small networks and few epochs: the checks test the API, not the accuracy, but
# check_classifiers_train still needs a reasonable fit on its toy blobs. interaction="sdpa" shares
# every estimator code path with "channel" and is covered in test_mmt.py.
_SMALL = dict(max_epochs=15, batch_size=32, lr=1e-2, device="cpu", random_state=0)
ESTIMATORS = [
    MMTClassifier(d_model=16, head_dims=(32,), **_SMALL),
    MFNVAEClassifier(encoder_dims=(16,), latent_dim=4, head_dims=(16,), **_SMALL),
]


@pytest.mark.slow
@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)

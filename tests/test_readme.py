"""The README's Python examples run as written (the README must stay true)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples():
    assert len(_python_blocks()) >= 3


@pytest.mark.parametrize("index", range(len(_python_blocks())))
def test_readme_example_runs(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    namespace = {}
    exec(compile(_python_blocks()[index], f"README.md example {index}", "exec"), namespace)
    if "scores" in namespace:  # the cross-validation example
        assert namespace["scores"].mean() > 0.95
        assert "ROC AUC" in capsys.readouterr().out
    if "harmonised" in namespace:  # the multi-centre example
        assert len(namespace["harmonised"]) == 3
        assert namespace["centres"].nunique() == 3
    if "importances" in namespace:  # the tuning example
        assert namespace["outer"].mean() > 0.97
        assert set(namespace["importances"]) == {
            "logisticregression__C",
            "logisticregression__class_weight",
        }
    if "c_index" in namespace:  # the survival example
        assert namespace["c_index"] > 0.65
    if "result" in namespace:  # the extraction example
        result = namespace["result"]
        assert result.features.shape[0] == 12
        assert result.errors.empty

"""YAML inputs become models, or usage problems that name the file, the key, the value and the rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.documents import load_yaml_model, read_yaml
from contracts.errors import UsageProblem


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rate: int = Field(ge=1)
    burst: int = Field(ge=1)

    @model_validator(mode="after")
    def _burst(self) -> Limits:
        if self.burst < self.rate:
            raise ValueError("burst must be >= rate")
        return self


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "limits.yaml"
    path.write_text(text)
    return path


def test_a_valid_file_becomes_the_model(tmp_path: Path) -> None:
    assert load_yaml_model(Limits, write(tmp_path, "rate: 2\nburst: 4\n"), "limits.yaml") == Limits(
        rate=2, burst=4
    )


def test_missing_file_and_malformed_yaml_name_the_label_and_position(tmp_path: Path) -> None:
    with pytest.raises(UsageProblem, match=r"^--limits x\.yaml: file not found$"):
        read_yaml(tmp_path / "x.yaml", "--limits x.yaml")
    with pytest.raises(UsageProblem) as raised:
        read_yaml(write(tmp_path, "rate: [1\nburst: 2\n"), "limits.yaml")
    assert raised.value.problems[0].startswith("limits.yaml:2:")
    assert "malformed YAML" in raised.value.problems[0]


def test_each_invalid_value_is_one_line_with_key_and_value(tmp_path: Path) -> None:
    with pytest.raises(UsageProblem) as raised:
        load_yaml_model(Limits, write(tmp_path, "rate: 0\nburst: 1\ncolour: red\n"), "limits.yaml")
    assert raised.value.problems == [
        "limits.yaml: rate = 0: Input should be greater than or equal to 1",
        "limits.yaml: colour = 'red': Extra inputs are not permitted",
    ]


def test_a_whole_document_rule_names_no_key(tmp_path: Path) -> None:
    with pytest.raises(UsageProblem) as raised:
        load_yaml_model(Limits, write(tmp_path, "rate: 5\nburst: 2\n"), "limits.yaml")
    assert raised.value.problems == ["limits.yaml: burst must be >= rate"]

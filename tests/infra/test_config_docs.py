"""The configuration is documented once, on the settings models: docs/configuration.md's tables
are generated from the fields (tools/config_docs.py) and a test fails when the two differ."""

from __future__ import annotations

import enum
import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

import components.settings as settings_module
from components.settings import (
    BuildSettings,
    DefaultVpcNetwork,
    ExistingNetwork,
    ImageSettings,
    JobSettings,
    NewVpcNetwork,
    Settings,
)
from etl.contract import ENVIRONMENT
from tools import config_docs


def _models() -> list[type[BaseModel]]:
    """Every settings model, found rather than listed, so that a new one is covered."""
    found, todo = [], [settings_module._Model]
    while todo:
        model = todo.pop()
        found.append(model)
        todo.extend(model.__subclasses__())
    return [m for m in found if m is not settings_module._Model]


def test_the_configuration_page_is_generated_from_the_models() -> None:
    page = config_docs.PAGE.read_text()
    assert config_docs.render(page) == page, "docs/configuration.md is stale: make config-docs"


@pytest.mark.parametrize("model", _models(), ids=lambda m: m.__name__)
def test_every_field_has_a_description(model: type[BaseModel]) -> None:
    missing = [name for name, field in model.model_fields.items() if not field.description]
    assert not missing, f"{model.__name__}: give {missing} a docstring"


@pytest.mark.parametrize(
    ("row", "nested"),
    [
        ("network", (DefaultVpcNetwork, NewVpcNetwork, ExistingNetwork)),
        ("image", (ImageSettings, BuildSettings)),
    ],
)
def test_a_nested_key_is_named_in_its_row(row: str, nested: tuple[type[BaseModel], ...]) -> None:
    """The table has one row for `network` and one for `image`: each key inside them must
    appear there, and so must each network mode."""
    names = set()
    for model in nested:
        for name, field in model.model_fields.items():
            if name == "mode":
                names.update(typing.get_args(field.annotation))
            else:
                names.add(field.alias or name)
    text = str(Settings.model_fields[row].description)
    unnamed = [n for n in sorted(names) if not re.search(rf"(?<![\w-]){n}(?![\w-])", text)]
    assert not unnamed, f"{row}: {unnamed} not in its description"


@pytest.mark.parametrize("model", [Settings, JobSettings], ids=lambda m: m.__name__)
def test_every_allowed_value_is_named(model: type[BaseModel]) -> None:
    choices: dict[str, tuple[str, ...]] = {}
    for name, field in model.model_fields.items():
        if typing.get_origin(field.annotation) is typing.Literal:
            choices[name] = typing.get_args(field.annotation)
        elif isinstance(field.annotation, type) and issubclass(field.annotation, enum.Enum):
            choices[name] = tuple(str(member.value) for member in field.annotation)
    assert choices  # containerInsights; architecture, capacity, platformVersion, exportPath
    for name, values in choices.items():
        text = str(model.model_fields[name].description)
        assert not [v for v in values if f"`{v}`" not in text], f"{name}: name every value"


def test_defaults_ranges_and_pipes_are_rendered() -> None:
    job = JobSettings.model_fields
    assert config_docs.default(Settings.model_fields["image"]) == "required"
    assert config_docs.default(Settings.model_fields["alert_email"]) == "none"
    assert config_docs.default(job["enabled"]) == "`true`"
    assert config_docs.default(job["environment"]) == "`{}`"
    assert config_docs.default(job["flexible_window_minutes"]) == "`0` (off)"
    assert config_docs.meaning(job["ephemeral_storage_gib"]).endswith("GiB (21–200)")
    assert config_docs.key("ephemeral_storage_gib", job["ephemeral_storage_gib"]) == (
        "ephemeralStorageGiB"
    )

    class Piped(BaseModel):
        choice: str = "a"
        """`a` | `b`"""

        model_config = {"use_attribute_docstrings": True}

    assert config_docs.meaning(Piped.model_fields["choice"]) == "`a` \\| `b`"


def test_check_fails_with_a_diff_and_the_writer_fixes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    current = config_docs.PAGE.read_text()
    stale = current.replace("| `timezone` | `UTC` |", "| `timezone` | `GMT` |")
    page = tmp_path / "docs" / "configuration.md"
    page.parent.mkdir()
    page.write_text(stale)
    monkeypatch.setattr(config_docs, "ROOT", tmp_path)
    monkeypatch.setattr(config_docs, "PAGE", page)

    assert config_docs.main(["--check"]) == 1
    out = capsys.readouterr().out
    assert "-| `timezone` | `GMT` |" in out and "+| `timezone` | `UTC` |" in out
    assert page.read_text() == stale  # --check writes nothing

    assert config_docs.main([]) == 0
    assert config_docs.main(["--check"]) == 0
    assert page.read_text() == current != stale


def test_a_missing_marker_is_an_error() -> None:
    page = config_docs.PAGE.read_text().replace("<!-- /config:job -->", "")
    with pytest.raises(ValueError, match="config:job"):
        config_docs.render(page)


def test_the_jobs_environment_table_is_the_contract() -> None:
    """Every variable the job reads is a row, with who sets it in a task."""
    rows = config_docs.environment_table().splitlines()[2:]
    assert [row.split("`")[1] for row in rows] == [v.name for v in ENVIRONMENT]
    for row, item in zip(rows, ENVIRONMENT, strict=True):
        assert f"| {config_docs.SET_BY[item.set_by]} |" in row

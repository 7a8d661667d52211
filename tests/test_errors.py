"""The error hierarchy (errors.py): each class declares its fields and message once; codes are unique."""

from __future__ import annotations

import dataclasses
import inspect
import string
import typing
from pathlib import Path

import pytest

import canvasd.errors as errors
from canvasd.errors import (
    HIDDEN,
    CanvasConflictError,
    CanvasdError,
    CanvasValidationError,
    Problem,
    VaultNotFoundError,
    error_classes,
)
from canvasd.server.openapi import openapi_document

SERVER_ERRORS = [cls for cls in error_classes() if cls.__module__ == "canvasd.errors"]
SAMPLES: dict[object, object] = {str: "x", int: 3, float: 1.5, "str | None": None, "int | None": None,
                                 "float | None": 2.0}


def _sample(cls: type[CanvasdError]) -> CanvasdError:
    """An instance with plausible values for every field (by annotation)."""
    hints = typing.get_type_hints(cls, vars(errors))
    values = []
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        hint = hints[field.name]
        if field.name == "problems" and cls is not errors.ConfigError:
            values.append([Problem("bad", "node 'a' has no id", kind="node", id="a")])
        elif typing.get_origin(hint) is list:
            values.append(["one", "two"])
        elif hint is float:
            values.append(1.5)
        elif hint is int:
            values.append(3)
        else:
            values.append(Path("/vault/x.canvas") if "path" in field.name or field.name in ("root", "socket")
                          else "x")
    return cls(*values)


def test_every_code_a_client_can_see_is_one_class() -> None:
    codes = [cls.code for cls in SERVER_ERRORS if cls is not CanvasdError]
    duplicated = {code for code in codes if codes.count(code) > 1}
    subclass_codes = {cls.code for cls in SERVER_ERRORS if any(
        base.code == cls.code for base in cls.__mro__[1:]
        if issubclass(base, CanvasdError) and base is not CanvasdError)}
    assert not duplicated, f"codes used by more than one class: {duplicated}"
    assert not subclass_codes, f"subclasses that do not name their own code: {subclass_codes}"


def test_the_openapi_error_schema_lists_every_code() -> None:
    schema = openapi_document()["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]
    assert schema["enum"] == sorted({cls.code for cls in SERVER_ERRORS})


@pytest.mark.parametrize("cls", SERVER_ERRORS[1:], ids=lambda cls: cls.__name__)
def test_message_and_details_come_from_the_declared_fields(cls: type[CanvasdError]) -> None:
    error = _sample(cls)
    message = str(error)
    assert message and "{" not in message.replace("{\"ops\"", ""), message  # every placeholder was filled
    fields = {field.name: field for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    shown = {name for name, field in fields.items() if field.metadata != HIDDEN}
    assert set(error.details()) == shown
    for name in shown:  # paths are text, problems are mappings: every detail is JSON
        assert isinstance(error.details()[name], str | int | float | list | type(None)), (name, error.details())
    placeholders = {name.split(".")[0].split("!")[0] for _, name, _, _ in string.Formatter().parse(cls.template)
                    if name}
    assert placeholders <= set(fields) | {name for name, _ in inspect.getmembers(cls, _is_property)}, cls
    assert "details" not in vars(cls) or cls.__module__ != "canvasd.errors", "details() comes from the fields"


def _is_property(value: object) -> bool:
    return isinstance(value, property)


def test_examples_read_as_a_person_would_write_them() -> None:
    conflict = CanvasConflictError(Path("/vault/Math/limits.canvas"), "v1", None)
    assert str(conflict) == ("canvas '/vault/Math/limits.canvas' changed since version v1 (it no longer exists); "
                             "re-read it and retry; nothing was written")
    assert conflict.details() == {"path": "/vault/Math/limits.canvas", "expected": "v1", "actual": None}
    assert str(VaultNotFoundError("notes", [])).endswith("(configured: none; start the daemon with --vault NAME=DIR)")
    problems = [Problem("p", f"problem {i}") for i in range(12)]
    assert str(CanvasValidationError(problems)).endswith("problem 9 (and 2 more); nothing was written")
    assert CanvasValidationError(problems[:1], "a.canvas").details() == {
        "problems": [{"code": "p", "message": "problem 0"}], "path": "a.canvas"}

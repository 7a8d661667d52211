"""Checks an LLM answer against an agent's JSON schema (the subset agents use: no references, no combinators).

Supported keywords: type, properties, required, additionalProperties (false), items, minItems, maxItems,
enum, minimum, maximum, minLength, maxLength. Anything else in a schema is a programming error.
"""

from __future__ import annotations

from typing import Any

from canvasd.types import JSONObject

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "integer": (int,), "number": (int, float),
    "boolean": (bool,), "null": (type(None),),
}
_KNOWN = frozenset({"type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
                    "enum", "minimum", "maximum", "minLength", "maxLength", "description", "title"})


def schema_problems(value: Any, schema: JSONObject, where: str = "answer") -> list[str]:
    """What is wrong with `value` under `schema` (empty: it matches)."""
    unknown = set(schema) - _KNOWN
    if unknown:
        raise ValueError(f"unsupported JSON schema keywords: {', '.join(sorted(unknown))}")
    kind = schema.get("type")
    if kind is not None and not _is_type(value, kind):
        return [f"{where} must be {kind}, not {_type_name(value)}"]
    problems: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where} must be one of {schema['enum']!r}")
    if isinstance(value, str):
        problems += _bounds(len(value), schema, "minLength", "maxLength", f"{where} length")
    if isinstance(value, int | float) and not isinstance(value, bool):
        problems += _bounds(value, schema, "minimum", "maximum", where)
    if isinstance(value, list):
        problems += _bounds(len(value), schema, "minItems", "maxItems", f"{where} item count")
        if "items" in schema:
            for index, item in enumerate(value):
                problems += schema_problems(item, schema["items"], f"{where}[{index}]")
    if isinstance(value, dict):
        properties: JSONObject = schema.get("properties", {})
        problems += [f"{where} lacks '{key}'" for key in schema.get("required", []) if key not in value]
        if schema.get("additionalProperties") is False:
            problems += [f"{where} has unexpected '{key}'" for key in value if key not in properties]
        for key, sub in properties.items():
            if key in value:
                problems += schema_problems(value[key], sub, f"{where}.{key}")
    return problems


def _is_type(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES[kind])


def _type_name(value: Any) -> str:
    for name in _TYPES:
        if _is_type(value, name):
            return name
    return type(value).__name__


def _bounds(measure: float, schema: JSONObject, low: str, high: str, what: str) -> list[str]:
    problems = []
    if low in schema and measure < schema[low]:
        problems.append(f"{what} must be at least {schema[low]}")
    if high in schema and measure > schema[high]:
        problems.append(f"{what} must be at most {schema[high]}")
    return problems

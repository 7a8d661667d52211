"""Canvas bytes -> document, with the configured JSON engine (orjson, or the standard library as the plain path)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Literal

import orjson

from canvasd.canvas.layout import (
    BOM,
    MAX_DEPTH,
    CanvasText,
    LayoutParseError,
    LayoutTooDeepError,
    explain_json_error,
)
from canvasd.errors import CanvasParseError, CanvasTooDeepError
from canvasd.metrics import Metrics
from canvasd.types import JSONObject

log = logging.getLogger(__name__)

_BOM_BYTES = BOM.encode()


def decode_text(raw: bytes, path: Path | str) -> str:
    """The canvas's text; bytes that are not UTF-8 are a parse error located by line and column."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        raise CanvasParseError(path, line, column, "the file is not UTF-8 text") from None


def parse_canvas_text(raw: bytes, path: Path | str) -> CanvasText:
    """The canvas's text with its structure, for writing it back losslessly."""
    text = decode_text(raw, path)
    try:
        return CanvasText.parse(text)
    except LayoutTooDeepError as exc:
        raise CanvasTooDeepError(path, exc.line, exc.column, exc.reason, MAX_DEPTH) from None
    except LayoutParseError as exc:
        raise CanvasParseError(path, exc.line, exc.column, exc.reason) from None


def _load_plain(raw: bytes, path: Path | str) -> JSONObject:
    text = decode_text(raw, path)
    if text.startswith(BOM):
        text = text[1:]
    if not text or text.isspace():
        return {}
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        err = explain_json_error(text, exc.pos, exc.msg)
        raise CanvasParseError(path, err.line, err.column, err.reason) from None
    except RecursionError:  # deeper than the C scanner follows (orjson stops at 1024 levels already)
        deep = LayoutTooDeepError(text)
        raise CanvasTooDeepError(path, deep.line, deep.column, deep.reason, MAX_DEPTH) from None
    if not isinstance(document, dict):
        raise CanvasParseError(path, 1, 1, f"a canvas must be a JSON object, not {type(document).__name__}")
    return document


class CanvasCodec:
    """Parses canvas bytes with orjson or json; the switch `json_engine` is read here and nowhere else."""

    def __init__(self, engine: Literal["orjson", "json"], metrics: Metrics) -> None:
        self.engine = engine
        self._metrics = metrics

    def load(self, raw: bytes, path: Path | str) -> JSONObject:
        """The document in `raw`. Raises CanvasParseError for anything that is not a JSON object."""
        self._metrics.parses.inc()
        if self.engine == "json":
            return _load_plain(raw, path)
        body = raw[3:] if raw.startswith(_BOM_BYTES) else raw
        if not body or body.isspace():
            return {}
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            # orjson refuses some valid JSON (integers beyond 64 bits, lone surrogate escapes): if the
            # plain parser accepts the file, serve it from there; if not, its error is the one to report.
            document = _load_plain(raw, path)
            log.warning("orjson rejected canvas %s that json accepts; served by the plain parser", path)
            self._metrics.fallback("json_engine")
            return document
        if not isinstance(document, dict):
            raise CanvasParseError(path, 1, 1, f"a canvas must be a JSON object, not {type(document).__name__}")
        return document

"""Items of one top-level array of a JSON object, taken from the object's text as it streams in.

An LLM answers `{"questions": ["…", "…"], …}` a few characters at a time; `ArrayItemStream` hands back each
item of the named array as soon as its text is complete, so the runner can place the first question on the
canvas while the model is still writing the rest. The scanner keeps its state between pieces (string, escape,
depth, the key being read, the item being collected), so every character is looked at once and a piece may end
anywhere: inside a string, an escape (`\\"`, `\\u4e2d`), a number or a nested object.
"""

from __future__ import annotations

import json
import re
from typing import Any

_STRING_STOP = re.compile(r'["\\]')  # the only characters that matter inside a JSON string
_SCALAR_END = frozenset(",]} \t\r\n")


class ArrayItemStream:
    """Feed the pieces of a JSON object's text; get back the items of its top-level array `field` that became
    complete. Items are parsed JSON values (strings, objects, numbers, ...); an item whose text is not valid JSON
    is skipped (the whole answer is validated when it is complete). Only the first array named `field` counts;
    keys of nested objects never match. Text before the object's `{` (a code fence) is ignored."""

    def __init__(self, field: str) -> None:
        self.field = field
        self.items_seen = 0
        """Items returned so far."""
        self._depth = 0  # containers open; the top-level object is depth 1, items of `field` sit at depth 2
        self._in_string = False
        self._escape = False
        self._expect_key = False  # at depth 1, the next string is a key
        self._key_parts: list[str] | None = None  # raw text of the key being read
        self._key: str | None = None  # the last key read at depth 1
        self._armed = False  # the value of `field` comes next
        self._in_array = False  # inside the array of `field`
        self._item_parts: list[str] | None = None  # raw text of the item being read
        self._scalar = False  # the item being read is a number, true, false or null
        self._done = False

    @property
    def done(self) -> bool:
        """Whether the array (or the whole object) has closed: later pieces can add no item."""
        return self._done

    def feed(self, text: str) -> list[Any]:
        """The items of `field` completed by this piece of text, in order."""
        if self._done or not text:
            return []
        found: list[Any] = []
        item_start = 0  # where the item being read starts in `text` (0 if it started in an earlier piece)
        key_start = 0
        i, n = 0, len(text)
        while i < n:
            if self._in_string:
                if self._escape:
                    self._escape = False
                    i += 1
                    continue
                stop = _STRING_STOP.search(text, i)
                if stop is None:
                    break
                i = stop.start()
                if text[i] == "\\":
                    self._escape = True
                    i += 1
                    continue
                self._in_string = False
                if self._key_parts is not None:
                    self._key_parts.append(text[key_start:i])
                    self._key = _decode_key("".join(self._key_parts))
                    self._key_parts = None
                elif self._item_parts is not None and self._depth == 2:
                    self._item_parts.append(text[item_start:i + 1])
                    self._emit(found)
                i += 1
                continue
            char = text[i]
            if self._scalar:
                if char not in _SCALAR_END:
                    i += 1
                    continue
                assert self._item_parts is not None
                self._item_parts.append(text[item_start:i])
                self._scalar = False
                self._emit(found)
            if char in " \t\r\n":
                i += 1
                continue
            if self._armed:
                self._armed = False
                if char == "[":
                    self._in_array = True
                    self._depth += 1
                    i += 1
                    continue
            if self._depth == 0:
                if char == "{":
                    self._depth = 1
                    self._expect_key = True
                i += 1
                continue
            starts_item = self._in_array and self._depth == 2 and self._item_parts is None
            if char == '"':
                self._in_string = True
                if self._depth == 1 and self._expect_key:
                    self._key_parts = []
                    key_start = i + 1
                elif starts_item:
                    self._item_parts = []
                    item_start = i
            elif char in "{[":
                if starts_item:
                    self._item_parts = []
                    item_start = i
                self._depth += 1
            elif char in "}]":
                self._depth -= 1
                if self._in_array and self._depth == 2 and self._item_parts is not None:
                    self._item_parts.append(text[item_start:i + 1])
                    self._emit(found)
                elif self._depth <= 1 and (self._in_array or self._depth == 0):
                    self._done = True
                    return found
            elif self._depth == 1:
                if char == ":":
                    self._expect_key = False
                    self._armed = self._key == self.field
                elif char == ",":
                    self._expect_key = True
            elif starts_item and char != ",":
                self._item_parts = []
                item_start = i
                self._scalar = True
            i += 1
        if self._key_parts is not None:
            self._key_parts.append(text[key_start:])
        if self._item_parts is not None:
            self._item_parts.append(text[item_start:])
        return found

    def _emit(self, found: list[Any]) -> None:
        assert self._item_parts is not None
        raw = "".join(self._item_parts)
        self._item_parts = None
        try:
            item = json.loads(raw)
        except ValueError:
            return
        found.append(item)
        self.items_seen += 1


def _decode_key(raw: str) -> str:
    """A key's text with its escapes resolved (a key that is not valid JSON stays as written)."""
    try:
        key = json.loads(f'"{raw}"')
    except ValueError:
        return raw
    return key if isinstance(key, str) else raw

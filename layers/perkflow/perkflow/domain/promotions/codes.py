"""Voucher codes from a Voucherify ``code_config``: validation, capacity, fast CSPRNG generation.

``code_config`` is ``{length, charset, prefix, postfix, pattern}``; ``#`` in ``pattern`` is a random
character and a pattern overrides ``length`` (spec ``CodeConfig``). ``charset`` is either the characters
themselves or one of the names the spec's description gives (``Alphanumeric``, ``Alphabetic``, ``Alphabetic
Lowercase``, ``Alphabetic Uppercase``, ``Numbers``; matched case-insensitively, so voucher-code-generator's
``alphanumeric`` works too). Voucherify echoes the characters, so a name is resolved on the way in.

Room to spare: a request for ``count`` codes, plus the ``existing`` codes of the same shape, must fit in
1/``HEADROOM`` of the distinct codes the config can make. At that fill a random draw hits a code already
issued at most 1 time in 100, so redraws stay rare and a guessed code is valid at most 1 time in 100
(reference/segments_loyalty.md §10 asks for a ratio of at most 0.01). Capacity is a Python int, so huge
configs cannot overflow (Sylius #10912).

Uniqueness across the project is storage's job (conditional writes); :func:`generate` is unique within one
call and, through ``avoid``, draws replacements that skip codes storage reported taken.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from perkflow.domain.promotions.errors import InvalidCodeConfig

PLACEHOLDER = "#"
DEFAULT_LENGTH = 8
HEADROOM = 100
MAX_CODE_LENGTH = 100  # whole code, prefix and postfix included: it is a key in storage and in URLs

NAMED_CHARSETS: dict[str, str] = {
    "Alphanumeric": "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "Alphabetic": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "Alphabetic Lowercase": "abcdefghijklmnopqrstuvwxyz",
    "Alphabetic Uppercase": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "Numbers": "0123456789",
}
_BY_LOWER_NAME = {name.lower(): chars for name, chars in NAMED_CHARSETS.items()}


class CodeConfig(BaseModel):
    """Voucherify's ``code_config`` as clients send it (``suffix``, the v2 SDK's typing, means postfix)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    length: int | None = Field(default=None, description="random characters, when there is no pattern")
    charset: str | None = Field(default=None, description="the characters, or a named charset")
    prefix: str | None = None
    postfix: str | None = Field(default=None, validation_alias=AliasChoices("postfix", "suffix"))
    pattern: str | None = Field(default=None, description="'#' marks a random character; wins over length")

    def shape(self) -> CodeShape:
        """This config checked and resolved. Raises :class:`InvalidCodeConfig`."""
        charset = _charset(self.charset)
        prefix, postfix = self.prefix or "", self.postfix or ""
        if self.pattern:
            pattern = self.pattern
            if PLACEHOLDER not in pattern:
                raise InvalidCodeConfig("pattern needs at least one '#'", details=pattern)
        else:
            length = DEFAULT_LENGTH if self.length is None else self.length
            if not 1 <= length <= MAX_CODE_LENGTH:
                raise InvalidCodeConfig(f"length must be 1 to {MAX_CODE_LENGTH}", details=str(length))
            pattern = PLACEHOLDER * length
        for name, text in (("prefix", prefix), ("postfix", postfix), ("pattern", pattern)):
            if not text.isprintable():
                raise InvalidCodeConfig(f"{name} holds a control character", details=repr(text))
        total = len(prefix) + len(pattern) + len(postfix)
        if total > MAX_CODE_LENGTH:
            raise InvalidCodeConfig(f"codes would be {total} characters long, over {MAX_CODE_LENGTH}")
        return CodeShape(charset=charset, pattern=pattern, prefix=prefix, postfix=postfix)

    def normalized(self) -> CodeConfig:
        """This config with every field set as Voucherify echoes it (``charset`` as characters, ``length``
        agreeing with ``pattern``). Raises :class:`InvalidCodeConfig`."""
        return self.shape().config()

    def as_voucherify(self) -> dict[str, Any]:
        return self.shape().as_voucherify()


@dataclass(frozen=True)
class CodeShape:
    """A checked code_config: what codes look like and how many there can be."""

    charset: str
    pattern: str
    prefix: str = ""
    postfix: str = ""

    @property
    def length(self) -> int:
        return self.pattern.count(PLACEHOLDER)

    @property
    def capacity(self) -> int:
        count: int = len(self.charset) ** self.length
        return count

    def config(self) -> CodeConfig:
        return CodeConfig(
            length=self.length,
            charset=self.charset,
            prefix=self.prefix or None,
            postfix=self.postfix or None,
            pattern=self.pattern,
        )

    def as_voucherify(self) -> dict[str, Any]:
        body: dict[str, Any] = {"length": self.length, "charset": self.charset, "pattern": self.pattern}
        if self.prefix:
            body["prefix"] = self.prefix
        if self.postfix:
            body["postfix"] = self.postfix
        return body


def _charset(value: str | None) -> str:
    chars = NAMED_CHARSETS["Alphanumeric"] if value is None else _BY_LOWER_NAME.get(value.lower(), value)
    distinct = "".join(dict.fromkeys(chars))  # a repeated character would make draws non-uniform
    outside = sorted({char for char in distinct if not "!" <= char <= "~"})
    if outside:
        raise InvalidCodeConfig("charset may hold only visible ASCII characters", details=repr("".join(outside)))
    if len(distinct) < 2:
        raise InvalidCodeConfig("charset needs at least two distinct characters", details=repr(value))
    return distinct


def capacity(config: CodeConfig) -> int:
    """How many distinct codes the config can make."""
    return config.shape().capacity


def max_count(config: CodeConfig) -> int:
    """The most codes (of this shape, all campaigns together) the config may issue with room to spare."""
    return capacity(config) // HEADROOM


def check_capacity(config: CodeConfig, count: int, *, existing: int = 0) -> None:
    """Refuse ``count`` new codes when, with ``existing`` codes of the same shape, they would not fit in
    1/HEADROOM of the capacity."""
    if count < 0:
        raise InvalidCodeConfig("the number of codes cannot be negative", details=str(count))
    limit = max_count(config)
    if count + existing > limit:
        raise InvalidCodeConfig(
            "code_config cannot make that many codes with room to spare",
            details=(
                f"{count} requested + {existing} existing > {limit} (1/{HEADROOM} of the {capacity(config)} "
                "possible codes); use a longer pattern or a larger charset"
            ),
        )


def generate(config: CodeConfig, count: int, *, avoid: AbstractSet[str] = frozenset()) -> list[str]:
    """``count`` distinct random codes, none of them in ``avoid``.

    Characters come from the OS CSPRNG, uniform over the charset. To replace codes that storage found
    taken, pass ``avoid`` = every code drawn so far plus the taken ones: the new codes repeat none of them.
    """
    shape = config.shape()
    check_capacity(config, count, existing=len(avoid))
    layout = _layout(shape)
    codes = _draw(layout, count)
    distinct = set(codes)
    if len(distinct) == count and distinct.isdisjoint(avoid):
        return codes
    # Rare at the headroom above: keep first occurrences of the good codes and redraw the shortfall.
    kept = dict.fromkeys(code for code in codes if code not in avoid)
    while len(kept) < count:
        for code in _draw(layout, count - len(kept)):
            if code not in avoid:
                kept.setdefault(code)
    return list(kept)


@dataclass(frozen=True)
class _Layout:
    template: bytes  # prefix + pattern + postfix + b"\n", UTF-8
    slots: tuple[int, ...]  # byte offsets of the '#' of the pattern
    table: bytes  # byte -> charset character, for the bytes kept
    reject: bytes  # bytes dropped so that the kept ones map uniformly
    kept: int  # how many of the 256 byte values are kept


@functools.lru_cache(maxsize=64)
def _layout(shape: CodeShape) -> _Layout:
    prefix, pattern, charset = shape.prefix.encode(), shape.pattern.encode(), shape.charset.encode("ascii")
    # '#' (0x23) never occurs inside a multi-byte UTF-8 sequence, so byte offsets are safe.
    slots = tuple(len(prefix) + index for index, byte in enumerate(pattern) if byte == ord(PLACEHOLDER))
    size = len(charset)
    kept = 256 - 256 % size  # rejection sampling: 256 % size != 0 would favour the first characters
    table = bytes(charset[byte % size] if byte < kept else 0 for byte in range(256))
    return _Layout(
        template=prefix + pattern + shape.postfix.encode() + b"\n",
        slots=slots,
        table=table,
        reject=bytes(range(kept, 256)),
        kept=kept,
    )


def _draw(layout: _Layout, count: int) -> list[str]:
    """``count`` random codes (maybe repeating): one bulk buffer, every slot filled with a strided copy."""
    if count == 0:
        return []
    width, slots = len(layout.template), len(layout.slots)
    buffer = bytearray(layout.template * count)
    chars = _random_chars(layout, count * slots)
    for index, offset in enumerate(layout.slots):
        buffer[offset::width] = chars[index::slots]
    del buffer[-1]  # the separator after the last code
    return buffer.decode().split("\n")


def _random_chars(layout: _Layout, count: int) -> bytearray:
    chars = bytearray()
    while len(chars) < count:
        missing = count - len(chars)
        # translate() drops the rejected bytes and maps the rest in C; size the draw so one pass suffices.
        chars += os.urandom(missing * 256 // layout.kept + 16).translate(layout.table, layout.reject)
    del chars[count:]
    return chars

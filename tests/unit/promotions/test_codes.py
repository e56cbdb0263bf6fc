"""code_config: validation, capacity with room to spare, and the generator (unique, uniform, CSPRNG)."""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from typing import Any

import pytest

from perkflow.domain.promotions.codes import NAMED_CHARSETS, CodeConfig, capacity, check_capacity, generate
from perkflow.domain.promotions.errors import InvalidCodeConfig
from tests.unit.promotions.factories import CHARSET, PATTERN


def test_named_charsets_are_the_spec_strings() -> None:
    # components.schemas.CodeConfig.charset's description in the Voucherify spec.
    assert NAMED_CHARSETS == {
        "Alphanumeric": "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "Alphabetic": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "Alphabetic Lowercase": "abcdefghijklmnopqrstuvwxyz",
        "Alphabetic Uppercase": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "Numbers": "0123456789",
    }


@pytest.mark.parametrize(
    ("charset", "expected"),
    [
        ("Alphabetic Uppercase", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
        ("numbers", "0123456789"),  # voucher-code-generator's lower-case names
        (None, NAMED_CHARSETS["Alphanumeric"]),
        ("ABCA", "ABC"),  # a repeated character would weigh twice in the draw
        (CHARSET, CHARSET),
    ],
)
def test_charset_is_resolved_to_its_distinct_characters(charset: str | None, expected: str) -> None:
    assert CodeConfig(charset=charset).normalized().charset == expected


def test_defaults_echo_as_voucherify_does() -> None:
    assert CodeConfig().as_voucherify() == {
        "length": 8,
        "charset": NAMED_CHARSETS["Alphanumeric"],
        "pattern": "########",
    }


def test_pattern_wins_over_length_and_suffix_means_postfix() -> None:
    config = CodeConfig.model_validate({"length": 3, "pattern": "##-##", "prefix": "P-", "suffix": "-S"})

    assert config.as_voucherify() == {
        "length": 4,
        "charset": NAMED_CHARSETS["Alphanumeric"],
        "pattern": "##-##",
        "prefix": "P-",
        "postfix": "-S",
    }


@pytest.mark.parametrize(
    "fields",
    [
        {"pattern": "GIFT-CARD"},
        {"length": 0},
        {"charset": "AB€"},
        {"charset": "A B"},
        {"charset": "AAAA"},
        {"prefix": "line\nbreak"},
        {"length": 101},
        {"length": 10**12},  # refused before anything that size is built
        {"pattern": "#" * 90, "prefix": "P" * 11},
    ],
)
def test_bad_configs_are_invalid_code_config(fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidCodeConfig) as caught:
        CodeConfig.model_validate(fields).normalized()
    assert caught.value.key == "invalid_code_config"
    assert caught.value.status == 400


def test_capacity_counts_distinct_codes() -> None:
    assert capacity(CodeConfig(pattern=PATTERN, charset=CHARSET)) == 32**8
    assert capacity(CodeConfig(length=4, charset="Numbers", prefix="X")) == 10_000


def test_a_count_without_hundredfold_room_is_refused() -> None:
    config = CodeConfig(length=4, charset="Numbers")  # 10,000 codes: room for 100

    check_capacity(config, 100)
    with pytest.raises(InvalidCodeConfig, match="room to spare"):
        check_capacity(config, 101)
    with pytest.raises(InvalidCodeConfig):
        check_capacity(config, 60, existing=41)  # codes of the same shape already issued count too
    with pytest.raises(InvalidCodeConfig):
        generate(config, 101)
    with pytest.raises(InvalidCodeConfig):
        check_capacity(config, -1)


def test_generated_codes_follow_the_config_and_are_unique() -> None:
    config = CodeConfig(pattern="###-###", charset="Alphabetic Uppercase", prefix="GIFT-", postfix="-€")

    made = generate(config, 20_000)

    assert len(made) == len(set(made)) == 20_000
    assert all(re.fullmatch(r"GIFT-[A-Z]{3}-[A-Z]{3}-€", code) for code in made)


def test_prefix_and_postfix_hashes_are_literal() -> None:
    made = generate(CodeConfig(pattern="####", charset="Numbers", prefix="#", postfix="#"), 5)

    assert all(re.fullmatch(r"#\d{4}#", code) for code in made)


def test_one_million_story_codes_are_unique() -> None:
    made = generate(CodeConfig(pattern=PATTERN, charset=CHARSET), 1_000_000)

    assert len(set(made)) == 1_000_000
    assert all(code.startswith("GIFT-") and len(code) == 14 for code in made[:1000])


def test_replacements_avoid_every_code_named() -> None:
    config = CodeConfig(length=4, charset="Numbers")
    first = generate(config, 50)
    taken = set(first[:10])

    replacements = generate(config, 10, avoid=set(first) | taken)

    assert len(set(replacements)) == 10
    assert not set(replacements) & set(first)


def test_collisions_within_a_draw_are_redrawn(monkeypatch: pytest.MonkeyPatch) -> None:
    # The first OS draw is all zero bytes, so every code of the first batch is the same one.
    real = os.urandom
    calls: list[int] = []

    def urandom(size: int) -> bytes:
        calls.append(size)
        return bytes(size) if len(calls) == 1 else real(size)

    monkeypatch.setattr(os, "urandom", urandom)

    made = generate(CodeConfig(pattern=PATTERN, charset=CHARSET), 1000)

    assert len(set(made)) == 1000
    assert "GIFT-AAAA-AAAA" in made  # the first code of the zero draw is kept
    assert len(calls) > 1


def _chi_square(counter: Counter[str], alphabet: str) -> float:
    total = sum(counter.values())
    expected = total / len(alphabet)
    return sum((counter[char] - expected) ** 2 / expected for char in alphabet)


@pytest.mark.parametrize("charset", ["Numbers", CHARSET, "ABCDEFG"])
def test_characters_are_uniform_over_the_charset(charset: str) -> None:
    # 1,000,000 characters: a plain byte % len(charset) (256 % 10 = 6) would put ~4% more on the first six
    # digits, a chi-square near 240; a uniform draw stays near its degrees of freedom.
    config = CodeConfig(length=10, charset=charset)
    alphabet = str(config.normalized().charset)
    counter = Counter("".join(generate(config, 100_000)))

    assert set(counter) == set(alphabet)
    freedom = len(alphabet) - 1
    assert _chi_square(counter, alphabet) < freedom + 6 * math.sqrt(2 * freedom)


def test_every_position_is_uniform() -> None:
    made = generate(CodeConfig(length=8, charset="Numbers"), 50_000)

    for index in range(8):
        counter = Counter(code[index] for code in made)
        assert _chi_square(counter, "0123456789") < 9 + 6 * math.sqrt(18), index

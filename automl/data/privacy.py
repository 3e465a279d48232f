"""Personal data in a training table: which columns hold it, and salted hashes to replace it.

A model rarely needs an e-mail address or a card number, and an artifact that keeps them
(in its schema, drift reference or report) spreads them. `detect_personal_data` flags such
columns from a sample of their values so the job can drop or hash them before training;
`hash_column` replaces values by salted hashes, which keep equality (the same customer
hashes the same) but not the value.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

PersonalKind = Literal["email", "phone", "card", "ip", "person_name"]

#: at most this many non-missing values of a column are judged (a seeded sample)
SAMPLE_VALUES = 1_000
#: a column is flagged when at least this share of its sampled values match one kind
MATCH_SHARE = 0.8
SAMPLE_SEED = 0
#: hex characters of SHA-256 kept: 64 bits, so collisions are unlikely below billions of values
HASH_CHARS = 16

_EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_PHONE_CHARS = re.compile(r"^\+?[\d\s().-]+$")
_PHONE_SEPARATORS = re.compile(r"[\s().-]")
# Dates and decimal numbers are digits and separators too, and no phone numbers
_DATE = re.compile(r"^(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})$")
_DECIMAL = re.compile(r"^-?\d+\.\d+$")
_CARD_CHARS = re.compile(r"^[\d\s-]+$")
_NOT_DIGIT = re.compile(r"\D")
_HEADER_SPLIT = re.compile(r"[_\-\s]+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_NAME_HEADERS = {
    "name",
    "first_name",
    "firstname",
    "last_name",
    "lastname",
    "surname",
    "full_name",
    "fullname",
    "given_name",
    "family_name",
    "person",
    "customer_name",
    "contact_name",
}
# "name" as a word names a person unless a word beside it says it names a thing
_THING_WORDS = {
    "app",
    "brand",
    "branch",
    "business",
    "category",
    "city",
    "class",
    "column",
    "company",
    "country",
    "dataset",
    "department",
    "device",
    "domain",
    "feature",
    "field",
    "file",
    "host",
    "item",
    "model",
    "org",
    "organisation",
    "organization",
    "place",
    "product",
    "project",
    "region",
    "server",
    "shop",
    "state",
    "store",
    "street",
    "table",
    "team",
    "type",
}
# person names: letters, with spaces, dots, apostrophes or hyphens between them; no digits
_PERSON_NAME = re.compile(r"^[^\W\d_]+([ .'\-]+[^\W\d_]+)*\.?$")


@dataclass(frozen=True)
class PersonalColumn:
    """A column that holds personal data: what kind, and the share of sampled values that look so."""

    column: str
    kind: str
    share: float


def detect_personal_data(frame: pd.DataFrame, exclude: Collection[str] = ()) -> list[PersonalColumn]:
    """The columns of `frame` that hold e-mail addresses, phone, card or IP numbers, or person names.

    Each text column (and each integer column, whose values may be card numbers) is judged on
    a seeded sample of at most `SAMPLE_VALUES` non-missing values; it is flagged with the kind
    that at least `MATCH_SHARE` of them match. Phones need a separator or a leading "+", so
    plain integers are no phones; cards need 13-19 digits passing the Luhn check. Person names
    are judged by the header (`name`, `first_name`, "Customer Name"...) and text values, since
    names have no pattern of their own. The cost is bounded: at most 1,000 values a column.

    Args:
        frame: the table, its columns named by text.
        exclude: columns not to judge (the target, say).

    Returns:
        The flagged columns in the frame's order.

    Example:
        >>> table = pd.DataFrame({"mail": ["a@b.com", "c@d.org"], "n": [1, 2]})
        >>> detect_personal_data(table)
        [PersonalColumn(column='mail', kind='email', share=1.0)]
    """
    found = []
    for name in frame.columns:
        if name in exclude:
            continue
        flagged = _judge_column(str(name), frame[name])
        if flagged is not None:
            found.append(flagged)
    return found


def hash_column(values: pd.Series, salt: str) -> pd.Series:
    """Each non-missing value replaced by the first 16 hex characters of SHA-256 of
    `salt + "\\x1f" + str(value)`; missing values (None, NaN, NA) become None.

    The salt keeps the hashes from being looked up in a table of hashed e-mail addresses or
    phone numbers; the same salt gives the same hashes, so training and prediction agree.
    About a second per million values.
    """
    prefix = (salt + "\x1f").encode()
    missing = values.isna().to_numpy()
    hashed = [
        None if gone else hashlib.sha256(prefix + str(value).encode()).hexdigest()[:HASH_CHARS]
        for value, gone in zip(values.tolist(), missing.tolist(), strict=True)
    ]
    return pd.Series(hashed, index=values.index, name=values.name, dtype=object)


def new_salt() -> str:
    """A random salt for `hash_column`: 32 hex characters."""
    return secrets.token_hex(16)


def _judge_column(name: str, column: pd.Series) -> PersonalColumn | None:
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype):
        return None
    if pd.api.types.is_integer_dtype(dtype):
        return _judge_integers(name, column)
    is_text = (
        pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
    )
    if not is_text:
        return None
    sample = _sample(column)
    if len(sample) == 0:
        return None
    texts = [str(v).strip() for v in sample.tolist()]
    kinds = pd.Series([_value_kind(t) for t in texts]).value_counts(normalize=True)
    kinds = kinds.drop("", errors="ignore")
    if len(kinds) and kinds.iloc[0] >= MATCH_SHARE:
        return PersonalColumn(name, str(kinds.index[0]), float(kinds.iloc[0]))
    if _names_a_person(name):
        numbers = sum(isinstance(v, (int, float, np.number)) for v in sample.tolist())
        share = sum(bool(_PERSON_NAME.match(t)) for t in texts) / len(texts)
        if numbers == 0 and share >= MATCH_SHARE:
            return PersonalColumn(name, "person_name", float(share))
    return None


def _judge_integers(name: str, column: pd.Series) -> PersonalColumn | None:
    """Card numbers stored as integers: 13-19 digits passing the Luhn check."""
    sample = _sample(column)
    if len(sample) == 0:
        return None
    share = sum(_is_card(str(abs(int(v)))) for v in sample.tolist()) / len(sample)
    return PersonalColumn(name, "card", float(share)) if share >= MATCH_SHARE else None


def _sample(column: pd.Series) -> pd.Series:
    values = column.dropna()
    return values.sample(n=SAMPLE_VALUES, random_state=SAMPLE_SEED) if len(values) > SAMPLE_VALUES else values


def _value_kind(text: str) -> str:
    """The kind one value looks like, "" for none; the first that fits of email, ip, card, phone
    (an IPv4 address or a card number is digits and separators, as a phone number is)."""
    if "@" in text:
        return "email" if _EMAIL.match(text) else ""
    if _is_ip(text):
        return "ip"
    if _CARD_CHARS.match(text) and _is_card(_NOT_DIGIT.sub("", text)):
        return "card"
    if _is_phone(text):
        return "phone"
    return ""


def _is_ip(text: str) -> bool:
    if not (":" in text or "." in text):  # ipaddress would take a bare integer's text as IPv4
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_phone(text: str) -> bool:
    if not _PHONE_CHARS.match(text) or _DATE.match(text) or _DECIMAL.match(text):
        return False
    if not (text.startswith("+") or _PHONE_SEPARATORS.search(text)):
        return False
    digits = _NOT_DIGIT.sub("", text)
    return 7 <= len(digits) <= 15


def _is_card(digits: str) -> bool:
    """13-19 digits whose Luhn checksum is valid (as every payment card number's is)."""
    if not 13 <= len(digits) <= 19 or not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _names_a_person(header: str) -> bool:
    """Whether a column header says its values are people's names ("Name", "first_name",
    "customerName", "employee name"), and not things' names ("product_name")."""
    words = [w for w in _HEADER_SPLIT.split(_CAMEL.sub("_", header).strip().lower()) if w]
    if "_".join(words) in _NAME_HEADERS or "".join(words) in _NAME_HEADERS:
        return True
    return ("name" in words or "surname" in words) and not set(words) & _THING_WORDS

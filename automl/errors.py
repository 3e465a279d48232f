"""Typed errors a user can cause.

Every exception here means "the input was wrong, this is what to fix". The CLI turns
them into one line on stderr and exit code 2; anything else is a bug (exit code 1).
"""

from __future__ import annotations

from pydantic import ValidationError


class AutoMLError(Exception):
    """Base class of the errors a user can fix by changing their input."""


class SpecError(AutoMLError):
    """The job specification (YAML file, flags or arguments) is invalid."""


class DataError(AutoMLError):
    """A table cannot be used: unreadable, empty, wrong columns, unusable target."""


class ArtifactError(AutoMLError):
    """A model directory is missing, incomplete, tampered with or of another version."""


class SearchError(AutoMLError):
    """The search could not produce any model (for example every trial failed)."""


def first_line(error: BaseException | str, limit: int | None = None) -> str:
    """The first non-empty line of an error (its type's name when it says nothing), at
    most `limit` characters: what a one-line message quotes of a library's error."""
    text = str(error).strip()
    line = text.splitlines()[0] if text else (type(error).__name__ if isinstance(error, BaseException) else "")
    return line if limit is None else line[:limit]


def validation_message(error: ValidationError, what: str) -> str:
    """Pydantic's errors as one line, `what: field.path: message; ...`, without its URLs."""
    parts = []
    for detail in error.errors():
        message = str(detail["msg"]).removeprefix("Value error, ")
        where = ".".join(str(p) for p in detail["loc"])
        parts.append(f"{where}: {message}" if where else message)
    return f"{what}: " + "; ".join(parts)

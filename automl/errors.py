"""Typed errors a user can cause.

Every exception here means "the input was wrong, this is what to fix". The CLI turns
them into one line on stderr and exit code 2; anything else is a bug (exit code 1).
"""

from __future__ import annotations


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

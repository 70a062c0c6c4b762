"""Errors raised by the readers and writers of :mod:`laminarray.io`.

Every problem with a file (missing, truncated, malformed, of an unsupported
kind) is reported as a :class:`FileFormatError`, a
:class:`~laminarray.LaminarrayError`; the message names the file, the field
or quantity involved, what was expected and what was found.
"""

from __future__ import annotations

from .._validation import LaminarrayError

__all__ = ["FileFormatError", "InversionNotFoundError", "MissingFileError"]


class FileFormatError(LaminarrayError):
    """A file is malformed, truncated, of an unsupported kind or lacks a field."""


class MissingFileError(FileFormatError, FileNotFoundError):
    """A file that a reader needs does not exist (also a ``FileNotFoundError``)."""


class InversionNotFoundError(FileFormatError, KeyError):
    """An SPM dataset holds no inversion at the requested index (also a ``KeyError``)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""

"""barenet's own exception types.

Every mistake a user can make (a bad option, a corrupt file, data of the wrong shape) raises a
subclass of :class:`BarenetError`. The command line turns these into one clear line and exit
status 2. ``BarenetError`` also derives from ``ValueError`` so that library callers who already
catch ``ValueError`` for bad arguments keep working.
"""

from __future__ import annotations


class BarenetError(ValueError):
    """A user-facing error: the message says what is wrong and how to fix it."""


class DataError(BarenetError):
    """A data file or array is malformed, missing, or inconsistent."""


class ModelFileError(BarenetError):
    """A saved model file is malformed or from an unsupported format version."""


class DivergenceError(BarenetError):
    """Training produced a non-finite loss or parameter."""

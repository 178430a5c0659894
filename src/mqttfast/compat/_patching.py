"""Reversible attribute swaps: the bookkeeping shared by the compat modules.

A :class:`PatchSet` records, for every attribute it replaces, what the owner's
own ``__dict__`` held before (or that it held nothing, when the attribute was
inherited), so that ``restore()`` leaves each owner exactly as it found it.
"""

from __future__ import annotations

import warnings
from typing import Any, Optional

_ABSENT = object()


class CompatibilityWarning(UserWarning):
    """``install()`` met a library version it was not written for and changed nothing."""


class PatchSet:
    """Attributes replaced on third-party objects, restorable in reverse order."""

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []

    @property
    def active(self) -> bool:
        """True while at least one replacement is in place."""
        return bool(self._saved)

    def replace(self, owner: Any, name: str, value: Any) -> None:
        """Set ``owner.name = value``, remembering what ``owner`` itself held."""
        self._saved.append((owner, name, vars(owner).get(name, _ABSENT)))
        setattr(owner, name, value)

    def restore(self) -> None:
        """Put every replaced attribute back, last replaced first."""
        while self._saved:
            owner, name, original = self._saved.pop()
            if original is _ABSENT:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


def parse_version(text: str) -> tuple[int, ...]:
    """The leading numeric components of a version string ("2.2.0.dev1" -> (2, 2, 0))."""
    parts: list[int] = []
    for piece in text.split("."):
        digits = ""
        for char in piece:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) != len(piece):
            break
    return tuple(parts)


def check_version(library: str, version: Optional[str], supported: tuple[int, int]) -> bool:
    """Whether ``version`` is within the ``major.minor`` series the patch was written for; warn if not."""
    if version is not None and parse_version(version)[:2] == supported:
        return True
    series = ".".join(map(str, supported))
    warnings.warn(
        f"mqttfast.compat: {library} {version or '(unknown version)'} is not the {series}.x series "
        f"this patch was written for; nothing was changed",
        CompatibilityWarning,
        stacklevel=3,
    )
    return False

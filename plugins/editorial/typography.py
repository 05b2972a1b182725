"""Typogrify (smart quotes, dashes, no lone last words) with a cache of its own.

Pelican's own TYPOGRIFY setting would run it again on every rebuild; `invoke serve` rebuilds on
every save, so the editorial plugin keeps what Typogrify made, keyed by the text and the settings,
and a warm rebuild reuses it. Only the results used by the last build are saved.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from pathlib import Path

logger = logging.getLogger(__name__)
LOG_PREFIX = "[editorial]"
CACHE_FILE = "editorial-typogrify.pickle"


class TypogrifyCache:
    def __init__(self, cache_folder: Path, ignore_tags: list[str], *, load: bool):
        self.file = Path(cache_folder) / CACHE_FILE
        self.ignore_tags = ignore_tags
        self.known: dict[str, str] = {}
        self.used: dict[str, str] = {}
        if load and self.file.is_file():
            try:
                with self.file.open("rb") as handle:
                    self.known = pickle.load(handle)
            except (OSError, pickle.UnpicklingError, EOFError) as error:
                logger.warning("%s ignoring an unreadable typogrify cache: %s", LOG_PREFIX, error)

    def __call__(self, text: str) -> str:
        from typogrify.filters import typogrify  # noqa: PLC0415 (only when switched on)

        # The cache key covers the settings too, so changing the ignored tags redoes the work.
        key = hashlib.sha1(f"{self.ignore_tags!r}\0{text}".encode()).hexdigest()
        result = self.known.get(key)
        if result is None:
            result = typogrify(text, self.ignore_tags)
        self.used[key] = result
        return result

    def save(self) -> None:
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            with self.file.open("wb") as handle:
                pickle.dump(self.used, handle, protocol=pickle.HIGHEST_PROTOCOL)
        except OSError as error:
            logger.warning("%s could not save the typogrify cache: %s", LOG_PREFIX, error)

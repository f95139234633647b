"""Values a process keeps between requests, a few at a time."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any


class LastFew:
    """The last few values kept by key (least recently used dropped), shared by the threads of a process.
    ``None`` is never kept: keeping it drops the key."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def keep(self, key: Any, value: Any) -> None:
        with self._lock:
            self._entries.pop(key, None)
            if value is not None:
                self._entries[key] = value
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

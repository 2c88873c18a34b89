"""Counters of requests by TikTok path and outcome (`ok`, an envelope code such as `36009002`, or `fault:<kind>`)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any


class Counters:
    """What the sandbox answered, for tests and benchmarks to prove what happened."""

    def __init__(self) -> None:
        self._by_path: defaultdict[str, Counter[str]] = defaultdict(Counter)

    def record(self, path: str, outcome: str) -> None:
        self._by_path[path][outcome] += 1

    def reset(self) -> None:
        self._by_path.clear()

    def snapshot(self) -> dict[str, Any]:
        by_outcome: Counter[str] = Counter()
        for outcomes in self._by_path.values():
            by_outcome.update(outcomes)
        return {
            "by_path": {path: dict(outcomes) for path, outcomes in sorted(self._by_path.items())},
            "by_outcome": dict(by_outcome),
            "total": sum(by_outcome.values()),
        }

"""Reading the metrics endpoint back: one scrape over HTTP, parsed with prometheus_client's own
text parser, and the samples looked up by name and labels."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

# A loopback port nothing listens on now (the exporter binds it a moment later).
from ..support.smtp import free_port

__all__ = ["Scrape", "free_port", "scrape"]


class Scrape:
    """The samples of one scrape: ``value(name, **labels)`` is 0 for a series not exported
    (yet), as a counter that never moved is."""

    def __init__(self, text: str):
        self.text = text
        self.samples: dict[tuple[str, frozenset], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def has(self, name: str, **labels: str) -> bool:
        return (name, frozenset(labels.items())) in self.samples

    def minus(self, before: "Scrape", name: str, **labels: str) -> float:
        """How far a series moved since ``before``."""
        return self.value(name, **labels) - before.value(name, **labels)


def scrape(port: int, host: str = "127.0.0.1") -> Scrape:
    response = httpx.get(f"http://{host}:{port}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain"), response.headers
    return Scrape(response.text)

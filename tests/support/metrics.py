"""Reading `/metrics` as Prometheus would: samples by name and labels."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    """One scrape's samples; `value` sums over the samples that match the given labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: list[tuple[str, dict[str, str], float]] = [
            (sample.name, dict(sample.labels), sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        ]

    @property
    def names(self) -> set[str]:
        return {name for name, _labels, _value in self.samples}

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        wanted = dict(labels or {})
        return sum(
            value
            for sample_name, sample_labels, value in self.samples
            if sample_name == name and wanted.items() <= sample_labels.items()
        )


async def scrape(client: httpx.AsyncClient, **headers: str) -> Scrape:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)

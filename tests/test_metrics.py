"""The DB writer's counters and histograms (common.metrics, plain Python) read the same on /api/metrics as
prometheus_client's own would for the same observations."""
from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import Counter as LibraryCounter, Histogram as LibraryHistogram

from common import metrics
from services.api.metrics import CountsCollector

OBSERVATIONS = [0, 0.0005, 0.0007, 1, 1.5, 2 ** 20, 2 ** 20 + 1, 5000.5, 1e12, -3]


def rendered(collect) -> list[str]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collect)
    return [line for line in generate_latest(registry).decode().splitlines() if "_created" not in line]


@pytest.fixture
def ours():
    made = []
    yield made
    for family in made:
        metrics.FAMILIES.remove(family)


def test_a_histogram_counts_and_renders_like_prometheus_clients(ours):
    buckets = (0.0005, 1, 2 ** 20, 2 ** 34)
    histogram = metrics.Histogram("prt_test_seconds", "a test histogram", buckets=buckets)
    ours.append(histogram)
    library_registry = CollectorRegistry()
    library = LibraryHistogram("prt_test_seconds", "a test histogram", buckets=buckets, registry=library_registry)
    for value in OBSERVATIONS:
        histogram.observe(value)
        library.observe(value)
    expected = [line for line in generate_latest(library_registry).decode().splitlines() if "_created" not in line]
    assert rendered(CountsCollector([histogram.family()])) == expected


def test_a_labelled_counter_counts_and_renders_like_prometheus_clients(ours):
    counter = metrics.Counter("prt_test_total", "a test counter", ("code",))
    ours.append(counter)
    library_registry = CollectorRegistry()
    library = LibraryCounter("prt_test_total", "a test counter", ["code"], registry=library_registry)
    for code in ["0", "1", "0", "-9", "0"]:
        counter.inc(code)
        library.labels(code).inc()
    counter.inc("2", amount=2.5)
    library.labels("2").inc(2.5)
    expected = [line for line in generate_latest(library_registry).decode().splitlines() if "_created" not in line]
    assert sorted(rendered(CountsCollector([counter.family()]))) == sorted(expected)


def test_a_counter_refuses_the_wrong_number_of_labels_as_prometheus_client_does(ours):
    counter = metrics.Counter("prt_test_labels_total", "a test counter", ("code",))
    ours.append(counter)
    library = LibraryCounter("prt_test_labels_total", "a test counter", ["code"], registry=CollectorRegistry())
    for labels in ((), ("0", "extra")):
        with pytest.raises(ValueError):
            library.labels(*labels)
        with pytest.raises(ValueError):
            counter.inc(*labels)
    assert counter.values == {}

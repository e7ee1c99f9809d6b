"""Test order for the shared scenario tests: the failover test takes a control plane down, so it runs last."""
from __future__ import annotations


def pytest_configure(config):
    config.addinivalue_line("markers", "failover: stops a control plane for a while; runs after every other test")


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: item.get_closest_marker("failover") is not None)  # stable: others keep their order

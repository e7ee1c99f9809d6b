"""Test order for the shared scenario tests: those that take nodes down run last (failover, then reboot)."""
from __future__ import annotations

LAST = ("failover", "reboot")


def pytest_configure(config):
    config.addinivalue_line("markers", "failover: stops a control plane for a while; runs after every other test")
    config.addinivalue_line("markers", "reboot: restarts lab nodes; runs after every other test, failover included")


def pytest_collection_modifyitems(session, config, items):
    def rank(item) -> int:
        return next((i + 1 for i, name in enumerate(LAST) if item.get_closest_marker(name) is not None), 0)

    items.sort(key=rank)  # stable: the others keep their order

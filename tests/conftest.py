"""Registers the shared fixtures once (testing/fixtures.py); test modules import none."""

pytest_plugins = ["testing.fixtures"]

"""Repo-only test support (not in the wheel): doubles, builders and pytest fixtures.

Registered once in tests/conftest.py (`pytest_plugins`); test modules import builders and
doubles from here instead of repeating them.
"""

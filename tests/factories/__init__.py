"""Shared test data builders: small worlds and frames that several test modules use.

Tests import these instead of each other's helpers; tests/conftest.py turns the ones most modules
need into fixtures.
"""

"""Suites every implementation of a contract role passes."""

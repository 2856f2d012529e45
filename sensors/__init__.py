"""Dagster sensors of the code location."""

"""Shared pytest configuration for trunkline's test suite."""

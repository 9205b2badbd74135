"""Ports by family."""

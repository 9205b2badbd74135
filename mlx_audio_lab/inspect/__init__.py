"""Inspectors: a plain-function core (data or a figure) and an ipywidgets view for each."""

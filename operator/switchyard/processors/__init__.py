"""Switchyard processors."""

"""Switchyard schema."""

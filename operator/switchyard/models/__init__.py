"""Switchyard models."""

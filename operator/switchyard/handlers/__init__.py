"""Switchyard handlers."""

"""Switchyard sandbox."""

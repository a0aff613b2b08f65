"""Switchyard logic."""

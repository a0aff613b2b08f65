"""Switchyard cli."""

"""Artifacts: node inputs and outputs kept in an S3-compatible object store, passed by reference."""

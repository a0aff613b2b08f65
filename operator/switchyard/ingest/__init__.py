"""The CloudEvents ingest HTTP server (`server.py`) and the decoding of CloudEvents off the wire (`events.py`)."""

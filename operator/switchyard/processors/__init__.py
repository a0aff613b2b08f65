"""Built-in reference processors run inside workflow Jobs (json, chunking, numeric, data-validator).

Standard library only; run one with `python -m switchyard.processors <name>`.
"""

from switchyard.processors.runner import PROCESSORS, run

__all__ = ["PROCESSORS", "run"]

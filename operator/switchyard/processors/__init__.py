"""Built-in reference processors run inside workflow Jobs (json, chunking, numeric, data-validator).

They stream their files (see `contract` for the file layout); run one with
`python -m switchyard.processors <name>`. The standard library and ijson only.
"""

from switchyard.processors.registry import PROCESSORS, run

__all__ = ["PROCESSORS", "run"]

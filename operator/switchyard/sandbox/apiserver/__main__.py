"""``python -m switchyard.sandbox.apiserver``: the emulator in its own process (``cluster.main``)."""

from switchyard.sandbox.apiserver.cluster import main

raise SystemExit(main())

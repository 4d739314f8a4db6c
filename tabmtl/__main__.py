"""``python -m tabmtl``: the same command line as the ``tabmtl`` console script."""

from tabmtl.cli import main

raise SystemExit(main())

"""``python -m tabmtl``: the same command line as the ``tabmtl`` console script."""

from tabmtl._cli import main

raise SystemExit(main())

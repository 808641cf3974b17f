"""Run b12desk with ``python -m b12desk``."""

from b12desk.cli import main

raise SystemExit(main())

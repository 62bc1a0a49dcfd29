"""``python -m newsqa``: the same as the ``newsqa`` command."""

from newsqa.cli import main

raise SystemExit(main())

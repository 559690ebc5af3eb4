"""`python -m thermodiff` (and `torchrun ... -m thermodiff`) runs the command line."""

from .cli import main

raise SystemExit(main())

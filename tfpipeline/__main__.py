"""`python -m tfpipeline` runs the command line."""

from tfpipeline.cli import main

raise SystemExit(main())

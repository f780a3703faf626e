"""`python -m tfpipeline` runs the command line."""

from tfpipeline.cli import main

if __name__ == "__main__":  # importing this module runs nothing
    raise SystemExit(main())

"""`python -m kimrel_cli`: the same as the `kimrel` command."""

from __future__ import annotations

from kimrel_cli.cli.app import main

if __name__ == "__main__":
    main()

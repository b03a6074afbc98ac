"""The status line's launcher: `python -S …/kimrel_cli/statusline/__main__.py` (what setup
installs) or `python -m kimrel_cli.statusline`.

Run as a file, Python compiles it at every start (no .pyc for a script): so it stays this
small, puts the directory holding kimrel_cli first on sys.path (under -S nothing else would
find it) and imports the real module, whose compiled form is cached.
"""

import os
import sys

if __name__ == "__main__":
    if not __package__:
        sys.path[0] = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    from kimrel_cli.statusline.line import main

    sys.exit(main())

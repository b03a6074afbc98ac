"""`relay_bench.py --hide-sniffio`: the relay as it runs where sniffio is not installed.

httpcore (through httpx) tries `import sniffio` on every request; when it is absent, each try is
a full, failed search of sys.path. This finder does that same search, then fails, so the cost is
measured on a machine where sniffio happens to be installed.
"""

import sys
from importlib.machinery import PathFinder


class _HideSniffio:
    @classmethod
    def find_spec(cls, name, path=None, target=None):  # type: ignore[no-untyped-def]
        if name == "sniffio" or name.startswith("sniffio."):
            PathFinder.find_spec("sniffio_not_installed", path)  # the search a missing one costs
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _HideSniffio)

"""A help screen without the ~60 ms typer.rich_utils spends importing what kimrel never uses.

typer.rich_utils (imported to draw any help screen) imports rich.markdown and rich.traceback at
its top, and with them markdown-it and pygments: for markdown help (kimrel uses rich markup) and
pretty tracebacks (kimrel shows none). `light_help_renderer()` imports it with stand-ins for
those two classes; a stand-in loads the real class if it is ever used.
"""

from __future__ import annotations

import sys
from typing import Any


class _StandIn(type):
    """A class standing in for a rich class nobody may use: loads the real one when used."""

    _real: Any

    def __getattr__(cls, name: str) -> Any:
        return getattr(cls._real(), name)


def _stand_in(module_name: str, class_name: str) -> Any:
    import types

    def real() -> Any:
        import importlib

        return getattr(importlib.import_module(module_name), class_name)

    module = types.ModuleType(module_name)
    stand_in = _StandIn(
        class_name,
        (),
        {"__new__": lambda cls, *a, **k: real()(*a, **k), "_real": staticmethod(real)},
    )
    setattr(module, class_name, stand_in)
    return module


# typer.rich_utils (imported to draw any help screen) imports these at its top: markdown-it and
# pygments, ~60 ms, for markdown help (we use rich markup) and tracebacks (we show none).
_HELP_STAND_INS = {"rich.markdown": "Markdown", "rich.traceback": "Traceback"}


def light_help_renderer() -> None:
    """Import typer.rich_utils with stand-ins for the classes above, then take the stand-ins out
    of sys.modules again: anything importing those modules later gets the real ones, and the
    stand-ins load the real classes if ever used."""
    installed = [name for name in _HELP_STAND_INS if name not in sys.modules]
    for name in installed:
        sys.modules[name] = _stand_in(name, _HELP_STAND_INS[name])
    try:
        import typer.rich_utils  # noqa: F401
    except Exception:  # pragma: no cover - a Typer without rich_utils: nothing to lighten
        pass
    finally:
        for name in installed:
            if isinstance(getattr(sys.modules.get(name), _HELP_STAND_INS[name], None), _StandIn):
                del sys.modules[name]

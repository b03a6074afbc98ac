"""kimrel: use the kimrel.com Kimi K2 API from your own machine and tools.

Only the version lives here, so that importing the package stays cheap.
"""

__version__ = "0.1.0"

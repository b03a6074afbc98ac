"""An offline simulator of the hosted kimrel.com API."""

from kimrel_cli.apikey import SIMULATOR_DEMO_KEY

DEMO_KEY = SIMULATOR_DEMO_KEY  # accepted by every simulator started without its own keys
EMPTY_KEY = "sk-sim-empty"  # a key with no credits left

"""An offline simulator of the hosted kimrel.com API."""

DEMO_KEY = "sk-sim-demo"  # accepted by every simulator started without its own keys
EMPTY_KEY = "sk-sim-empty"  # a key with no credits left

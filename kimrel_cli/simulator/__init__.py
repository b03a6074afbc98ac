"""An offline simulator of the hosted kimrel.com API."""

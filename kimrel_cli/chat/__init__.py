"""The terminal chat REPL."""

"""Thin Typer commands, one module per command group; heavy imports stay inside functions."""

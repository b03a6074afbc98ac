"""Where the credits go: the usage ledger (one SQLite row per upstream request) and what reads it.

A service (ring 1): the relay and the chat REPL write rows through `ledger.LedgerWriter`;
`kimrel usage`, budgets and the status line read them. Standard library only, so the status
line can import it without Typer or Rich.
"""

"""`kimrel chat`: the REPL, or one answer for `-m` and pipes."""

from __future__ import annotations

from typing import Any

import typer


def chat(
    message: str | None = typer.Option(
        None, "--message", "-m", metavar="TEXT", help="Ask one question, print the answer, exit."
    ),
    model: str | None = typer.Option(
        None, "--model", metavar="MODEL", help="Model (default: settings' default_model)."
    ),
    system: str | None = typer.Option(None, "--system", metavar="TEXT", help="System prompt."),
    account: str | None = typer.Option(
        None,
        "--account",
        "-a",
        metavar="NAME",
        help="Account (default: KIMREL_API_KEY if set, else the default account).",
    ),
    simulate: bool = typer.Option(
        False, "--simulate", help="Talk to the built-in simulator (no account, no credits)."
    ),
    thinking: bool = typer.Option(
        True,
        "--thinking/--no-thinking",
        show_default=False,
        help="Thinking on kimi-k2.5/k2.6; on unless --no-thinking (kimi-k2-thinking always thinks).",
    ),
    as_json: bool = typer.Option(False, "--json", help="One-shot: print the whole response JSON."),
    simulate_fault: str | None = typer.Option(
        None, "--simulate-fault", hidden=True, help="Fault spec for --simulate (testing)."
    ),
) -> None:
    """Chat with a Kimi model: streamed Markdown answers, visible thinking, credits after each answer.

    Examples:
      kimrel chat
      kimrel chat --simulate
      kimrel chat -m "What is a monad?"
      git diff | kimrel chat -m "review this" > review.md
    In the chat, /help lists the commands; see docs/chat.md.
    """
    from kimrel_cli.chat.session import Session
    from kimrel_cli.config import load_settings
    from kimrel_cli.hosted.client import Client

    settings = load_settings()
    if simulate:
        from kimrel_cli.servers import bind_socket, start_in_thread
        from kimrel_cli.simulator import DEMO_KEY
        from kimrel_cli.simulator.app import SimulatorSettings, create_app

        server = start_in_thread(create_app(SimulatorSettings(fault=simulate_fault)), bind_socket())
        client = Client(DEMO_KEY, server.url + "/api", max_retries=1)
        ledger_account: str | None = "simulator"
    else:
        from kimrel_cli.accounts.registry import resolve_key

        resolved = resolve_key(account)
        client = Client(resolved.key, resolved.base_url)
        ledger_account = resolved.account
    session = Session(
        client=client,
        model=model or settings.default_model,
        system=system,
        thinking=thinking,
        ledger=_ledger(settings),
        account=ledger_account,
    )
    try:
        _converse(session, message, as_json)
    finally:
        if session.ledger is not None:  # the rows of this chat are written before it exits
            session.ledger.close()


def _ledger(settings: Any) -> Any:
    """The usage ledger's writer (docs/usage.md), or None when `usage.ledger` is off."""
    if not settings.usage_ledger:
        return None
    from kimrel_cli.cli.output import warn
    from kimrel_cli.usage.ledger import LedgerWriter

    return LedgerWriter(on_warning=warn)


def _converse(session: Any, message: str | None, as_json: bool) -> None:
    """The REPL, or one answer for `-m` and pipes."""
    import sys

    from kimrel_cli.cli.output import err, out, print_json, print_raw

    piped = not sys.stdin.isatty()
    if message is None and not piped:
        from kimrel_cli.chat.repl import Repl

        Repl(session, out()).run()
        return
    text = message or ""
    if piped:
        stdin_text = sys.stdin.read()
        text = f"{text}\n\n{stdin_text}" if text else stdin_text
    if not text.strip():
        from kimrel_cli.errors import KimrelError

        raise KimrelError("nothing to ask", hint='Pass a question with -m "…" or pipe text in.')
    session.add_user(text)
    if as_json:
        print_json(session.complete())
        return
    waiting_for = f"waiting for {session.model}…"
    if sys.stdout.isatty():
        from kimrel_cli.chat.render import StreamView, footer

        with StreamView(out(), waiting=waiting_for) as view:
            result = session.stream_turn(view.on_reasoning, view.on_text)
        err().print(footer(result, session.model))
    else:
        from kimrel_cli.cli.output import waiting

        spinner = waiting(waiting_for)  # on stderr, until the answer starts
        spinner.__enter__()

        def first_text(piece: str) -> None:
            spinner.__exit__(None, None, None)
            print_raw(piece)

        try:
            result = session.stream_turn(lambda piece: None, first_text)
        finally:
            spinner.__exit__(None, None, None)
        if result.text and not result.text.endswith("\n"):
            print_raw("\n")
    if result.interrupted:
        raise typer.Exit(130)


def register(app: typer.Typer) -> None:
    app.command()(chat)

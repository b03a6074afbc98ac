"""`kimrel budget set | show | clear`: spending caps in credits (usage/budgets.py; docs/budgets.md).

A running relay reads the budget file again when it changes; nothing needs a restart.
"""

from __future__ import annotations

from typing import Any

import typer

budget_app = typer.Typer(
    help="Spending caps in credits: per day, per month, per session, per project. "
    "See docs/budgets.md.",
    no_args_is_help=True,
)

_KIND_OPTIONS = ("daily", "monthly", "session", "project")


def _load() -> Any:
    from kimrel_cli.errors import ConfigError
    from kimrel_cli.usage import budgets

    try:
        return budgets.load()
    except budgets.BudgetFileError as exc:
        raise ConfigError(
            str(exc), hint="Fix the file, or remove it and set the caps again."
        ) from None


@budget_app.command("set")
def set_(
    daily: int | None = typer.Option(
        None, "--daily", min=0, metavar="N", help="Credits a UTC day."
    ),
    monthly: int | None = typer.Option(
        None, "--monthly", min=0, metavar="N", help="Credits a UTC month."
    ),
    session: int | None = typer.Option(
        None, "--session", min=0, metavar="N", help="Credits per Claude Code / Codex session."
    ),
    project: int | None = typer.Option(
        None, "--project", min=0, metavar="N", help="Credits a UTC month per project."
    ),
    account: str | None = typer.Option(
        None,
        "--account",
        "-a",
        metavar="NAME",
        help="Daily/monthly: count only this account (default: all accounts together).",
    ),
    project_name: str | None = typer.Option(
        None,
        "--project-name",
        metavar="NAME",
        help="Project cap: only this project (default: each project on its own).",
    ),
    warn: int | None = typer.Option(
        None,
        "--warn",
        min=0,
        max=100,
        metavar="PERCENT",
        help="Log a relay warning at this share of the cap (default 80).",
    ),
) -> None:
    """Set one cap (replacing the same kind for the same account or project).

    Examples:\n
      kimrel budget set --daily 200\n
      kimrel budget set --monthly 5000 --account work --warn 90\n
      kimrel budget set --session 50\n
      kimrel budget set --project 1000 --project-name kimrel
    A request that would cross a cap is refused before it is sent: Claude Code, Codex and
    `kimrel chat` show "spend limit reached (…)". Projects are named by `kimrel launch`
    (the directory it ran in).
    """
    from kimrel_cli.cli.output import success
    from kimrel_cli.errors import KimrelError
    from kimrel_cli.usage import budgets

    given = {
        k: v
        for k, v in zip(_KIND_OPTIONS, (daily, monthly, session, project), strict=True)
        if v is not None
    }
    if len(given) != 1:
        raise KimrelError(
            "give exactly one of --daily, --monthly, --session, --project",
            hint="Run `kimrel budget set` once per cap, e.g. `kimrel budget set --daily 200`.",
            code="usage-error",
        )
    ((kind, limit),) = given.items()
    if account is not None and kind not in ("daily", "monthly"):
        raise KimrelError("--account goes with --daily or --monthly", code="usage-error")
    if project_name is not None and kind != "project":
        raise KimrelError("--project-name goes with --project", code="usage-error")
    cap = budgets.new_cap(kind, limit, warn=warn, account=account, project=project_name)
    path = budgets.save(_load().with_cap(cap))
    success(f"{_describe(cap)} set ({path})")


@budget_app.command("show")
def show(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Every cap with what is spent and left in its window (from the usage ledger).

    Examples:\n
      kimrel budget show\n
      kimrel budget show --json | jq '.caps[] | {name, left}'
    Session caps and project caps without a name show the session / project nearest its cap.
    """
    import time

    from kimrel_cli.cli.output import out, print_json
    from kimrel_cli.usage import budgets, ledger

    data = _load()
    now = time.time()
    try:
        conn = ledger.open_readonly()
    except ledger.LedgerError:
        conn = None
    try:
        rows = [status.as_dict() for status in budgets.all_statuses(conn, data, now)]
    finally:
        if conn is not None:
            conn.close()
    if as_json:
        print_json({"path": str(budgets.budgets_path()), "caps": rows})
        return
    if not rows:
        out().print("No caps set. Set one with `kimrel budget set --daily 200`.")
        return
    from kimrel_cli.cli.output import Column, fitted_table
    from kimrel_cli.wording import number

    columns = [
        Column("cap", id=True),
        Column("for", keep=5),
        Column("spent", keep=4, justify="right"),
        Column("limit", keep=4, justify="right"),
        Column("left", keep=6, justify="right"),
        Column("warn", keep=2, justify="right"),
        Column("resets", keep=3),
    ]
    cells = [
        [
            row["name"],
            row["subject"],
            number(row["spent"]),
            number(row["cap"]),
            number(row["left"]),
            f"{row['warn']}%",
            _when(row["resets_at"]),
        ]
        for row in rows
    ]
    out().print(fitted_table(out(), columns, cells))


@budget_app.command("clear")
def clear(
    daily: bool = typer.Option(False, "--daily", help="Only daily caps."),
    monthly: bool = typer.Option(False, "--monthly", help="Only monthly caps."),
    session: bool = typer.Option(False, "--session", help="Only the session cap."),
    project: bool = typer.Option(False, "--project", help="Only project caps."),
    account: str | None = typer.Option(
        None, "--account", "-a", metavar="NAME", help="Only caps of this account."
    ),
    project_name: str | None = typer.Option(
        None, "--project-name", metavar="NAME", help="Only the cap of this project."
    ),
) -> None:
    """Remove caps: all of them, or those the options pick.

    Examples:\n
      kimrel budget clear\n
      kimrel budget clear --daily --account work\n
      kimrel budget clear --project --project-name kimrel
    """
    from kimrel_cli.cli.output import info, success
    from kimrel_cli.usage import budgets

    kinds = [
        k for k, on in zip(_KIND_OPTIONS, (daily, monthly, session, project), strict=True) if on
    ]
    current = _load()
    gone: list[Any] = []
    for kind in kinds or [None]:
        current, removed = current.without(kind, account=account, project=project_name)
        gone.extend(removed)
    if not gone:
        info("No cap matched; nothing changed.")
        return
    budgets.save(current)
    for cap in gone:
        success(f"{_describe(cap)} removed")


def _describe(cap: Any) -> str:
    from kimrel_cli.usage import budgets
    from kimrel_cli.wording import number

    if cap.kind in ("daily", "monthly"):
        who = f"account {cap.account}" if cap.account else "all accounts"
    elif cap.kind == "session":
        who = "each session"
    else:
        who = f"project {cap.project}" if cap.project else "each project"
    return (
        f"{budgets.cap_name(cap).split(' ')[0]} cap of {number(cap.limit)} credits for {who} "
        f"(warning at {cap.warn}%)"
    )


def _when(resets_at: float | None) -> str:
    if resets_at is None:
        return "never"
    import datetime

    moment = datetime.datetime.fromtimestamp(resets_at, tz=datetime.timezone.utc)
    return moment.strftime("%d %b %H:%M UTC").lstrip("0")


def register(app: typer.Typer) -> None:
    app.add_typer(budget_app, name="budget")

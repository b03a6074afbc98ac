"""`kimrel statusline`: the one line Claude Code's `statusLine` shows, from local files only.

Claude Code runs the command on every update with a JSON object on stdin (`session_id`,
`model.id`, `context_window.current_usage`, …; a captured 2.1.197 sample is
tests/fixtures/claude_code_statusline_stdin.json) and shows the first line printed. This prints:

    kimi-k2.5 · ctx 23K/256K 9% · 997 credits · session 3 · relay up

the model the relay routes the name to (settings' aliases, as the relay maps them), the context
used against the Kimi model's real window, the balance and pacing state from the relay's status
file (usage/relay_status.py), the credits this Claude Code session spent from the usage ledger
(its rows carry the `x-claude-code-session-id` header, which equals the stdin's `session_id`),
the budget left when budgets exist, and whether the relay is up. Never the network.

Claude Code debounces at 300 ms and cancels a slow command, so this module is its own entry
point (`kimrel-statusline`, or `python -S …/kimrel_cli/statusline/__main__.py`, the form setup
installs: no site-packages to scan, and a launcher small enough that compiling it costs
nothing). It imports only the standard library, `usage/relay_status.py` and
`usage/ledger_read.py` (both light), and `catalogue` only for a model name the relay's status
file cannot map. It never fails: whatever goes wrong, it prints one line and exits 0.

`--chain CMD` runs the user's own status line command with the same stdin first and prints its
output with ours appended on its last line (`kimrel setup claude-code --statusline` keeps a
status line it finds that way). `--state-dir DIR` names kimrel's state dir when
`KIMREL_STATE_DIR` is not set (setup passes it: under `python -S` there is no platformdirs).
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False  # typing, pathlib and collections.abc cost start-up time: names only
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

SEPARATOR = " · "
CHAIN_SEPARATOR = " │ "
CHAIN_TIMEOUT = 2.0  # seconds the user's own command may take
FALLBACK = "kimrel: status unavailable"

USAGE = """usage: kimrel-statusline [--state-dir DIR] [--chain COMMAND]

Claude Code's statusLine command: reads Claude Code's JSON on stdin and prints one line (the
model the relay routes to, context used, credits left, credits this session spent, budget,
relay up/down, pacing). Reads only local files. See docs/statusline.md.
"""


# ---- pure rendering ---------------------------------------------------------------------------


def tokens(n: int) -> str:
    """23,558 → "24K"; 999 → "999"; 1,250,000 → "1.2M"."""
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{round(n / 1000)}K"
    return f"{n / 1_000_000:.1f}M"


def context_used(data: Mapping[str, Any]) -> int | None:
    """Tokens in the context now (the last request's input, cached parts included)."""
    window = data.get("context_window")
    usage = window.get("current_usage") if isinstance(window, dict) else None
    if not isinstance(usage, dict):
        return None
    total = 0
    for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
        value = usage.get(key)
        if isinstance(value, int):
            total += value
    return total


def pacing_text(snapshot: Any, now: float, written_at: float | None = None) -> str | None:
    """ "waiting for rate limit, 2 queued, resets in 12 s" while requests are held, else None.

    Reads `ctx.pacer.snapshot()` as the relay wrote it: `text` (a phrase the pacer words
    itself) wins; otherwise `queued` (or `held`), `waiting`, and `resets_at` (epoch seconds)
    or `resets_in` (seconds when written).
    """
    if not isinstance(snapshot, dict):
        return None
    text = snapshot.get("text")
    if isinstance(text, str) and text:
        return text
    queued = snapshot.get("queued", snapshot.get("held"))
    queued = queued if isinstance(queued, int) else 0
    if not (snapshot.get("waiting") or queued > 0):
        return None
    left: float | None = None
    if isinstance(snapshot.get("resets_at"), (int, float)):
        left = snapshot["resets_at"] - now
    elif isinstance(snapshot.get("resets_in"), (int, float)):
        left = snapshot["resets_in"] - (now - written_at if written_at else 0.0)
    parts = ["waiting for rate limit", f"{queued} queued"]
    if left is not None:
        parts.append(f"resets in {max(0, round(left))} s")
    return ", ".join(parts)


def render(
    data: Mapping[str, Any],
    *,
    routed: str | None,
    window: int | None,
    credits: int | None,
    session_spent: int | None,
    ledger_ok: bool,
    relay_up: bool,
    budget: str | None = None,
    pacing: str | None = None,
) -> str:
    """The status line from what was read (pure: every figure comes in as an argument)."""
    parts: list[str] = []
    model = data.get("model")
    requested = model.get("id") if isinstance(model, dict) else None
    if routed:
        shown = routed
        if isinstance(requested, str) and requested and requested != routed:
            shown += f" (as {requested})"
        parts.append(shown)
    used = context_used(data)
    if window:
        if used is None:
            parts.append(f"ctx {tokens(window)}")
        else:
            parts.append(f"ctx {tokens(used)}/{tokens(window)} {round(100 * used / window)}%")
    if credits is not None:
        parts.append(f"{'' if relay_up else '~'}{credits:,} credits")
    if not ledger_ok:
        parts.append("session ?")
    elif session_spent is not None:
        parts.append(f"session {session_spent:,}")
    if budget:
        parts.append(budget)
    parts.append("relay up" if relay_up else "relay down")
    if pacing and relay_up:
        parts.append(pacing)
    return SEPARATOR.join(parts)


# ---- what it reads ----------------------------------------------------------------------------


def _state_dir(given: str | None) -> str:
    override = os.environ.get("KIMREL_STATE_DIR")
    if override:
        return os.path.expanduser(override)
    if given:
        return os.path.expanduser(given)
    from kimrel_cli import paths

    return str(paths.state_dir())


def _routing_from_config() -> dict[str, Any]:
    """Model settings from config.toml when no relay has written them (tomllib: 3.11+)."""
    try:
        import tomllib  # type: ignore[import-not-found,unused-ignore]

        from kimrel_cli import paths

        with open(paths.config_file(), "rb") as handle:
            doc = tomllib.load(handle)
    except Exception:
        return {}
    return {
        "main_model": doc.get("default_model"),
        "small_model": doc.get("small_model"),
        "aliases": doc.get("aliases"),
        "limits": doc.get("limits"),
    }


def route(requested: str | None, routing: Mapping[str, Any]) -> tuple[str | None, int | None]:
    """(the Kimi model the relay sends `requested` to, its context window), as the relay maps it:
    catalogue.resolve_alias with the relay's settings (`routing`, from its status file).

    The relay also writes `windows` (each catalogue model's window, settings' limits applied);
    with it, an aliased name or a Kimi id (what Claude Code sends after `kimrel setup`) is
    answered without importing the catalogue: resolve_alias's first two rules, verbatim.
    """
    aliases = routing.get("aliases")
    aliases = aliases if isinstance(aliases, dict) else {}
    windows = routing.get("windows")
    main = routing.get("main_model")
    if isinstance(windows, dict) and isinstance(main, str) and main:
        name = requested or main
        routed = aliases.get(name, name)
        if routed in windows and (name in aliases or name in windows):
            window = windows[routed]
            return routed, window if isinstance(window, int) else None
    from kimrel_cli.catalogue import DEFAULT_MODEL, DEFAULT_SMALL_MODEL, get_model, resolve_alias

    def text(key: str, default: str) -> str:
        value = routing.get(key)
        return value if isinstance(value, str) and value else default

    limits = routing.get("limits")
    main = text("main_model", DEFAULT_MODEL)
    routed = resolve_alias(
        requested or main,
        main_model=main,
        small_model=text("small_model", DEFAULT_SMALL_MODEL),
        aliases=aliases,
    )
    info = get_model(routed, limits if isinstance(limits, dict) else None)
    return routed, info.context_window if info else None


def _session_spent(state_dir: str, session_id: str | None) -> tuple[int | None, bool]:
    """(credits this session spent, whether the ledger could be read).

    Through usage/ledger_read.py: ledger.py's `open_readonly` and `spent(session_id=…)` without
    ledger.py's imports (dataclasses, pathlib, threading), which cost more than the rest here.
    """
    if not session_id:
        return None, True
    from kimrel_cli.usage import ledger_read

    try:
        conn = ledger_read.open_readonly(os.path.join(state_dir, ledger_read.FILE_NAME))
        if conn is None:
            return 0, True  # no ledger yet: nothing spent
        try:
            return ledger_read.session_spent(conn, session_id), True
        finally:
            conn.close()
    except (ledger_read.LedgerUnreadable, ledger_read.Error, OSError):
        return None, False


def budget_text(snapshot: Any, session_id: str | None, project: str | None) -> str | None:
    """ "daily budget 120/200 left": the applicable cap with the fewest credits left, from the
    relay's `ctx.budgets.snapshot()` (`{"caps": [{name, kind, subject, cap, left, …}]}`).

    A cap applies to this Claude Code session when it is the relay account's daily or monthly
    cap, this session's cap (subject `session <id>`), or this project's (subject `project
    <dir name>`, what `kimrel launch` sends as the project).
    """
    rows = snapshot.get("caps") if isinstance(snapshot, dict) else None
    if not isinstance(rows, list):
        return None
    wanted = {f"session {session_id}" if session_id else None, f"project {project}"}
    best: tuple[int, int, str] | None = None
    for row in rows:
        if not isinstance(row, dict):
            continue
        left, cap, name = row.get("left"), row.get("cap"), row.get("name") or row.get("kind")
        if not (isinstance(left, int) and isinstance(cap, int) and isinstance(name, str)):
            continue
        if row.get("kind") in ("daily", "monthly") or row.get("subject") in wanted:
            best = min(best, (left, cap, name)) if best else (left, cap, name)
    return _budget_phrase(*best) if best else None


def _budget_phrase(left: int, cap: int, name: str) -> str:
    return f"{name} budget {left:,}/{cap:,} left"


def _budget_from_files(
    account: Any, session_id: str | None, project: str | None, now: float
) -> str | None:
    """With no relay running: usage/budgets.py's `left_for` (budgets.json and the ledger), when
    that module exists; slower (it imports more), so only when the relay cannot say."""
    try:
        from kimrel_cli.usage import budgets  # type: ignore[attr-defined,unused-ignore]

        scope = budgets.Scope(
            account=account if isinstance(account, str) else None,
            session_id=session_id,
            project=project,
        )
        found = budgets.left_for(scope, now)
    except Exception:  # no such module, no platformdirs under -S, an unreadable file
        return None
    if not (isinstance(found, tuple) and len(found) == 3):
        return None
    name, left, cap = found
    return _budget_phrase(int(left), int(cap), str(name))


def status_line(raw: bytes, state_dir: str, now: float | None = None) -> str:
    """Read what there is (stdin JSON, the relay's status file, the ledger) and render it."""
    from kimrel_cli.usage import relay_status

    now = time.time() if now is None else now
    from kimrel_cli.usage.lightjson import loads  # json.loads without importing json (and re)

    try:
        data = loads(raw or b"{}")
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    status = relay_status.read_status(os.path.join(state_dir, relay_status.FILE_NAME)) or {}
    up = relay_status.relay_up(status, now)
    routing = status.get("routing")
    if not isinstance(routing, dict):
        routing = _routing_from_config()
    model = data.get("model")
    requested = model.get("id") if isinstance(model, dict) else None
    routed, window = route(requested if isinstance(requested, str) else None, routing)
    if window is None:
        size = data.get("context_window")
        size = size.get("context_window_size") if isinstance(size, dict) else None
        window = size if isinstance(size, int) and size > 0 else None
    session_id = data.get("session_id") if isinstance(data.get("session_id"), str) else None
    spent, ledger_ok = _session_spent(state_dir, session_id)
    workspace = data.get("workspace")
    project_dir = workspace.get("project_dir") if isinstance(workspace, dict) else None
    project = os.path.basename(project_dir.rstrip("/")) if isinstance(project_dir, str) else None
    if up:
        budget = budget_text(status.get("budgets"), session_id, project or None)
    else:
        budget = _budget_from_files(status.get("account"), session_id, project or None, now)
    credits = status.get("credits_remaining")
    written = status.get("updated_at")
    return render(
        data,
        routed=routed,
        window=window,
        credits=credits if isinstance(credits, int) else None,
        session_spent=spent,
        ledger_ok=ledger_ok,
        relay_up=up,
        budget=budget,
        pacing=pacing_text(
            status.get("pacing"), now, written if isinstance(written, (int, float)) else None
        ),
    )


# ---- the command ------------------------------------------------------------------------------


def _parse(argv: list[str]) -> dict[str, str] | None:
    """{"state_dir": …, "chain": …} from argv; None for --help. Unknown words are ignored."""
    found: dict[str, str] = {}
    words = iter(argv)
    for word in words:
        if word in ("-h", "--help"):
            return None
        for flag in ("--state-dir", "--chain"):
            if word == flag:
                found[flag[2:].replace("-", "_")] = next(words, "")
            elif word.startswith(flag + "="):
                found[flag[2:].replace("-", "_")] = word.split("=", 1)[1]
    return found


def _start_chain(command: str, raw: bytes) -> Any:
    """Start the user's own status line command on the same stdin (it runs while ours reads)."""
    import subprocess

    try:
        proc = subprocess.Popen(
            command,
            shell=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: a timeout kills its children too
        )
    except OSError:
        return None
    stdin, proc.stdin = proc.stdin, None  # written here; communicate() only reads
    try:
        if stdin is not None:
            stdin.write(raw)
    except OSError:  # it exited without reading stdin: fine
        pass
    finally:
        if stdin is not None:
            try:
                stdin.close()
            except OSError:
                pass
    return proc


def _finish_chain(proc: Any, timeout: float = CHAIN_TIMEOUT) -> str:
    """The user's command's output (trailing newlines cut); "" when it failed or took too long."""
    import signal
    import subprocess

    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            proc.kill()
        proc.communicate()
        return ""
    except (OSError, ValueError):
        return ""
    return bytes(out or b"").decode("utf-8", "replace").rstrip("\r\n")


def main(argv: list[str] | None = None) -> int:
    """The entry point: one line on stdout, exit 0, whatever happens."""
    options = _parse(list(sys.argv[1:] if argv is None else argv))
    if options is None:
        sys.stdout.write(USAGE)
        return 0
    try:
        raw = b"" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.buffer.read()
    except (OSError, ValueError, AttributeError):
        raw = b""
    chained = _start_chain(options["chain"], raw) if options.get("chain") else None
    try:
        line = status_line(raw, _state_dir(options.get("state_dir")))
    except Exception:
        line = FALLBACK
    if chained is not None:
        try:
            theirs = _finish_chain(chained)
        except Exception:
            theirs = ""
        if theirs.strip():
            line = theirs + CHAIN_SEPARATOR + line
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    return 0

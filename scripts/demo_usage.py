"""Fill a usage ledger with a plausible week of work: Claude Code, Codex and `kimrel chat` rows.

    python scripts/demo_usage.py --state-dir /tmp/kimrel-demo          # then:
    KIMREL_STATE_DIR=/tmp/kimrel-demo kimrel usage --since 24h --by client

Deterministic for a given --seed and --end date, so the pictures in docs/usage.md can be made
again: docs/images/usage-report.png comes from `--html` on this data (see docs/usage.md).
Each working day (weekends stay empty) has Claude Code sessions with sub-agents, title and
compaction requests on the small model, a few Codex sessions, some chat questions, a rate limit
or two (429, no charge) and a stream cut short (499, no charge); the balance falls by exactly
what was charged.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import uuid
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kimrel_cli.catalogue import MODELS
from kimrel_cli.usage.ledger import UsageRow, insert_rows, open_ledger

CLAUDE_UA = "claude-cli/2.1.197 (external, cli)"
CODEX_UA = "codex_cli_rs/0.169.0 (Debian 13; x86_64) xterm-256color"
CHAT_UA = "kimrel/0.1 chat"
PROJECTS = ("kimrel", "webshop", "infra-notes")


def price(model: str) -> int:
    info = MODELS.get(model)
    return info.credits if info else 1


class Day:
    """Rows of one working day, in time order, with a running balance."""

    def __init__(self, rng: random.Random, start: datetime, account: str) -> None:
        self.rng = rng
        self.t = start
        self.account = account
        self.rows: list[UsageRow] = []

    def request(
        self,
        *,
        protocol: str,
        client: str,
        ua: str,
        model: str,
        session: str | None,
        project: str | None,
        agent: str | None = None,
        parent: str | None = None,
        small: bool = False,
        requested: str | None = None,
    ) -> None:
        rng = self.rng
        self.t += timedelta(seconds=rng.uniform(2, 40) if not small else rng.uniform(0.2, 3))
        roll = rng.random()
        status, error, charged = 200, None, price(model)
        if roll < 0.015:
            status, error, charged = 429, "rate_limit_exceeded", 0
        elif roll < 0.022:
            status, error, charged = 499, "client_closed", 0
        elif roll < 0.026:
            status, error, charged = 400, "context_length_exceeded", 0
        tokens_in = int(rng.lognormvariate(9.3 if not small else 7.0, 0.7))
        tokens_out = int(rng.lognormvariate(6.2 if not small else 3.5, 0.8))
        thinking = "thinking" in model or model == "kimi-k2.6"
        reasoning = int(rng.lognormvariate(5.5, 0.9)) if thinking and status == 200 else 0
        ttfb = rng.lognormvariate(6.6, 0.4) if not small else rng.lognormvariate(5.8, 0.3)
        latency = ttfb + (tokens_out + reasoning) * rng.uniform(8, 16)
        if status != 200:
            tokens_out, reasoning = (tokens_out // 3, 0) if status == 499 else (0, 0)
            latency = ttfb if status != 499 else latency / 2
        self.rows.append(
            UsageRow(
                ts=self.t.timestamp(),
                protocol=protocol,
                client=client,
                status=status,
                stream=True,
                credits_charged=charged,
                account=self.account,
                user_agent=ua,
                model_requested=requested or model,
                model=model,
                error_code=error,
                tokens_in=tokens_in if status in (200, 499) else None,
                tokens_out=tokens_out if status in (200, 499) else None,
                tokens_reasoning=reasoning or None,
                ttfb_ms=round(ttfb, 1),
                latency_ms=round(latency, 1),
                credits_after=None,  # set with the running balance afterwards
                session_id=session,
                agent_id=agent,
                parent_agent_id=parent,
                project=project,
            )
        )
        self.t += timedelta(milliseconds=latency)


def claude_session(day: Day, project: str) -> None:
    rng = day.rng
    session = str(uuid.UUID(int=rng.getrandbits(128)))
    main = "kimi-k2.6" if rng.random() < 0.5 else "kimi-k2.5"
    kw = {"protocol": "anthropic", "client": "claude-code", "ua": CLAUDE_UA, "session": session}
    day.request(
        model="kimi-k2", small=True, project=project, requested="claude-haiku-4-5", **kw
    )  # the title
    for _ in range(rng.randint(8, 40)):
        day.request(model=main, project=project, requested="claude-sonnet-4-5", **kw)
        if rng.random() < 0.12:  # a sub-agent (Explore, Task…) on the small model
            agent = f"agent-{rng.getrandbits(32):08x}"
            for _ in range(rng.randint(3, 12)):
                day.request(
                    model="kimi-k2",
                    small=True,
                    agent=agent,
                    parent=session,
                    project=project,
                    requested="claude-haiku-4-5",
                    **kw,
                )
    if rng.random() < 0.3:  # compaction
        day.request(model=main, project=project, requested="claude-sonnet-4-5", **kw)
    day.t += timedelta(minutes=rng.uniform(3, 25))


def codex_session(day: Day, project: str) -> None:
    rng = day.rng
    session = str(uuid.UUID(int=rng.getrandbits(128)))
    for _ in range(rng.randint(5, 25)):
        day.request(
            protocol="responses",
            client="codex",
            ua=CODEX_UA,
            model="kimi-k2-thinking",
            session=session,
            project=project,
        )
    day.t += timedelta(minutes=rng.uniform(5, 30))


def chat_questions(day: Day) -> None:
    """A few questions in `kimrel chat`, on the personal account."""
    work, day.account = day.account, "personal"
    for _ in range(day.rng.randint(2, 6)):
        day.request(
            protocol="repl",
            client="kimrel-chat",
            ua=CHAT_UA,
            model="kimi-k2.5",
            session=None,
            project=None,
        )
    day.account = work
    day.t += timedelta(minutes=day.rng.uniform(5, 20))


def working_day(rng: random.Random, when: date, account: str) -> list[UsageRow]:
    day = Day(rng, datetime.combine(when, time(9, rng.randint(0, 40))), account)
    lunch = datetime.combine(when, time(12, 30))
    end = datetime.combine(when, time(18, 0))
    while day.t < end:
        if lunch <= day.t < lunch + timedelta(hours=1):
            day.t = lunch + timedelta(hours=1, minutes=rng.randint(0, 20))
        pick = rng.random()
        if pick < 0.6:
            claude_session(day, rng.choice(PROJECTS[:2]) if rng.random() < 0.8 else PROJECTS[2])
        elif pick < 0.85:
            codex_session(day, rng.choice(PROJECTS))
        else:
            chat_questions(day)
    return [r for r in day.rows if r.ts < end.timestamp() + 3600]


def demo_rows(*, end: date, days: int, seed: int, balance: int) -> list[UsageRow]:
    """`days` calendar days up to `end` (working days only), the balance falling from `balance`."""
    rng = random.Random(seed)
    rows: list[UsageRow] = []
    for offset in range(days - 1, -1, -1):
        when = end - timedelta(days=offset)
        if when.weekday() < 5:
            rows += working_day(rng, when, "work")
    rows.sort(key=lambda r: r.ts)
    balances = {"work": balance, "personal": balance // 6}
    out = []
    for row in rows:
        account = row.account or "work"
        balances[account] -= row.credits_charged
        # the balance the API reports on this request's answer
        out.append(replace(row, credits_after=balances[account]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--state-dir", type=Path, help="Where to write usage.sqlite3 (default: KIMREL_STATE_DIR)."
    )
    parser.add_argument("--end", default=None, help="Last day (YYYY-MM-DD; default today).")
    parser.add_argument("--days", type=int, default=7, help="Calendar days to fill (default 7).")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--balance", type=int, default=20_000, help="Balance before the first.")
    args = parser.parse_args(argv)
    if args.state_dir is not None:
        os.environ["KIMREL_STATE_DIR"] = str(args.state_dir)
    elif not os.environ.get("KIMREL_STATE_DIR"):
        parser.error("give --state-dir (or set KIMREL_STATE_DIR): this never writes your real one")
    end = date.fromisoformat(args.end) if args.end else date.today()
    rows = demo_rows(end=end, days=args.days, seed=args.seed, balance=args.balance)
    conn = open_ledger()
    try:
        insert_rows(conn, rows)
    finally:
        conn.close()
    sys.stdout.write(f"wrote {len(rows)} rows to {Path(os.environ['KIMREL_STATE_DIR'])}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`kimrel chat --simulate` driven as a person would, through a pseudo-terminal (pexpect)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pexpect


def _as_a_terminal_would() -> None:
    # A shell that starts pytest in the background (`cmd &` in a script) leaves SIGINT ignored,
    # and an ignored signal stays ignored across exec: Ctrl-C would then never reach the chat.
    # A terminal session starts its programs with the default disposition; so does this.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(*args):
    env = {**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm-256color"}
    child = pexpect.spawn(
        sys.executable,
        ["-m", "kimrel_cli", "chat", "--simulate", *args],
        env=env,
        encoding="utf-8",
        timeout=15,
        dimensions=(40, 100),
        preexec_fn=_as_a_terminal_would,
    )
    child.expect("›")
    return child


def type_line(child, text):
    """Wait for the prompt to settle, then type a line (a person does not type mid-redraw)."""
    time.sleep(0.3)
    child.sendline(text)


def leave(child):
    child.expect("›")
    time.sleep(0.3)
    child.sendcontrol("d")
    child.expect(pexpect.EOF)


def test_a_streamed_answer_slash_commands_save_and_footer(sandbox):
    child = spawn("--model", "kimi-k2")
    type_line(child, "hello there")
    child.expect("Simulated reply to: hello there")
    child.expect("999 credits left")
    child.expect("›")
    type_line(child, "/model kimi-k2.6")
    child.expect("model: kimi-k2.6")
    child.expect("›")
    type_line(child, "second question")
    child.expect("Considering: second question")
    child.expect("996 credits left")
    child.expect("›")
    type_line(child, "/save talk.md")
    child.expect("saved 4 messages")
    child.expect("›")
    type_line(child, "/nonsense")
    child.expect("unknown command")
    leave(child)
    transcript = (sandbox / "cwd" / "talk.md").read_text()
    assert (
        "## user\n\nhello there" in transcript
        and "Simulated reply to: second question" in transcript
    )


def test_ctrl_c_stops_a_slow_answer_and_the_session_goes_on():
    child = spawn("--model", "kimi-k2", "--simulate-fault", "chunk_delay=0.4")
    type_line(child, "a slow one please")
    child.expect("Simulated")
    child.sendintr()
    # the API bills completed answers; the footer shows what the balance says it cost
    child.expect("0 credits · 1,000 credits left · interrupted \\(not charged\\)")
    child.expect("›")
    type_line(child, "/usage")
    child.expect("1 answer · .* · 0 credits spent")
    assert child.isalive()
    # the simulator, like the API, never charges the stopped stream, even after it would have ended
    time.sleep(2.5)
    type_line(child, "/credits")
    child.expect("1,000 credits left")
    leave(child)


def test_a_failing_save_is_one_error_line_and_the_session_goes_on(sandbox):
    child = spawn("--model", "kimi-k2")
    type_line(child, "hello there")
    child.expect("credits left")
    child.expect("›")
    type_line(child, "/save no-such-dir/talk.md")
    child.expect("cannot save to no-such-dir/talk.md: No such file or directory")
    child.expect("›")
    type_line(child, "/save .")
    child.expect("cannot save to .: Is a directory")
    child.expect("›")
    type_line(child, "still here?")
    child.expect("Simulated reply to: still here\\?")
    child.expect("›")
    type_line(child, "/save talk.md")
    child.expect("saved 4 messages to talk.md")
    leave(child)
    assert (sandbox / "cwd" / "talk.md").exists()


def test_system_shows_sets_and_clears_the_system_prompt():
    child = spawn("--model", "kimi-k2", "--system", "be brief")
    type_line(child, "/system")
    child.expect("system prompt: be brief")
    child.expect("›")
    type_line(child, "/system answer in French")
    child.expect("system prompt set: answer in French")
    child.expect("›")
    type_line(child, "/system")
    child.expect("system prompt: answer in French")
    child.expect("›")
    type_line(child, "/system --clear")
    child.expect("system prompt cleared")
    child.expect("›")
    type_line(child, "/system")
    child.expect("no system prompt")
    leave(child)


def test_errors_mid_conversation_are_one_friendly_line():
    child = spawn("--model", "kimi-k2", "--simulate-fault", "status=429,times=3,retry_after=0")
    type_line(child, "hi")
    child.expect("rate limited")
    child.expect("sends it again")
    child.expect("›")
    type_line(child, "/retry")
    child.expect("Simulated reply to: hi")
    leave(child)


def test_one_shot_in_a_pipe_prints_only_the_answer():
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "kimrel_cli",
            "chat",
            "--simulate",
            "--model",
            "kimi-k2",
            "-m",
            "review this",
        ],
        input="diff --git a b",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0 and out.stdout.startswith(
        "Simulated reply to: review this\n\ndiff --git a b"
    )


def test_image_command_sends_a_local_png_to_an_image_model(sandbox):
    (sandbox / "cwd" / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    (sandbox / "cwd" / "notes.txt").write_text("not an image")
    child = spawn("--model", "kimi-k2")
    type_line(child, "/image pic.png what is it")
    child.expect("does not take images")
    child.expect("›")
    type_line(child, "/model kimi-k2.6")
    child.expect("›")
    type_line(child, "/image notes.txt what")
    child.expect("unsupported image type")
    child.expect("›")
    type_line(child, "/image pic.png what is it")
    child.expect("Simulated reply to: what is it")
    child.expect("credits left")
    leave(child)

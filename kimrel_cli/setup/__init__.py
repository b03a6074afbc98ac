"""Tool setup: Claude Code settings.json and Codex config.toml, safe and reversible."""

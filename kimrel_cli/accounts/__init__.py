"""Accounts and API keys: the OS keyring, an opt-in 0600 file, and the environment."""

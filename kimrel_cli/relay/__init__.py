"""The local relay: a loopback server that injects the key and translates protocols."""

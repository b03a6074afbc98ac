"""Wire protocols and pure translators between them: no I/O, no clock, no global state."""

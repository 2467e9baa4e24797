"""The message catalogues: messages.pot, <lang>.po and the compiled <lang>.mo (data only)."""

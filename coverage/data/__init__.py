"""Data shipped with walkshed: the police-kind rules (police_kinds.toml); data only."""

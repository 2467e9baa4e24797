"""walkshed: who lives within walking distance of a police precinct, and where new ones should go.

The import package is ``coverage``; the distribution and the command are ``walkshed``.
"""

from ._errors import InputError, WalkshedError
from .network import WalkNetwork, load_network
from .reach import coverage_matrix, nearest_precinct
from .settings import minutes_to_metres
from .snap import Snapped, snap_points

__all__ = [
    "InputError",
    "Snapped",
    "WalkNetwork",
    "WalkshedError",
    "coverage_matrix",
    "load_network",
    "minutes_to_metres",
    "nearest_precinct",
    "snap_points",
]
__version__ = "0.1.0"

"""Starting the server: load the study once, check the address, run uvicorn."""

from __future__ import annotations

import ipaddress
import secrets
import sys
from pathlib import Path
from typing import Any

from .._errors import input_error

__all__ = ["check_address", "serve"]

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def check_address(host: str, port: int, token: str | None) -> None:
    """Refuse a port out of range, and a non-local host without a token.

    Raises
    ------
    walkshed.InputError
    """
    if not 0 < port < 65536:
        raise input_error("--port", f"must be between 1 and 65535, got {port}",
                          "Give e.g. --port 8000")
    if token is not None and len(token) < 12:
        raise input_error("--token", "is shorter than 12 characters",
                          f"Use a long random one, e.g. --token {secrets.token_urlsafe(18)}")
    local = host in LOCAL_HOSTS
    if not local:
        try:
            local = ipaddress.ip_address(host).is_loopback
        except ValueError:
            local = False
    if not local and token is None:
        raise input_error("--host", f"'{host}' lets other machines reach the server, which "
                          "then needs a token", "Add --token with a long random string "
                          f"(e.g. --token {secrets.token_urlsafe(18)}), or keep the default "
                          "--host 127.0.0.1")


def serve(scenario: Path, *, host: str = "127.0.0.1", port: int = 8000,
          token: str | None = None, cache: bool | None = None,
          echo: Any = None) -> None:
    """Load ``scenario`` and serve the what-if page until interrupted.

    Parameters
    ----------
    scenario
        The scenario file (TOML).
    host, port
        Where to listen; any host but the loopback needs ``token``.
    token
        Secret every request must carry (the printed address includes it).
    cache
        Use the network cache; default :data:`walkshed.settings.use_cache`.
    echo
        Where to print the address and warnings (default: stderr).
    """
    import uvicorn

    from ._deps import load_study
    from .app import create_app
    from .state import Base

    say = echo or (lambda text: print(text, file=sys.stderr))
    check_address(host, port, token)
    if host not in LOCAL_HOSTS:
        say(f"walkshed: WARNING: listening on {host}, reachable from other machines; every "
            "request must carry the token")
    study, scen = load_study(Path(scenario), cache=cache)
    base = Base(study, scen)
    app = create_app(base, token=token)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    say(f"walkshed: {study.name}: {len(study.precincts)} precincts, {len(study.demand):,} "
        f"demand points. Open {url} (Ctrl+C stops the server)")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)

"""Whether the model hub can be reached; when it cannot, the hub libraries work offline at once.

Without this, a run on a machine that cannot reach huggingface.co spends
about half a minute in the hub client's retries (with a warning per try)
before saying a model is missing. One short connection attempt decides
instead: unreachable means offline mode (``HF_HUB_OFFLINE=1``), in which a
model that is neither on disk nor in the cache fails at once with our
one-line message. Nothing is probed when offline mode is already set, nor
when no stage of the run takes a model from the hub (:func:`work_offline`:
built-in models, files on disk): such a run sends nothing to the hub and
says nothing about it.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import urllib.parse

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE = ("1", "true", "yes", "on")


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT


def hub_reachable(endpoint: str | None = None, *, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the hub (or the HTTPS proxy in between) opens within ``timeout`` seconds."""
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    url = urllib.parse.urlsplit(proxy or endpoint or hub_endpoint())
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def offline_unless_hub_reachable(*, timeout: float = 3.0) -> bool:
    """Switch the hub libraries to offline mode if the hub cannot be reached; returns whether offline."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
        return True
    endpoint = hub_endpoint()
    if hub_reachable(endpoint, timeout=timeout):
        return False
    work_offline()
    log.warning("%s cannot be reached: working offline, with the models on disk and in the cache", endpoint)
    return True


def work_offline() -> None:
    """Put the hub libraries in offline mode, in this process and the workers it starts (``HF_HUB_OFFLINE=1``)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    # Libraries imported already read the setting when they were imported.
    for module in ("huggingface_hub.constants", "diffusers.utils.constants"):
        if module in sys.modules and hasattr(sys.modules[module], "HF_HUB_OFFLINE"):
            sys.modules[module].HF_HUB_OFFLINE = True

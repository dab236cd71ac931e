"""Network blocking for the tests that prove a backend loads its model without downloading.

``block_network(monkeypatch)`` refuses every connection in this process; ``SUBPROCESS_PRELUDE`` is
the same as Python source, to prepend to a script run in a fresh interpreter (where the import
of the backend itself happens with the network already refused). Both record the attempts.
"""

import socket
import textwrap
import urllib.request


def block_network(monkeypatch) -> list[str]:
    """Refuse every socket connection and URL open in this process; returns the attempt log."""
    attempts: list[str] = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args[:2]))
        raise OSError("network disabled by test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    return attempts


#: source that blocks the network in a fresh interpreter; defines ``attempts`` (list of str)
SUBPROCESS_PRELUDE = textwrap.dedent("""
    import json, socket, sys, urllib.request
    attempts = []
    def refuse(*a, **k):
        attempts.append(repr(a[:2]))
        raise OSError("network disabled")
    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse
    urllib.request.urlopen = refuse
""")

"""The MongoDB-wire harness (tests/support/mongo_wire.py) answers the MongoDB wire protocol on loopback."""

from __future__ import annotations

import socket
import struct
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.node


def _cstring(text: str) -> bytes:
    return text.encode() + b"\x00"


def _bson(fields: dict[str, object]) -> bytes:
    """A tiny BSON encoder: int32 and string values are all a ``hello`` needs."""
    body = b""
    for key, value in fields.items():
        if isinstance(value, int):
            body += b"\x10" + _cstring(key) + struct.pack("<i", value)
        else:
            encoded = str(value).encode() + b"\x00"
            body += b"\x02" + _cstring(key) + struct.pack("<i", len(encoded)) + encoded
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


def _op_msg(document: bytes) -> bytes:
    payload = struct.pack("<I", 0) + b"\x00" + document
    return struct.pack("<iiii", 16 + len(payload), 1, 0, 2013) + payload


def test_hello_over_the_wire(mongo_wire_uri: str) -> None:
    url = urlsplit(mongo_wire_uri)
    assert url.scheme == "mongodb" and url.hostname == "127.0.0.1"
    assert url.path.startswith("/t_") and "directConnection=true" in url.query
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(_op_msg(_bson({"hello": 1, "$db": "admin"})))
        header = sock.recv(16, socket.MSG_WAITALL)
        length, _, response_to, opcode = struct.unpack("<iiii", header)
        body = sock.recv(length - 16, socket.MSG_WAITALL)
    assert response_to == 1 and opcode == 2013
    assert b"maxWireVersion" in body and b"isWritablePrimary" in body


def test_each_test_gets_its_own_database(mongo_wire_uri: str, mongo_wire_server: object) -> None:
    from support.mongo_wire import MongoWireServer

    assert isinstance(mongo_wire_server, MongoWireServer)
    assert mongo_wire_server.database_uri() != mongo_wire_server.database_uri()
    assert mongo_wire_uri.startswith(mongo_wire_server.uri.rstrip("/"))

"""Plugboard: Phoenix Channels WebSocket RPC — the protocol codec, a consumer client and a hub server."""

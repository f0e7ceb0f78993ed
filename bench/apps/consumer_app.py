"""The Plugboard benchmark's consumer: ``plugwork run bench.apps.consumer_app:app`` with the hub's URL and
service token in ``PLUGWORK_PLUGBOARD_URL`` / ``PLUGWORK_PLUGBOARD_TOKEN`` (the greet action of the HTTP
benchmark; no job queue)."""

from plugwork import App

from .plugwork_app import greet

app = App("bench-consumer", actions=[greet])

"""Reusable test harnesses (real servers run on loopback for the tests): see each module's docstring."""

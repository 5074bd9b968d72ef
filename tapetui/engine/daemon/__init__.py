"""The headless daemon: one scheduler per home, and the socket consoles and the CLI attach to.

`lock` decides who schedules, `protocol` is the wire format, `control` the
operations (local), `server` and `client` the two ends of the socket, `run` the
daemon's life cycle.
"""

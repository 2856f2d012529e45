"""Command-line commands that talk to the Integrations API (subscriptions, submit, status, …).

Each module holds one area; ``_common`` holds what all of them share: client construction from
settings and flags, output (tables or JSON) and the error boundary that turns every expected
failure into one line on stderr and a non-zero exit code.
"""

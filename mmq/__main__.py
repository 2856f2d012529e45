"""``python -m mmq`` = the ``mmq`` console script."""

from mmq.cli import app

app()

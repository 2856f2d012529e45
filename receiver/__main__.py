"""``python -m receiver`` = ``mmq receiver``."""

import typer

from receiver.cli import main

typer.run(main)

"""``python -m mmq.demo.simulator_process``: the simulator, its API key read from the environment.

``mmq simulator --api-key KEY`` would put the key on the command line, where ``ps`` shows it to
every local user; the demo hands it over in ``MMQ_API_KEY`` instead.
"""

from __future__ import annotations

import os
import sys

from simulator import cli


def main(argv: list[str]) -> None:
    port, time_scale, seed = int(argv[0]), float(argv[1]), int(argv[2])
    cli.main(
        port=port,
        api_key=[os.environ["MMQ_API_KEY"]],
        time_scale=time_scale,
        seed=seed,
        allow_insecure_endpoints=True,  # the receiver listens on plain http on loopback
    )


if __name__ == "__main__":
    main(sys.argv[1:])

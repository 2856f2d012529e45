"""The baseline: a webhook receiver written the way the public docs suggest.

FastAPI, ``standardwebhooks`` ``verify()`` (which parses the JSON), and one autocommit DuckDB
``INSERT`` per request. It is correct (2xx after the row is committed, duplicates ignored) but
pays one commit per event.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

import duckdb
import uvicorn
from fastapi import FastAPI, HTTPException, Request
from standardwebhooks import Webhook, WebhookVerificationError


def create_app(db_path: str, secret: str) -> FastAPI:
    app = FastAPI()
    webhook = Webhook(secret)
    con = duckdb.connect(db_path)
    con.execute(
        "CREATE TABLE IF NOT EXISTS raw_events ("
        "event_id VARCHAR PRIMARY KEY, event_type VARCHAR, received_at TIMESTAMPTZ, body JSON)"
    )

    @app.post("/webhooks/integrations")
    async def receive(request: Request):
        payload = await request.body()
        try:
            event = webhook.verify(payload, dict(request.headers))
        except WebhookVerificationError as exc:
            raise HTTPException(status_code=401, detail="invalid signature") from exc
        con.execute(
            "INSERT INTO raw_events VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [event["id"], event["type"], datetime.now(UTC), json.dumps(event)],
        )
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--secret-file", required=True)
    args = parser.parse_args()
    with open(args.secret_file) as handle:
        secret = handle.read().strip()
    uvicorn.run(
        create_app(args.db, secret),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


if __name__ == "__main__":
    main()

# jetscale-py-consumer: a JetStream pull consumer written the way nats.py users write one, with the
# library's default settings, for the real-client matrix (operator/test/real-clients.int.test.ts).
# It binds to a durable pull consumer with js.pull_subscribe_bind() and loops over fetch() with no
# arguments: batch 1, timeout 5 s (nats-py's defaults), so one message per request and nothing
# buffered. Each message is handled one at a time: sleep HANDLER_MS (the work), then ack. SIGTERM
# stops fetching, finishes the message in hand, drains the connection and exits 0.
#
# Configuration (environment): NATS_URL, STREAM, CONSUMER (required); HANDLER_MS (default 10).
# nats-py is pinned in hack/versions.env (NATS_PY_VERSION) and installed by `hack/tools.sh nats-py`
# into the tools directory; run with PYTHONPATH set to it.
import asyncio
import os
import re
import signal
import sys
from datetime import datetime, timezone
from importlib.metadata import version

import nats

NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def load_config(env):
    """Validates every variable and returns (config, problems), reporting all problems at once."""
    problems = []
    url = env.get("NATS_URL", "")
    if not url:
        problems.append("NATS_URL is required (e.g. nats://127.0.0.1:4222)")
    for key in ("STREAM", "CONSUMER"):
        if not NAME.match(env.get(key, "")):
            problems.append(f'{key} "{env.get(key, "")}" must be 1-64 letters, digits, "_" or "-"')
    raw = env.get("HANDLER_MS", "")
    handler_ms = 10
    if raw != "":
        if not raw.isdigit() or int(raw) > 60_000:
            problems.append(f'HANDLER_MS "{raw}" must be a whole number from 0 to 60000')
        else:
            handler_ms = int(raw)
    config = {
        "url": url,
        "stream": env.get("STREAM", ""),
        "consumer": env.get("CONSUMER", ""),
        "handler_seconds": handler_ms / 1000,
    }
    return config, problems


def log(message):
    print(f"{datetime.now(timezone.utc).isoformat()} {message}", flush=True)


async def run(config):
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    nc = await nats.connect(config["url"], name=f"jetscale-py-consumer {os.environ.get('POD_NAME', '')}".strip())
    js = nc.jetstream()
    sub = await js.pull_subscribe_bind(durable=config["consumer"], stream=config["stream"])
    log(f"consuming {config['stream']}/{config['consumer']} with nats-py {version('nats-py')} fetch() (batch 1)")
    handled = 0

    async def report():
        while True:
            await asyncio.sleep(5)
            log(f"handled {handled}")

    reporter = asyncio.create_task(report())
    while not stopping.is_set():
        try:
            msgs = await sub.fetch()
        except asyncio.TimeoutError:  # nothing within fetch()'s 5 s (nats.errors.TimeoutError too)
            continue
        for msg in msgs:
            await asyncio.sleep(config["handler_seconds"])
            await msg.ack()
            handled += 1
    reporter.cancel()
    log(f"stopping after {handled} messages")
    await nc.drain()


def main():
    config, problems = load_config(os.environ)
    if problems:
        print("invalid configuration:\n  " + "\n  ".join(problems), file=sys.stderr)
        sys.exit(2)
    asyncio.run(run(config))


if __name__ == "__main__":
    main()

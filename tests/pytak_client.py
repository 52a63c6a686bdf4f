#!/usr/bin/env python3
"""pytak as an outside CoT client, driven by tests/cot.rs.

Connects with pytak to the CoT URL given (tcp://HOST:PORT), reads the picture until the event
whose uid is given arrives, then sends one incident report built with pytak and exits. Prints
`RECEIVED <uid>` when the picture arrived. Needs `pip install pytak`.
"""

import asyncio
import configparser
import sys
import xml.etree.ElementTree as ET

import pytak


async def read_until(reader, expect_uid):
    """Reads CoT events until one has the expected uid."""
    buf = b""
    while True:
        chunk = await reader.read(65536)
        if not chunk:
            raise SystemExit("the server closed the connection before the picture arrived")
        buf += chunk
        while b"</event>" in buf:
            raw, buf = buf.split(b"</event>", 1)
            start = raw.find(b"<event")
            if start < 0:
                continue
            event = ET.fromstring(raw[start:] + b"</event>")
            print("EVENT", event.get("type"), event.get("uid"), flush=True)
            if event.get("uid") == expect_uid:
                return event


async def main(url, expect_uid):
    config = configparser.ConfigParser()
    config["cmcop"] = {"COT_URL": url}
    reader, writer = await pytak.protocol_factory(config["cmcop"])
    await asyncio.wait_for(read_until(reader, expect_uid), 20)
    print("RECEIVED", expect_uid, flush=True)

    detail = pytak.cot_detail()
    pytak.add_remarks(detail, ["road blocked,", "reported by pytak"])
    event = pytak.cot_event(
        lat=36.34,
        lon=43.13,
        uid="pytak-report-1",
        stale=3600,
        cot_type="a-u-G",
        how="h-g-i-g-o",
        detail=detail,
        callsign="pytak",
    )
    writer.write(pytak.serialize_cot(event, trailing_newline=True))
    await writer.drain()
    # Give the server a moment to read it before the connection closes.
    await asyncio.sleep(0.5)
    writer.close()
    await writer.wait_closed()
    print("SENT pytak-report-1", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))

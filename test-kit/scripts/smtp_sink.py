#!/usr/bin/env python3
"""A real SMTP server for the notification tests (aiosmtpd).

Writes each message it accepts to DIR as NNNNNN.eml (as received) and
NNNNNN.json (the envelope's recipients, the decoded subject, the
List-Unsubscribe headers, the plain-text and HTML parts, and each
picture's type, Content-ID, disposition and SHA-256) before it
answers 250; then
waits --delay seconds before answering, so a test can kill a sender while a
message is in flight. Recipients named with --reject, or listed (one a
line) in the file DIR/reject.txt at the time, get `550 5.1.1` at RCPT (a
hard bounce), and are appended to DIR/rejected.txt. Prints `ready` once it listens.
"""
import argparse
import asyncio
import email
import email.policy
import hashlib
import json
import itertools
import os
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory, delay, reject):
        self.directory = directory
        self.delay = delay
        self.reject = set(a.lower() for a in reject)
        self.counter = itertools.count(1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        listed = set()
        path = os.path.join(self.directory, "reject.txt")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                listed = set(line.strip().lower() for line in f if line.strip())
        if address.lower() in self.reject or address.lower() in listed:
            with open(os.path.join(self.directory, "rejected.txt"), "a", encoding="utf-8") as f:
                f.write(address + "\n")
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        n = next(self.counter)
        head = "".join(f"X-Envelope-To: {r}\r\n" for r in envelope.rcpt_tos)
        body = envelope.original_content or envelope.content
        if isinstance(body, str):
            body = body.encode()
        message = email.message_from_bytes(body, policy=email.policy.default)
        parts = {}
        images = []
        for part in message.walk():
            if part.get_content_type() in ("text/plain", "text/html"):
                parts[part.get_content_type()] = part.get_content()
            elif part.get_content_maintype() == "image":
                data = part.get_payload(decode=True) or b""
                images.append({
                    "content_type": part.get_content_type(),
                    "content_id": str(part.get("Content-ID", "")).strip("<>"),
                    "disposition": part.get_content_disposition() or "",
                    "sha256": hashlib.sha256(data).hexdigest(),
                })
        summary = {
            "to": list(envelope.rcpt_tos),
            "from": envelope.mail_from,
            "subject": str(message.get("Subject", "")),
            "message_id": str(message.get("Message-ID", "")),
            "list_unsubscribe": str(message.get("List-Unsubscribe", "")),
            "list_unsubscribe_post": str(message.get("List-Unsubscribe-Post", "")),
            "text": parts.get("text/plain", ""),
            "html": parts.get("text/html", ""),
            "images": images,
        }
        with open(os.path.join(self.directory, f".{n:06}.eml"), "wb") as f:
            f.write(head.encode() + body)
        os.rename(
            os.path.join(self.directory, f".{n:06}.eml"),
            os.path.join(self.directory, f"{n:06}.eml"),
        )
        tmp = os.path.join(self.directory, f".{n:06}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(summary, f, ensure_ascii=False)
        os.rename(tmp, os.path.join(self.directory, f"{n:06}.json"))
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 Message accepted"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--reject", action="append", default=[])
    a = p.parse_args()
    controller = Controller(
        Sink(a.dir, a.delay, a.reject), hostname="127.0.0.1", port=a.port
    )
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()

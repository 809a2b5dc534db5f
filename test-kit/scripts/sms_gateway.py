#!/usr/bin/env python3
"""A recording HTTP SMS gateway for the notification tests.

Appends every request it receives to LOG as one JSON line (method, path,
query, form or body) and answers like SMS.ru's `POST /sms/send` (`json=1`):
status_code 100 for a number, 202 ("invalid number") for numbers named with
--invalid or listed (one a line) in invalid.txt beside LOG at the time. Any other path answers 200 (400 for an invalid `to`), as a
templated gateway. Prints `ready` once it listens.
"""
import argparse
import json
import os
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def handler(log_path, invalid, lock):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.handle_any(b"")

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            self.handle_any(self.rfile.read(length))

        def handle_any(self, raw):
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            ctype = self.headers.get("Content-Type") or ""
            if "x-www-form-urlencoded" in ctype:
                form = dict(urllib.parse.parse_qsl(raw.decode()))
            elif "json" in ctype and raw:
                form = json.loads(raw)
            else:
                form = {}
            entry = {"method": self.command, "path": url.path, "query": query, "form": form}
            with lock:
                with open(log_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(entry, ensure_ascii=False) + "\n")
            to = str(form.get("to") or query.get("to") or "").lstrip("+")
            listed = set()
            listed_path = os.path.join(os.path.dirname(log_path), "invalid.txt")
            if os.path.exists(listed_path):
                with open(listed_path, encoding="utf-8") as f:
                    listed = set(line.strip().lstrip("+") for line in f if line.strip())
            invalid_now = invalid | listed
            if url.path == "/sms/send":
                code = 202 if to in invalid_now else 100
                reply = {
                    "status": "OK",
                    "status_code": 100,
                    "sms": {to: {"status": "OK" if code == 100 else "ERROR", "status_code": code,
                                 "status_text": "" if code == 100 else "Неправильно указан номер"}},
                }
                self.answer(200, reply)
            else:
                self.answer(400 if to in invalid_now else 200, {"ok": to not in invalid_now})

        def answer(self, status, body):
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--invalid", action="append", default=[])
    a = p.parse_args()
    invalid = set(n.lstrip("+") for n in a.invalid)
    server = ThreadingHTTPServer(("127.0.0.1", a.port), handler(a.log, invalid, threading.Lock()))
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

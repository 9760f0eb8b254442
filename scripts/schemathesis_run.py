#!/usr/bin/env python3
"""API conformance fuzzing with Schemathesis against our own /openapi.json (run by
scripts/schemathesis.sh, which makes the venv).

Starts `madoguchi serve` (the given binary, a temporary SQLite database, the trained model of
models/current, rate limits off), prepares what the operations need — a conversation with its
customer token that has been handed to a person (a ticket) and a bot message, the agent and API
keys, a console session for the studio's endpoints (no CSRF token: its writes are refused, so the
fuzzer never trains or publishes) — and runs `schemathesis run` with every check that applies to a
single server: no 5xx, statuses, content types, headers and bodies as documented. Exits with
Schemathesis' status. Python standard library only.

Usage: schemathesis_run.py --bin target/debug/madoguchi --max-examples 25 [--seed N] [--max-time S]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

AGENT_KEY = "schemathesis-agent-key"
API_KEY = "schemathesis-api-key"
ADMIN_PASSWORD = "schemathesis-admin-password"
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)


def start_server(binary, workdir):
    env = dict(os.environ)
    env.update(
        {
            "MADOGUCHI_AGENT_KEY": AGENT_KEY,
            "MADOGUCHI_API_KEY": API_KEY,
            "MADOGUCHI_ADMIN_PASSWORD": ADMIN_PASSWORD,
            # The fuzzer sends far more than a customer would: no rate limits here.
            "MADOGUCHI_CONVERSATIONS_PER_IP_PER_MINUTE": "0",
            "MADOGUCHI_MESSAGES_PER_CONVERSATION_PER_MINUTE": "0",
            "MADOGUCHI_CLASSIFY_PER_KEY_PER_MINUTE": "0",
            "MADOGUCHI_LOGIN_ATTEMPTS_PER_ACCOUNT_PER_MINUTE": "0",
            "MADOGUCHI_LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE": "0",
            "HF_HUB_OFFLINE": "1",
            "RUST_LOG": env.get("RUST_LOG", "warn"),
        }
    )
    db = os.path.join(workdir, "schemathesis.db")
    proc = subprocess.Popen(
        [binary, "serve", "--bind", "127.0.0.1:0", "--database", f"sqlite://{db}"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    seen = []
    for line in proc.stderr:
        seen.append(line.rstrip())
        m = re.match(r"madoguchi: listening on (\S+)", line)
        if m:
            # Keep draining stderr so the server never blocks on a full pipe; show errors.
            threading.Thread(target=drain, args=(proc.stderr,), daemon=True).start()
            return proc, m.group(1)
    proc.wait()
    sys.exit("serve exited before listening:\n" + "\n".join(seen))


def drain(stream):
    for line in stream:
        if " ERROR " in line or "panicked" in line:
            sys.stderr.write("server: " + line)


def call(base, method, path, body=None, headers=None, form=None):
    data = None
    headers = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(base + path, data=data, headers=headers, method=method)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=120) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def wait_ready(base):
    deadline = time.time() + 300
    while time.time() < deadline:
        status, _, _ = call(base, "GET", "/readyz")
        if status == 200:
            return
        time.sleep(0.5)
    sys.exit("the server never became ready (is models/current trained? `make train`)")


def prepare(base):
    """Ids and credentials the operations need."""
    status, _, body = call(base, "POST", "/v1/conversations", {"locale": "en"})
    assert status == 201, (status, body)
    created = json.loads(body)
    conv, token = created["id"], created["token"]
    auth = {"Authorization": f"Bearer {token}"}
    status, _, body = call(base, "POST", f"/v1/conversations/{conv}/messages", {"text": "hello"}, auth)
    assert status == 200, (status, body)
    status, _, body = call(
        base, "POST", f"/v1/conversations/{conv}/messages", {"text": "I want to talk to a human"}, auth
    )
    assert status == 200, (status, body)
    ticket = (json.loads(body).get("handoff") or {}).get("ticket_id", "")
    status, _, body = call(base, "GET", f"/v1/conversations/{conv}", None, auth)
    messages = json.loads(body)["messages"]
    bot = next((m["id"] for m in messages if m.get("role") == "bot"), "")
    origin = base.rstrip("/")
    status, headers, body = call(
        base,
        "POST",
        "/agent/login",
        form={"username": "admin", "password": ADMIN_PASSWORD},
        headers={"Origin": origin},
    )
    cookie = "; ".join(c.split(";")[0] for c in headers.get_all("Set-Cookie") or [])
    if not cookie:
        print(f"warning: console login gave no cookie ({status}); studio operations run unauthenticated")
    return {"conversation": conv, "token": token, "ticket": ticket, "message": bot, "cookie": cookie}


def config_text(ids):
    """schemathesis.toml: credentials per tag, real ids for path parameters."""
    q = json.dumps
    return f"""
[parameters]
"path.id" = {q(ids["conversation"])}
"path.message_id" = {q(ids["message"])}
"path.ticket_id" = {q(ids["ticket"])}

[[operations]]
include-tag = "customer"
headers = {{ Authorization = {q("Bearer " + ids["token"])} }}

[[operations]]
include-tag = "agent"
headers = {{ Authorization = {q("Bearer " + AGENT_KEY)}, X-Agent-Id = "admin" }}

[[operations]]
include-tag = "developer"
headers = {{ Authorization = {q("Bearer " + API_KEY)} }}

[[operations]]
include-tag = "studio"
headers = {{ Cookie = {q(ids["cookie"])} }}
"""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", default="target/debug/madoguchi")
    p.add_argument("--max-examples", type=int, default=25)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-time", type=int, default=0)
    p.add_argument("--schemathesis", default=".cache/schemathesis-venv/bin/schemathesis")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="madoguchi-schemathesis-") as work:
        proc, base = start_server(args.bin, work)
        try:
            wait_ready(base)
            ids = prepare(base)
            config = os.path.join(work, "schemathesis.toml")
            with open(config, "w") as f:
                f.write(config_text(ids))
            cmd = [
                args.schemathesis,
                "--config-file",
                config,
                "run",
                f"{base}/openapi.json",
                "--checks",
                CHECKS,
                "--max-examples",
                str(args.max_examples),
                "--seed",
                str(args.seed),
                # One worker: with two, Hypothesis's lambda-source AST parsing raced in CPython
                # 3.11 ("AST constructor recursion depth mismatch"), a tool error, not ours.
                "--workers",
                "1",
                "--phases",
                "examples,coverage,fuzzing",
                "--suppress-health-check",
                "all",
                "--request-timeout",
                "60",
                "--no-color",
            ]
            if args.max_time:
                cmd += ["--max-time", str(args.max_time)]
            print("running:", " ".join(cmd), flush=True)
            started = time.time()
            rc = subprocess.call(cmd)
            print(f"schemathesis: exit {rc} after {time.time() - started:.0f} s", flush=True)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    sys.exit(rc)


if __name__ == "__main__":
    main()

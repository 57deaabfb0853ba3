"""`make run`: a demo workspace on SQLite under ./var/, seeded once, then `harmonia serve`.

A second run reuses the database, the workspace, the demo token and the owner's web password (kept in
./var/demo-token and ./var/demo-password, readable only by you; the database holds only their hashes), and the
session-signing key (./var/secret-key), so a browser stays signed in across restarts.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from ..config import get_settings
from ..db import Database
from ..errors import NotFound
from ..migrate import upgrade
from ..services.people import set_password
from ..services.tenancy import authenticate, create_tenant, create_token, get_tenant

DEMO_SLUG = "demo"
OWNER = "owner@demo.harmonia.test"
VAR = Path("var")


def _token(db: Database) -> str:
    path = VAR / "demo-token"
    if path.exists():
        secret = path.read_text().strip()
        try:
            authenticate(db, secret, channel="cli")
            return secret
        except Exception:  # revoked or from an older database: make a new one
            pass
    issued = create_token(db, DEMO_SLUG, OWNER, ["mcp:read", "mcp:write", "mcp:comms", "mcp:admin"], "make run demo")
    path.write_text(issued.secret + "\n")
    path.chmod(0o600)
    return issued.secret


def _private(name: str, make: Callable[[], str]) -> str:
    """A secret kept in ./var, created once, readable only by you."""
    path = VAR / name
    if path.exists():
        return path.read_text().strip()
    value = make()
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


def _password(db: Database, fresh: bool) -> str:
    had = (VAR / "demo-password").exists()
    password = _private("demo-password", lambda: "demo-" + secrets.token_urlsafe(9))
    if fresh or not had:
        set_password(db, DEMO_SLUG, OWNER, password)
    return password


def main() -> None:
    settings = get_settings()
    host, port = settings.host, settings.port
    VAR.mkdir(exist_ok=True)
    upgrade()
    db = Database(settings.database_url)
    try:
        get_tenant(db, DEMO_SLUG)
        fresh = False
    except NotFound:
        tenant, _ = create_tenant(db, "Demo", owner_email=OWNER, owner_name="Dana Owner")
        assert tenant.slug == DEMO_SLUG
        fresh = True
    if fresh:
        from ..seed import seed_demo

        print("seeding the demo workspace (500 contacts)…", flush=True)
        summary = seed_demo(db, DEMO_SLUG, scale=int(os.environ.get("HARMONIA_DEMO_SCALE", "500")))
        print(f"seeded: {json.dumps(summary)}", flush=True)
    token = _token(db)
    password = _password(db, fresh)
    db.dispose()
    os.environ.setdefault("HARMONIA_SECRET_KEY", _private("secret-key", lambda: secrets.token_urlsafe(32)))
    base = f"http://{host}:{port}"
    harmonia = shutil.which("harmonia") or str(Path(sys.executable).with_name("harmonia"))
    claude = {
        "mcpServers": {
            "harmonia": {
                "command": harmonia,
                "args": ["mcp"],
                "env": {"HARMONIA_TOKEN": token, "HARMONIA_DATABASE_URL": _absolute(settings.database_url)},
            }
        }
    }
    cursor = {"mcpServers": {"harmonia": {"url": f"{base}/mcp", "headers": {"Authorization": f"Bearer {token}"}}}}
    print(
        f"""
Harmonia is starting on {base} (workspace '{DEMO_SLUG}', owner {OWNER})
  web UI     {base}/signin?workspace={DEMO_SLUG}
             email {OWNER}   password {password}
  MCP        {base}/mcp            Streamable HTTP, bearer token below
  MCP (read) {base}/mcp/readonly   only the read tools, whatever the token holds
  REST API   {base}/api/v1         same token; OpenAPI at {base}/api/openapi.json
  health     {base}/healthz

Access token (all four scopes): {token}

Claude Desktop (claude_desktop_config.json, stdio):
{json.dumps(claude, indent=2)}

Cursor (.cursor/mcp.json, Streamable HTTP):
{json.dumps(cursor, indent=2)}
""",
        flush=True,
    )
    os.execv(harmonia, [harmonia, "serve", "--host", host, "--port", str(port)])


def _absolute(url: str) -> str:
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        return "sqlite:///" + str(Path(url.split("///", 1)[1]).resolve())
    return url


if __name__ == "__main__":
    main()

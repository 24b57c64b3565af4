"""The panel side of the PHP tests: runs the real hook file through tests/php/harness.php,
a CLI stand-in for WHMCS (add_hook, localAPI, logActivity)."""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HARNESS = REPO / "tests" / "php" / "harness.php"
HOOK_FILE = REPO / "whmcs" / "includes" / "hooks" / "whatsapp_bridge.php"
SAMPLES = REPO / "testdata" / "samples"
HOOK_SAMPLES = SAMPLES / "whmcs_hooks"
API_SAMPLES = SAMPLES / "whmcs_api"
# Hooks whose callbacks answer WHMCS (['abortcmd' => true], ['abortsend' => true]); every
# other callback must return nothing.
ANSWERING_HOOKS = frozenset({"PreModuleSuspend", "EmailPreSend"})


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class Panel:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        self.spool = tmp / "spool"
        self.log = tmp / "activity.log"
        self.url = closed_port_url()
        # localAPI answers of this panel only, looked up before the shared samples
        self.api_dir = tmp / "whmcs_api"

    def answer(self, command: str, result: dict) -> None:
        """Make localAPI(command) answer `result` (whatever the arguments) in later runs."""
        self.api_dir.mkdir(exist_ok=True)
        (self.api_dir / f"{command}.json").write_text(json.dumps(result, ensure_ascii=False))

    def run(self, hook: str, params=None, **env) -> dict:
        """Run one hook; params is a sample name, a dict or None. Returns the harness report."""
        args = ["php", str(HARNESS), hook]
        if isinstance(params, dict):
            path = self.tmp / f"params_{secrets.token_hex(4)}.json"
            path.write_text(json.dumps(params))
            args.append(str(path))
        elif params is not None:
            args.append(str(HOOK_SAMPLES / f"{params}.json"))
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("WHATSAPP_BRIDGE_", "WHMCS_HARNESS_"))}
        full_env.update(
            {
                "WHATSAPP_BRIDGE_URL": self.url,
                "WHATSAPP_BRIDGE_SECRET": self.secret,
                "WHATSAPP_BRIDGE_SPOOL_DIR": str(self.spool),
                "WHATSAPP_BRIDGE_RETRY_BACKOFF_S": "0",
                # never pick up a real config file lying beside the hook file
                "WHATSAPP_BRIDGE_CONFIG": str(self.tmp / "no-config.php"),
                "WHMCS_HARNESS_ACTIVITY_LOG": str(self.log),
                "WHMCS_HARNESS_SAMPLES_DIR": str(SAMPLES),
            }
        )
        if self.api_dir.is_dir():
            full_env["WHMCS_HARNESS_API_DIR"] = str(self.api_dir)
        full_env.update({k: v for k, v in env.items() if v is not None})
        for k, v in env.items():
            if v is None:
                full_env.pop(k, None)
        start = time.monotonic()
        proc = subprocess.run(args, capture_output=True, text=True, env=full_env, timeout=30)
        wall = time.monotonic() - start
        assert proc.returncode == 0, proc.stderr + proc.stdout
        report = json.loads(proc.stdout)
        report["wall_s"] = wall
        # The panel must never see output, warnings or exceptions; return values only from the
        # hooks that answer WHMCS, and then nothing or an object (PHP's key => value array).
        assert report["output"] == "", report["output"]
        assert report["php_errors"] == [], report["php_errors"]
        assert report["exceptions"] == [], report["exceptions"]
        if hook in ANSWERING_HOOKS:
            assert all(v is None or isinstance(v, dict) for v in report["return_values"]), report["return_values"]
        else:
            assert all(v is None for v in report["return_values"]), report["return_values"]
        return report

    def spooled(self) -> list[Path]:
        return sorted(self.spool.glob("*.json"))

    def spooled_ids(self) -> list[str]:
        return [json.loads(p.read_text())["id"] for p in self.spooled()]

    def rejected(self) -> list[Path]:
        """Events the hook file will not send again by itself (kept in the spool's rejected/)."""
        return sorted((self.spool / "rejected").glob("*.json"))

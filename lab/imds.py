"""The lab's stand-in for the EC2 instance metadata service (IMDSv2 only).

Runs in the lab's ``alab-imds`` container, which holds 169.254.169.254 and to
which the analytics server routes that address (lab/labctl.py), so the
firewall's rules for the real address are the ones tested. It answers what a
process on an instance would ask for first: a session token (PUT
/latest/api/token), then the instance profile's role and its credentials, the
thing an attacker wants. Requests without a valid token get 401, as IMDSv2 with
``HttpTokens=required`` does. Standard library only: it runs on the lab image's
python3.
"""

from __future__ import annotations

import http.server
import json
import secrets
import sys

ROLE = "analytics-server-lab"
# Fake credentials: what a stolen set looks like, valid nowhere.
CREDENTIALS = {
    "Code": "Success",
    "Type": "AWS-HMAC",
    "AccessKeyId": "ASIALABSTANDIN000000",
    "SecretAccessKey": "lab-stand-in-secret",
    "Token": "lab-stand-in-session-token",
    "Expiration": "2099-01-01T00:00:00Z",
}
PATHS = {
    "/latest/meta-data/instance-id": "i-lab-analytics-server",
    "/latest/meta-data/iam/security-credentials/": ROLE,
    f"/latest/meta-data/iam/security-credentials/{ROLE}": json.dumps(CREDENTIALS),
}
TOKENS: set[str] = set()


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self) -> None:
        if self.path != "/latest/api/token" or not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            self.answer(400, "PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds")
            return
        token = secrets.token_urlsafe(32)
        TOKENS.add(token)
        self.answer(200, token)

    def do_GET(self) -> None:
        if self.headers.get("X-aws-ec2-metadata-token") not in TOKENS:
            self.answer(401, "IMDSv2: a session token is required")
        elif self.path in PATHS:
            self.answer(200, PATHS[self.path])
        else:
            self.answer(404, "not found")


def main(port: int = 80) -> None:
    http.server.ThreadingHTTPServer(("", port), Handler).serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 80)

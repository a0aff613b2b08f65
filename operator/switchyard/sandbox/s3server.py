"""A real S3-compatible server on loopback for the sandbox and the tests: moto's server mode, as a child process.

moto lives in a venv of its own (`make s3server` installs it into `.tools/s3server`): it brings boto3 and
botocore, whose pins conflict with the kubernetes client's in the project's venv. The server is set up as a
store a cluster would offer: a bucket, and an IAM user whose access key is the only one accepted (moto checks
SigV4 signatures and IAM policies once its auth is switched on), so wrong credentials are `AccessDenied`.

Clients talk to it through a small TCP relay on a port of its own, which is the fault hook: `down()` closes
the relay's listener and cuts every open connection (clients get connection refused, as from a store that went
away), `up()` opens it again on the same port, with every object still there (moto keeps them in memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import IO, Any

from switchyard.sandbox.process import free_port

REPO = pathlib.Path(__file__).resolve().parents[3]
ENV_PYTHON = "SWITCHYARD_S3SERVER_PYTHON"
DEFAULT_BUCKET = "switchyard"
REGION = "us-east-1"

# Run with the moto venv's interpreter against the server, before auth is switched on: an IAM user allowed
# every S3 action, its access key, and the bucket. Prints the key as JSON.
SETUP = r"""
import json, sys
import boto3
endpoint, bucket, region = sys.argv[1:4]
kw = dict(endpoint_url=endpoint, region_name=region, aws_access_key_id="setup", aws_secret_access_key="setup")
iam = boto3.client("iam", **kw)
iam.create_user(UserName="switchyard")
policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
iam.put_user_policy(UserName="switchyard", PolicyName="s3", PolicyDocument=json.dumps(policy))
key = iam.create_access_key(UserName="switchyard")["AccessKey"]
if bucket:
    boto3.client("s3", **kw).create_bucket(Bucket=bucket)
print(json.dumps({"accessKeyId": key["AccessKeyId"], "secretAccessKey": key["SecretAccessKey"]}))
"""


class S3ServerMissing(RuntimeError):
    """moto's server is not installed where we look for it."""


def find_python() -> str:
    """The interpreter that has moto's server: `$SWITCHYARD_S3SERVER_PYTHON`, `.tools/s3server`, or our own."""
    explicit = os.environ.get(ENV_PYTHON)
    if explicit:
        return explicit
    tools = REPO / ".tools" / "s3server" / "bin" / "python"
    if tools.exists():
        return str(tools)
    probe = subprocess.run([sys.executable, "-c", "import moto.server"], capture_output=True, check=False)
    if probe.returncode == 0:
        return sys.executable
    raise S3ServerMissing(
        f"moto's S3 server is not installed: run `make s3server` (installs it into {tools.parent.parent}) "
        f"or set {ENV_PYTHON} to a Python that has moto[server]"
    )


class Relay:
    """A TCP relay 127.0.0.1:`port` -> 127.0.0.1:`target` in a thread of its own, which can be cut and restored."""

    def __init__(self, target: int, port: int = 0) -> None:
        self.target = target
        self.port = port or free_port()
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, name="s3-relay", daemon=True)
        self._thread.start()

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    @property
    def is_up(self) -> bool:
        return self._server is not None

    def up(self) -> None:
        if self._server is None:
            self._server = self._run(self._listen())

    def down(self) -> None:
        """Refuse new connections and reset the open ones."""
        if self._server is not None:
            self._run(self._close())
            self._server = None

    def stop(self) -> None:
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    async def _listen(self) -> asyncio.AbstractServer:
        return await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def _close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._open):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.transport.abort()
            return
        self._open.update((writer, up_writer))
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._open.difference_update((writer, up_writer))
            for w in (writer, up_writer):
                w.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while chunk := await reader.read(256 * 1024):
                writer.write(chunk)
                await writer.drain()
        with contextlib.suppress(OSError):
            if writer.can_write_eof():
                writer.write_eof()


class S3Server:
    """moto's server on loopback with a bucket and one accepted access key, reached through a `Relay`.

    `endpoint` is the relay's (what clients use; `down()`/`up()` cut and restore it); `direct_endpoint` is
    moto's own port (benchmarks). Use as a context manager, or `start()` and `stop()`.
    """

    def __init__(
        self,
        bucket: str = DEFAULT_BUCKET,
        *,
        log_path: str | pathlib.Path | None = None,
        python: str | None = None,
        port: int = 0,
    ) -> None:
        self.bucket = bucket
        self.region = REGION
        self.log_path = pathlib.Path(log_path) if log_path else None
        self.python = python
        self.port = port
        self.access_key = ""
        self.secret_key = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self.relay: Relay | None = None
        self._moto_port = 0
        self._log: IO[bytes] | None = None

    @property
    def endpoint(self) -> str:
        assert self.relay is not None, "not started"
        return f"http://127.0.0.1:{self.relay.port}"

    @property
    def host(self) -> str:
        """`host:port` of `endpoint` (what an ArtifactStore's `spec.s3.endpoint` takes, with `insecure: true`)."""
        return self.endpoint.removeprefix("http://")

    @property
    def direct_endpoint(self) -> str:
        return f"http://127.0.0.1:{self._moto_port}"

    def start(self, timeout: float = 60.0) -> S3Server:
        python = self.python or find_python()
        self._moto_port = free_port()
        self._log = self.log_path.open("ab") if self.log_path else None
        out = self._log if self._log is not None else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [python, "-c", "from moto.server import main; main()", "-H", "127.0.0.1", "-p", str(self._moto_port)],
            stdout=out,
            stderr=out,
            env={**os.environ, "MOTO_PORT": str(self._moto_port)},
            start_new_session=True,  # a Ctrl-C in `switchyard dev` reaches us, and we stop it
        )
        self._wait_ready(timeout)
        setup = subprocess.run(
            [python, "-c", SETUP, self.direct_endpoint, self.bucket, self.region],
            capture_output=True,
            check=False,
            timeout=timeout,
        )
        if setup.returncode != 0:
            self.stop()
            raise RuntimeError(f"could not set up the S3 server: {setup.stderr.decode(errors='replace')[-2000:]}")
        key = json.loads(setup.stdout)
        self.access_key, self.secret_key = key["accessKeyId"], key["secretAccessKey"]
        # from now on every request is authenticated (SigV4) and authorized (the user's IAM policy)
        self._moto_api("reset-auth", b"0")
        self.relay = Relay(self._moto_port, self.port)
        self.relay.up()
        return self

    def _moto_api(self, path: str, data: bytes | None = None) -> bytes:
        # not form-encoded: moto reads the raw body
        headers = {"Content-Type": "text/plain"}
        request = urllib.request.Request(f"{self.direct_endpoint}/moto-api/{path}", data=data, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            return bytes(response.read())

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"the S3 server exited with {self.proc.returncode} (log: {self.log_path})")
            try:
                self._moto_api("data.json")
                return
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(f"the S3 server did not answer within {timeout}s") from None
                time.sleep(0.05)

    def down(self) -> None:
        """The store goes away: connections refused, open ones reset."""
        assert self.relay is not None
        self.relay.down()

    def up(self) -> None:
        """The store is back, on the same endpoint, with its objects."""
        assert self.relay is not None
        self.relay.up()

    def stop(self) -> None:
        if self.relay is not None:
            self.relay.stop()
            self.relay = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> int:
    """`python -m switchyard.sandbox.s3server`: run one in the foreground and print how to reach it."""
    with S3Server() as server:
        print(f"endpoint {server.endpoint} bucket {server.bucket} accessKeyId {server.access_key}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

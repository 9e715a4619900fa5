"""Run the Kubernetes API test server: `python -m tests.kubeapi --port 0 --kubeconfig FILE`.

Prints exactly one line, `ready <url>`, on stdout once it serves, and serves
until SIGTERM or SIGINT (exit 0).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from .server import KubeApiServer


def _client_spec(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=KUBECONFIG_PATH, got {text!r}")
    return name, Path(path)


def _sa_client_spec(text: str) -> tuple[str, str, Path]:
    name, sep, rest = text.partition("=")
    account, sep2, path = rest.partition("=")
    namespace, slash, sa_name = account.partition("/")
    if not (sep and sep2 and slash and name and namespace and sa_name and path):
        raise argparse.ArgumentTypeError(
            f"expected NAME=NAMESPACE/SERVICEACCOUNT=KUBECONFIG_PATH, got {text!r}"
        )
    return name, account, Path(path)


def _delay(text: str) -> float | None:
    if text == "never":
        return None
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected seconds or 'never', got {text!r}") from err
    if value < 0:
        raise argparse.ArgumentTypeError("the rollout delay must not be negative")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.kubeapi", description="Run the Kubernetes API test server."
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument(
        "--kubeconfig", type=Path, required=True, help="write the admin kubeconfig here"
    )
    parser.add_argument(
        "--namespace", default=None, help="default namespace of the written kubeconfigs"
    )
    parser.add_argument(
        "--client",
        action="append",
        type=_client_spec,
        default=[],
        metavar="NAME=FILE",
        help="also write a kubeconfig for client NAME (in system:masters: allowed everything)",
    )
    parser.add_argument(
        "--sa-client",
        action="append",
        type=_sa_client_spec,
        default=[],
        metavar="NAME=NS/SA=FILE",
        help="also write a kubeconfig for client NAME acting as ServiceAccount NS/SA (RBAC)",
    )
    parser.add_argument("--http", action="store_true", help="serve plain HTTP instead of HTTPS")
    parser.add_argument(
        "--rollout-delay",
        type=_delay,
        default=0.2,
        metavar="SECONDS",
        help="seconds a rollout takes to converge, or 'never' (default 0.2)",
    )
    parser.add_argument(
        "--history-size",
        type=int,
        default=2000,
        help="events kept for watch resumption (default 2000)",
    )
    parser.add_argument(
        "--bookmark-interval",
        type=float,
        default=5.0,
        help="seconds between watch bookmarks (default 5)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the server until SIGTERM/SIGINT; return the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    if not 0 <= args.port <= 65535:
        print(f"error: --port must be 0-65535, not {args.port}", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = KubeApiServer(
        port=args.port,
        tls=not args.http,
        rollout_delay=args.rollout_delay,
        history_size=args.history_size,
        bookmark_interval=args.bookmark_interval,
    )
    try:
        server.start()
    except OSError as err:
        print(f"error: cannot listen on 127.0.0.1:{args.port}: {err.strerror}", file=sys.stderr)
        return 1
    try:
        try:
            server.write_kubeconfig(args.kubeconfig, "admin", args.namespace)
            for name, path in args.client:
                server.write_kubeconfig(path, name, args.namespace)
            for name, account, path in args.sa_client:
                server.write_kubeconfig(path, name, args.namespace, service_account=account)
        except OSError as err:
            print(f"error: cannot write kubeconfig {err.filename}: {err.strerror}", file=sys.stderr)
            return 1
        print(f"ready {server.url}", flush=True)
        stop.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

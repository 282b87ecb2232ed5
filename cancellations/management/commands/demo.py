"""Run the demo back-office on the embedded default: sandbox accounts, synced orders, a server and a sweeper.

Safe to run again: it reuses the admin user, the accounts, the sandbox orders and everything synced.
"""

from __future__ import annotations

import secrets
import signal
import threading
import time
from importlib import import_module
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler, get_internal_wsgi_application
from django.db import connection
from django.utils import timezone

from cancellations import demo_webhooks
from cancellations.marketplaces.base import MarketplaceError
from cancellations.marketplaces.registry import specs
from cancellations.models import MarketplaceAccount
from cancellations.sandbox.provision import seller_register
from cancellations.services import cancellations_sweep, orders_sync

ADMIN_USERNAME = "admin"


class Command(BaseCommand):
    help = "Start the demo back-office with the built-in marketplace sandbox (embedded default)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on")
        parser.add_argument("--port", type=int, default=8000, help="Port to serve on (0: any free port)")
        parser.add_argument("--no-serve", action="store_true", help="Set up and sync, then exit")

    def handle(self, *args, **opts) -> None:
        if not settings.SANDBOX_ENABLED:
            raise CommandError("The demo needs the sandbox: run with DJANGO_DEBUG=true or SANDBOX_ENABLED=true.")
        signal.signal(signal.SIGINT, _stop)  # Ctrl-C, even if the shell started us with SIGINT ignored
        signal.signal(signal.SIGTERM, _stop)  # `kill` stops it like Ctrl-C does
        password = self._admin_user()
        # The sandbox is served by this process: listen first (port 0 picks a free one), then sync through it.
        server = self._serve(opts["host"], opts["port"])
        base = f"http://{opts['host']}:{server.server_port}"
        try:
            accounts = self._accounts(base)
            if not opts["no_serve"]:  # before the sync, so the receiver gets what the sync finds too
                demo_webhooks.demo_webhooks_start(opts["host"], self._say)
            self._sync(accounts)
            if opts["no_serve"]:
                self._say("Set up and synced (--no-serve: not serving).")
                return
            self._banner(base, password)
            self._sweep_forever()
        except KeyboardInterrupt:
            self._say("\nStopping the demo ...")
        finally:
            server.shutdown()
            server.server_close()

    def _say(self, text: str) -> None:
        """Progress as it happens, even when stdout is a pipe."""
        self.stdout.write(text)
        self.stdout.flush()

    def _admin_user(self) -> str:
        path = Path(settings.DATA_DIR) / "demo-admin-password.txt"
        User = get_user_model()
        user = User.objects.filter(username=ADMIN_USERNAME).first()
        if user is not None and path.exists():
            self._say(f"Admin user: {ADMIN_USERNAME} (password in {path})")
            return path.read_text().strip()
        password = secrets.token_urlsafe(9)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(password + "\n")
        path.chmod(0o600)
        if user is None:
            User.objects.create_superuser(ADMIN_USERNAME, "admin@example.com", password)
        else:
            user.set_password(password)
            user.save(update_fields=["password"])
        self._say(f"Admin user: {ADMIN_USERNAME} (new password, kept in {path})")
        return password

    def _accounts(self, base: str) -> list[MarketplaceAccount]:
        accounts = []
        for spec, demo in ((s, d) for s in specs().values() for d in s.demo_accounts):
            url = f"{base}/sandbox/{spec.sandbox_path}"
            account = MarketplaceAccount.objects.filter(name=demo.name).first()
            if account is None:
                account = MarketplaceAccount.objects.create(
                    name=demo.name, marketplace=spec.key, base_url=url, credentials=demo.credentials(),
                    options=dict(demo.options),
                )
                self._say(f"Created account {account.name} ({account.marketplace}, sandbox at {url})")
            elif account.base_url != url:
                # The demo owns these sandbox credentials: it gives them again for the sandbox's new address.
                account.base_url = url
                account.credentials_give(account.credentials)
                account.save(update_fields=["base_url", "credentials"])
            seller = seller_register(marketplace=account.marketplace, credentials=account.credentials,
                                     options=account.options)
            seeded = import_module(spec.sandbox_module).orders_seed(seller)
            self._say(f"Sandbox orders for {account.name}: {len(seeded)}")
            accounts.append(account)
        return accounts

    def _serve(self, host: str, port: int) -> ThreadedWSGIServer:
        # Threaded: in the embedded default a request's on-commit dispatch calls the sandbox on this server.
        handler = StaticFilesHandler(get_internal_wsgi_application())
        try:
            server = ThreadedWSGIServer((host, port), _QuietHandler, ipv6=":" in host)
        except OSError as exc:
            raise CommandError(f"Cannot listen on {host}:{port} ({exc}). Try --port 8001.") from exc
        server.daemon_threads = True
        server.set_app(handler)
        threading.Thread(target=server.serve_forever, name="demo-http", daemon=True).start()
        return server

    def _sync(self, accounts: list[MarketplaceAccount]) -> None:
        since = timezone.now() - timezone.timedelta(days=60)
        for account in accounts:
            self._say(f"Syncing {account.name} through the real HTTP client ...")
            try:
                report = orders_sync(account=account, since=since)
            except MarketplaceError as exc:
                self.stderr.write(f"{account.name}: sync failed: {exc.code} {exc.message}")
                continue
            self._say(f"Synced {account.name}: {report.orders_created} new orders, {report.orders_updated} "
                      f"updated, {report.lines_created} new lines, {report.reasons} reasons")
        connection.close()

    def _banner(self, base: str, password: str) -> None:
        self._say(self.style.SUCCESS(
            f"\nThe back-office is running at {base}/admin/\n"
            f"  Log in as: {ADMIN_USERNAME} / {password}\n"
            f"  Orders to cancel: {base}/admin/cancellations/orderline/  (select lines, action "
            f"'Cancel on marketplace')\n"
            f"  Cancellations: {base}/admin/cancellations/cancellation/\n"
            f"  Inject a sandbox fault: {base}/admin/sandbox/sandboxfault/add/\n"
            f"  API docs: {base}/api/docs/\n"
            f"  Webhook deliveries: {base}/admin/cancellations/webhookdelivery/\n"
            "Press Ctrl-C to stop."
        ))

    def _sweep_forever(self) -> None:
        """No broker in the embedded default: retries, verifications and leftovers are swept here."""
        while True:
            report = cancellations_sweep()
            if any(report.values()):
                self.stdout.write("sweeper: " + " ".join(f"{k}={v}" for k, v in report.items() if v))
            connection.close()
            time.sleep(3)


def _stop(signum, frame) -> None:
    raise KeyboardInterrupt


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args) -> None:  # keep the console for what matters
        if args and str(args[1]).startswith(("4", "5")) and "/sandbox/" not in str(args[0]):
            super().log_message(format, *args)

"""Real notification receivers on 127.0.0.1 for the integration tests.

HttpReceiver records every request (method, path, headers, body) and can be
told to fail (answer a status), to be slow (sleep before answering), or to
go away and come back on the same port. SmtpReceiver is Debian's
python3-aiosmtpd with STARTTLS or implicit TLS and AUTH, on a self-signed
certificate made with openssl for the test."""
import email
import email.policy
import http.server
import logging
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import warnings

# Debian's python3-aiosmtpd lives in the system's dist-packages; a test run
# with another python3 of the same minor version can use it from there.
try:
    import aiosmtpd  # noqa: F401
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
warnings.filterwarnings("ignore", message="Session.login_data is deprecated")
logging.getLogger("mail.log").setLevel(logging.ERROR)
try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword
    HAVE_AIOSMTPD = True
except ImportError:
    HAVE_AIOSMTPD = False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Request:
    def __init__(self, method, path, headers, body):
        self.method, self.path, self.headers, self.body = method, path, headers, body
        self.time = time.time()

    def header(self, name):
        for k, v in self.headers.items():
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return "<%s %s %r>" % (self.method, self.path, self.body[:200])


class HttpReceiver:
    """An HTTP server in this process, on a thread of its own."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.requests = []
        self.status = 200        # what it answers
        self.answer = b"ok"
        self.delay = 0.0         # seconds to sleep before answering
        self.answers = {}        # path -> (status, body), over the two above
        self.lock = threading.Lock()
        self.server = None

    def start(self):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_one(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with outer.lock:
                    outer.requests.append(Request(self.command, self.path,
                                                  dict(self.headers), body))
                    status, answer, delay = outer.status, outer.answer, outer.delay
                    status, answer = outer.answers.get(self.path, (status, answer))
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_POST = do_GET = do_PUT = handle_one

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            allow_reuse_address = True

            def handle_error(self, request, client_address):
                pass  # a sender that goes away mid-answer (a killed daemon) is expected

        self.server = Server(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        """Go away: the port refuses connections until start() again."""
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def received(self, path=None):
        with self.lock:
            return [r for r in self.requests if path is None or r.path == path]


def make_certificate(folder):
    """A self-signed certificate for 127.0.0.1; returns (cert, key) paths."""
    cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


class SmtpReceiver:
    """aiosmtpd on 127.0.0.1: STARTTLS required before AUTH (implicit=False)
    or TLS from the first byte (implicit=True). Messages are kept parsed."""

    def __init__(self, folder, user="ofelia", password="s3cret-pass", implicit=False, port=None):
        self.port = port or free_port()
        self.user, self.password = user, password
        self.messages = []
        self.cert, self.key = make_certificate(folder)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, self.key)
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                msg = email.message_from_bytes(envelope.original_content or envelope.content,
                                               policy=email.policy.default)
                outer.messages.append((envelope.mail_from, list(envelope.rcpt_tos), msg,
                                       session.authenticated))
                return "250 OK"

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and \
                auth_data.login.decode() == outer.user and \
                auth_data.password.decode() == outer.password
            return AuthResult(success=ok, handled=False)

        # With implicit TLS every byte is encrypted, but aiosmtpd 1.4 only
        # counts a STARTTLS session as TLS for auth_require_tls.
        kwargs = dict(hostname="127.0.0.1", port=self.port, authenticator=authenticator,
                      auth_require_tls=not implicit)
        if implicit:
            kwargs["ssl_context"] = ctx
        else:
            kwargs.update(tls_context=ctx, require_starttls=True)
        self.controller = Controller(Handler(), **kwargs)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()

"""Serves DIR over https on 127.0.0.1:PORT with CERT and KEY (a client metadata document for the
CIMD tests). Usage: python serve_https.py DIR PORT CERT KEY"""
import functools
import http.server
import ssl
import sys

directory, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=directory)
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(f"serving {directory} on https://127.0.0.1:{port}/", flush=True)
server.serve_forever()

"""The edge's nginx.conf, rendered from the controller addresses. Pure text, no Pulumi."""

from __future__ import annotations


def nginx_conf(controllers: list[tuple[str, int]], *, https_port: int, redirect: bool,
               plain_port: int | None = None, gateway: tuple[str, int] | None = None) -> str:
    """TLS on 443 in front of every controller; port 80 redirects to HTTPS when `redirect`;
    `plain_port` serves the same routes in plain HTTP to a TLS-terminating ingress controller;
    with a `gateway`, `/api/<namespace>/...` (the routes `wsk api` creates) goes to it and
    `/api/v1` stays with the controllers."""
    # A failed controller is skipped for 5 s only: while instances roll one at a time, a longer
    # pause would leave every controller marked down before the first one is tried again.
    servers = "\n".join(f"        server {host}:{port} max_fails=1 fail_timeout=5s;"
                         for host, port in controllers)
    port_suffix = "" if https_port == 443 else f":{https_port}"
    extra = f"""
    server {{
        listen 80;
        return 308 https://$host{port_suffix}$request_uri;
    }}
""" if redirect else ""
    routes = """        # Controller administration and metrics stay off the public edge.
        location = /disable { return 403; }
        location = /metrics { return 403; }

        location / {
            proxy_pass http://controllers;
        }"""
    if gateway is not None:
        routes += """

        # API gateway routes (`wsk api`); the OpenWhisk API itself is /api/v1.
        location /api/v1 {
            proxy_pass http://controllers;
        }
        location /api/ {
            proxy_pass http://apigateway;
        }"""
    if plain_port is not None:
        extra += f"""
    # Plain HTTP for the ingress controller, which terminates TLS; not on the edge Service.
    server {{
        listen {plain_port};

{routes}
    }}
"""
    gateway_upstream = "" if gateway is None else f"""
    upstream apigateway {{
        server {gateway[0]}:{gateway[1]} max_fails=1 fail_timeout=5s;
        keepalive 16;
    }}
"""
    return f"""# Rendered by the OpenWhisk Pulumi program; edits are overwritten on the next `pulumi up`.
worker_processes auto;
events {{
    worker_connections 4096;
}}
http {{
    server_tokens off;
    client_max_body_size 50M;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header X-Request-ID $request_id;
    add_header X-Request-ID $request_id always;
    proxy_read_timeout 75s;
    # A controller that is stopping refuses connections and one that is starting may answer 502
    # or 503: nginx then passes the request to the next controller (a request whose body it
    # already sent to one is retried only for idempotent methods, as nginx does by default).
    proxy_next_upstream error timeout http_502 http_503;
    proxy_connect_timeout 5s;

    upstream controllers {{
{servers}
        keepalive 64;
    }}
{gateway_upstream}{extra}
    server {{
        listen 443 ssl;
        ssl_certificate /etc/nginx/tls/cert.pem;
        ssl_certificate_key /etc/nginx/tls/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_timeout 10m;

{routes}
    }}
}}
"""

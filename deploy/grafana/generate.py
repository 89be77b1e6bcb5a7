#!/usr/bin/env python3
"""Writes the Grafana dashboards of rucio-mcp and dirac-mcp (rucio-mcp.json, dirac-mcp.json).

Both servers serve the same metrics under their own prefix (rucio_mcp_, dirac_mcp_) and a Grafana
query cannot build a metric name from a variable, so one template makes two files. Edit this
script, not the JSON, then run it:

    python3 deploy/grafana/generate.py            # rewrites the files next to it
    python3 deploy/grafana/generate.py --check    # fails if they are out of date
    python3 deploy/grafana/generate.py --out-dir DIR

Standard library only. tests/e2e/tests/dashboard.rs checks the files are what this script
writes, and that every metric the queries name is served by the real servers.
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# The Prometheus data source every panel and query uses: the `datasource` variable.
DS = {"type": "prometheus", "uid": "${datasource}"}

SERVERS = [
    {
        "file": "rucio-mcp.json",
        "name": "rucio-mcp",
        "prefix": "rucio_mcp",
        "uid": "rucio-mcp-overview",
        "backend": "Rucio",
        "login": "Rucio's OpenID provider",
    },
    {
        "file": "dirac-mcp.json",
        "name": "dirac-mcp",
        "prefix": "dirac_mcp",
        "uid": "dirac-mcp-overview",
        "backend": "DiracX",
        "login": "DiracX",
    },
]

# Label matchers: the scrape target (namespace and job variables), and the site.
TARGET = 'namespace=~"$namespace", job=~"$job"'
SITE = TARGET + ', site=~"$site"'
RATE = "[$__rate_interval]"


class Layout:
    """Hands out panel ids and grid positions, row by row (the grid is 24 wide)."""

    def __init__(self):
        self.panels = []
        self.next_id = 1
        self.x = 0
        self.y = 0
        self.row_height = 0

    def _place(self, panel, w, h):
        if self.x + w > 24:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        panel["id"] = self.next_id
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.next_id += 1
        self.x += w
        self.row_height = max(self.row_height, h)
        self.panels.append(panel)

    def row(self, title):
        if self.x:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        self._place({"type": "row", "title": title, "collapsed": False, "panels": []}, 24, 1)
        self.x, self.y, self.row_height = 0, self.y + 1, 0

    def add(self, panel, w, h):
        self._place(panel, w, h)


def target(expr, legend="", ref="A"):
    return {
        "datasource": DS,
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend or "__auto",
        "range": True,
        "refId": ref,
    }


def targets(*queries):
    return [target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(queries)]


def timeseries(title, description, queries, unit="short", stack=False):
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DS,
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "min": 0,
                "custom": {
                    "drawStyle": "line",
                    "lineWidth": 1,
                    "fillOpacity": 10,
                    "showPoints": "never",
                    "spanNulls": False,
                    "stacking": {"mode": "normal" if stack else "none", "group": "A"},
                },
            },
            "overrides": [],
        },
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": targets(*queries),
    }


def stat(title, description, expr, unit="short", decimals=None, thresholds=None):
    defaults = {
        "unit": unit,
        "color": {"mode": "thresholds"},
        "thresholds": {
            "mode": "absolute",
            "steps": thresholds or [{"color": "green", "value": None}],
        },
    }
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DS,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "area",
            "justifyMode": "auto",
            "orientation": "auto",
            "textMode": "auto",
        },
        "targets": targets((expr, "")),
    }


def query_variable(name, label, query, all_value=None, description=""):
    variable = {
        "type": "query",
        "name": name,
        "label": label,
        "description": description,
        "datasource": DS,
        "definition": query,
        "query": {"qryType": 1, "query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,
        "includeAll": True,
        "multi": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "regex": "",
        "sort": 1,
        "hide": 0,
    }
    if all_value is not None:
        variable["allValue"] = all_value
    return variable


def dashboard(server):
    p = server["prefix"]
    name = server["name"]
    backend = server["backend"]
    calls = f"{p}_tool_calls_total{{{SITE}}}"
    errors = f"{p}_tool_errors_total{{{SITE}}}"
    buckets = f"{p}_tool_call_duration_seconds_bucket{{{SITE}}}"
    auth = f"{p}_bridge_auth_total"
    pending = f'{p}_bridge_sessions{{{SITE}, status="pending"}}'

    def quantile(q, by, metric):
        return f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}{RATE})))"

    lay = Layout()

    lay.row("Overview")
    lay.add(stat("Tool calls/s", f"All tool calls per second (`{p}_tool_calls_total`).",
                 f"sum(rate({calls}{RATE}))", unit="reqps", decimals=2), 4, 4)
    lay.add(stat("Tool error ratio",
                 f"Failed tool calls over all tool calls (`{p}_tool_errors_total` / `{p}_tool_calls_total`).",
                 f"(sum(rate({errors}{RATE})) or vector(0)) / sum(rate({calls}{RATE}))",
                 unit="percentunit", decimals=1,
                 thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 0.05},
                             {"color": "red", "value": 0.2}]), 4, 4)
    lay.add(stat("Tool call p95", f"95th percentile of the duration of tool calls (`{p}_tool_call_duration_seconds`).",
                 f"histogram_quantile(0.95, sum by (le) (rate({buckets}{RATE})))", unit="s",
                 thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 5},
                             {"color": "red", "value": 15}]), 4, 4)
    lay.add(stat("MCP sessions awake", "MCP sessions with a worker in memory (`mcp_sessions{state=\"awake\"}`).",
                 f'sum(mcp_sessions{{{SITE}, state="awake"}})'), 4, 4)
    lay.add(stat("Logins in progress", f"Users between consent and the end of their sign-in at {server['login']} "
                 f"(`{p}_bridge_sessions{{status=\"pending\"}}`; OAuth bridge mode).",
                 f"sum({pending})"), 4, 4)
    lay.add(stat("Resident memory (max)", "The largest resident memory of the selected processes "
                 "(`process_resident_memory_bytes`).",
                 f"max(process_resident_memory_bytes{{{TARGET}}})", unit="bytes"), 4, 4)

    lay.row("Tool calls")
    lay.add(timeseries("Tool calls/s by tool", f"`{p}_tool_calls_total` by site and tool.",
                       [(f"sum by (site, tool) (rate({calls}{RATE}))", "{{site}} {{tool}}")], unit="reqps"), 12, 8)
    lay.add(timeseries("Tool call latency p50 / p95 / p99",
                       f"Quantiles of `{p}_tool_call_duration_seconds` by site (buckets 5 ms to 20 s).",
                       [(quantile(0.5, "site", buckets), "p50 {{site}}"),
                        (quantile(0.95, "site", buckets), "p95 {{site}}"),
                        (quantile(0.99, "site", buckets), "p99 {{site}}")], unit="s"), 12, 8)
    lay.add(timeseries("Tool call latency p95 by tool", f"95th percentile of `{p}_tool_call_duration_seconds` by site and tool.",
                       [(quantile(0.95, "site, tool", buckets), "{{site}} {{tool}}")], unit="s"), 12, 8)
    lay.add(timeseries("Mean tool call duration by tool",
                       f"`{p}_tool_call_duration_seconds_sum` / `_count` by site and tool.",
                       [(f"sum by (site, tool) (rate({p}_tool_call_duration_seconds_sum{{{SITE}}}{RATE}))"
                         f" / sum by (site, tool) (rate({p}_tool_call_duration_seconds_count{{{SITE}}}{RATE}))",
                         "{{site}} {{tool}}")], unit="s"), 12, 8)
    lay.add(timeseries("Tool errors/s by category",
                       f"`{p}_tool_errors_total` by site and error category (what {backend} or the "
                       "server answered: not found, permission denied, unreachable, ...).",
                       [(f"sum by (site, category) (rate({errors}{RATE}))", "{{site}} {{category}}")],
                       unit="reqps", stack=True), 12, 8)
    lay.add(timeseries("Tool error ratio by tool",
                       f"`{p}_tool_errors_total` / `{p}_tool_calls_total` by site and tool.",
                       [(f"sum by (site, tool) (rate({errors}{RATE})) / sum by (site, tool) (rate({calls}{RATE}))",
                         "{{site}} {{tool}}")], unit="percentunit"), 12, 8)

    lay.row("Sign-in (OAuth bridge mode)")
    lay.add(timeseries("Bridge events/s by outcome",
                       f"`{auth}` by site and outcome: registered, login_started, authorized, "
                       "token_issued, refreshed, and the refusals.",
                       [(f"sum by (site, outcome) (rate({auth}{{{SITE}}}{RATE}))", "{{site}} {{outcome}}")],
                       unit="reqps"), 12, 8)
    lay.add(timeseries("Logins in progress",
                       f"Upstream logins at {server['login']} in progress, by site (`{p}_bridge_sessions`).",
                       [(f"sum by (site) ({pending})", "{{site}}")]), 12, 8)
    refusals = "login_failed|denied|grant_refused|bearer_rejected|registration_limited"
    lay.add(timeseries("Failures and refusals by outcome",
                       f"`{auth}` outcomes that are not success: failed or abandoned logins, "
                       "consent denied, codes or refresh tokens refused, bearers refused, registrations "
                       "rate-limited.",
                       [(f'sum by (site, outcome) (rate({auth}{{{SITE}, outcome=~"{refusals}"}}{RATE}))',
                         "{{site}} {{outcome}}")], unit="reqps", stack=True), 12, 8)
    lay.add(timeseries("Login success ratio",
                       f"Logins that finished (`outcome=\"authorized\"`) over logins begun "
                       f"(`outcome=\"login_started\"`) in `{auth}`.",
                       [(f'sum by (site) (rate({auth}{{{SITE}, outcome="authorized"}}{RATE}))'
                         f' / sum by (site) (rate({auth}{{{SITE}, outcome="login_started"}}{RATE}))',
                         "{{site}}")], unit="percentunit"), 12, 8)

    lay.row("Sessions and clients")
    lay.add(timeseries("MCP sessions by state",
                       "`mcp_sessions` by site and state: awake (a worker in memory) and asleep "
                       "(woken at the next request).",
                       [(f"sum by (site, state) (mcp_sessions{{{SITE}}})", "{{site}} {{state}}")], stack=True), 12, 8)
    lay.add(timeseries(f"Cached {backend} clients",
                       f"`{p}_cached_clients` by site: {backend} clients held for reuse (in OAuth bridge "
                       "mode one per upstream token, so a user's refresh adds one; one per site "
                       "otherwise). Updated at each tool call.",
                       [(f"sum by (site) ({p}_cached_clients{{{SITE}}})", "{{site}}")]), 12, 8)

    lay.row("HTTP")
    responses = f"starlette_responses_total{{{SITE}}}"
    lay.add(timeseries("HTTP responses/s by route and status",
                       "`starlette_responses_total` by route template and status code (rucio-mcp "
                       "0.10.0's names).",
                       [(f"sum by (path_template, status_code) (rate({responses}{RATE}))",
                         "{{status_code}} {{path_template}}")], unit="reqps"), 12, 8)
    lay.add(timeseries("HTTP 4xx and 5xx/s by route",
                       "`starlette_responses_total` with a 4xx or 5xx status, by route template and "
                       "status code. 401 on the MCP routes is how clients learn to sign in.",
                       [(f'sum by (path_template, status_code) (rate(starlette_responses_total{{{SITE}, status_code=~"[45].."}}{RATE}))',
                         "{{status_code}} {{path_template}}")], unit="reqps", stack=True), 12, 8)
    lay.add(timeseries("HTTP latency p95 by route",
                       "95th percentile of `starlette_requests_processing_time_seconds` (time to the "
                       "response head; an MCP stream stays open longer) by route template.",
                       [(quantile(0.95, "path_template", f"starlette_requests_processing_time_seconds_bucket{{{SITE}}}"),
                         "{{path_template}}")], unit="s"), 12, 8)
    lay.add(timeseries("HTTP requests in progress by route",
                       "`starlette_requests_in_progress` by route template.",
                       [(f"sum by (path_template) (starlette_requests_in_progress{{{SITE}}})", "{{path_template}}")]), 12, 8)

    lay.row("Process")
    lay.add(timeseries("CPU", "CPU time used per second by each process (`process_cpu_seconds_total`): "
                       "1 is one core.",
                       [(f"rate(process_cpu_seconds_total{{{TARGET}}}{RATE})", "{{instance}}")], unit="percentunit"), 8, 8)
    lay.add(timeseries("Resident memory", "`process_resident_memory_bytes` of each process.",
                       [(f"process_resident_memory_bytes{{{TARGET}}}", "{{instance}}")], unit="bytes"), 8, 8)
    lay.add(timeseries("Open file descriptors", "`process_open_fds` of each process, and its limit "
                       "(`process_max_fds`).",
                       [(f"process_open_fds{{{TARGET}}}", "{{instance}}"),
                        (f"process_max_fds{{{TARGET}}}", "limit {{instance}}")]), 8, 8)
    lay.add(timeseries("Uptime", "`process_uptime_seconds` of each process: a drop is a restart.",
                       [(f"process_uptime_seconds{{{TARGET}}}", "{{instance}}")], unit="s"), 8, 8)

    anchor = f'{{__name__=~"{p}_.+"}}'
    return {
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "description": f"{name} hosted over HTTP: tool calls, errors, sign-ins, sessions, HTTP and "
                       f"process metrics (generated by deploy/grafana/generate.py).",
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [],
        "panels": lay.panels,
        "refresh": "1m",
        "schemaVersion": 39,
        "tags": [name, "mcp"],
        "templating": {
            "list": [
                {
                    "type": "datasource",
                    "name": "datasource",
                    "label": "Data source",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                    "includeAll": False,
                    "multi": False,
                    "options": [],
                    "refresh": 1,
                    "regex": "",
                },
                query_variable("namespace", "Namespace", f"label_values({anchor}, namespace)", all_value=".*",
                               description=f"Kubernetes namespaces of the targets that serve {p}_* metrics "
                                           "(empty outside Kubernetes)."),
                query_variable("job", "Job", f'label_values({{__name__=~"{p}_.+", namespace=~"$namespace"}}, job)',
                               description=f"Scrape jobs that serve {p}_* metrics. The HTTP, session and "
                                           "process metrics have no prefix: this keeps other servers out."),
                query_variable("site", "Site", f"label_values(mcp_sessions{{{TARGET}}}, site)", all_value=".*",
                               description="Sites (--site) of the selected jobs."),
            ]
        },
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "title": name,
        "uid": server["uid"],
        "version": 1,
        "weekStart": "",
    }


def render(server):
    return json.dumps(dashboard(server), indent=2, ensure_ascii=False) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=HERE, help="where to write the files (default: next to this script)")
    parser.add_argument("--check", action="store_true", help="fail if the files differ from what this script writes")
    args = parser.parse_args()
    stale = []
    for server in SERVERS:
        path = os.path.join(args.out_dir, server["file"])
        text = render(server)
        if args.check:
            try:
                with open(path, encoding="utf-8") as f:
                    current = f.read()
            except FileNotFoundError:
                current = None
            if current != text:
                stale.append(path)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    if stale:
        print("out of date (run python3 deploy/grafana/generate.py): " + ", ".join(stale), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

{{/* The chart's name. */}}
{{- define "dirac-mcp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every object: RELEASE-dirac-mcp, or RELEASE when it contains the name. */}}
{{- define "dirac-mcp.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "dirac-mcp.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's labels; each object adds its component (server, redis, test). */}}
{{- define "dirac-mcp.instanceLabels" -}}
app.kubernetes.io/name: {{ include "dirac-mcp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "dirac-mcp.commonLabels" -}}
helm.sh/chart: {{ include "dirac-mcp.chart" . }}
{{ include "dirac-mcp.instanceLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The server's pods (and the objects about them). */}}
{{- define "dirac-mcp.selectorLabels" -}}
{{ include "dirac-mcp.instanceLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{- define "dirac-mcp.labels" -}}
{{ include "dirac-mcp.commonLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{/* The in-chart Redis. */}}
{{- define "dirac-mcp.redisSelectorLabels" -}}
{{ include "dirac-mcp.instanceLabels" . }}
app.kubernetes.io/component: redis
{{- end }}

{{- define "dirac-mcp.redisLabels" -}}
{{ include "dirac-mcp.commonLabels" . }}
app.kubernetes.io/component: redis
{{- end }}

{{- define "dirac-mcp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "dirac-mcp.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* An image reference from {repository, tag, digest}: the digest pins when given. Call with
(list IMAGE DEFAULT-TAG). */}}
{{- define "dirac-mcp.imageRef" -}}
{{- $image := index . 0 -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (toString (default (index . 1) $image.tag)) -}}
{{- end -}}
{{- end }}

{{/* Where the chart puts what it mounts. */}}
{{- define "dirac-mcp.configDir" -}}/etc/dirac-mcp{{- end }}
{{- define "dirac-mcp.secretDir" -}}/var/run/secrets/dirac-mcp{{- end }}

{{/* The public URL: server.resourceUrl, else https://<ingress.host>/. */}}
{{- define "dirac-mcp.resourceUrl" -}}
{{- if .Values.server.resourceUrl -}}
{{- .Values.server.resourceUrl -}}
{{- else if and .Values.ingress.enabled .Values.ingress.host -}}
{{- printf "https://%s/" .Values.ingress.host -}}
{{- else -}}
{{- fail "dirac-mcp: set server.resourceUrl (the public URL clients use) or enable the ingress with ingress.host: the server listens on 0.0.0.0 and checks Host and Origin against that URL" -}}
{{- end -}}
{{- end }}

{{/* The Redis URL's source: "external" (a Secret), "chart" (redis.url put into a Secret of
the chart), "inChart" (redis.enabled) or "" (none). */}}
{{- define "dirac-mcp.redisSource" -}}
{{- if .Values.redis.existingSecret -}}external
{{- else if .Values.redis.url -}}chart
{{- else if .Values.redis.enabled -}}inChart
{{- end -}}
{{- end }}

{{/* The name a site spec (NAME[=VO[/GROUP]][@URL]) is served under. */}}
{{- define "dirac-mcp.siteName" -}}
{{- regexReplaceAll "[=@].*$" (toString .) "" -}}
{{- end }}

{{/* The issuer without a trailing slash, to compare URLs as DiracX's. */}}
{{- define "dirac-mcp.bare" -}}
{{- trimSuffix "/" (toString .) -}}
{{- end }}

{{/* "true" when the server acts with its own DiracX login: sharedSecret mode, and resourceServer
mode with another issuer than DiracX. */}}
{{- define "dirac-mcp.ownLogin" -}}
{{- $mode := .Values.auth.mode -}}
{{- if eq $mode "sharedSecret" -}}true
{{- else if eq $mode "resourceServer" -}}
{{- $issuer := include "dirac-mcp.bare" .Values.auth.resourceServer.issuer -}}
{{- $diracx := list (include "dirac-mcp.bare" .Values.diracx.url) -}}
{{- if .Values.diracx.issuer }}{{ $diracx = append $diracx (include "dirac-mcp.bare" .Values.diracx.issuer) }}{{ end -}}
{{- if not (has $issuer $diracx) }}true{{ end -}}
{{- end -}}
{{- end }}

{{/* "true" when the pod needs the state volume: the server's own login or machine clients. */}}
{{- define "dirac-mcp.needsState" -}}
{{- if or (include "dirac-mcp.ownLogin" .) (and (eq .Values.auth.mode "oidc") .Values.auth.oidc.machineClients.existingSecret) -}}true{{- end -}}
{{- end }}

{{/* The state volume's claim: existingClaim or the release's. */}}
{{- define "dirac-mcp.stateClaim" -}}
{{- default (printf "%s-state" (include "dirac-mcp.fullname" .)) .Values.state.persistence.existingClaim -}}
{{- end }}

{{- define "dirac-mcp.stateDir" -}}/var/lib/dirac-mcp{{- end }}

{{/* Every combination the chart refuses, with the reason; rendered by validate.yaml. */}}
{{- define "dirac-mcp.validate" -}}
{{- $mode := .Values.auth.mode -}}
{{- if not (has $mode (list "oidc" "sharedSecret" "resourceServer")) -}}
{{- fail (printf "dirac-mcp: auth.mode must be oidc, sharedSecret or resourceServer, not %q" (toString $mode)) -}}
{{- end -}}
{{- if not .Values.diracx.url -}}
{{- fail "dirac-mcp: diracx.url is required (the DiracX server, e.g. https://diracx.example.org)" -}}
{{- end -}}
{{- if not (regexMatch "^https?://[^/]+" .Values.diracx.url) -}}
{{- fail (printf "dirac-mcp: diracx.url %q is not an http(s) URL" .Values.diracx.url) -}}
{{- end -}}
{{- $names := list -}}
{{- range .Values.sites -}}
{{- if not (regexMatch "^[A-Za-z0-9][A-Za-z0-9._-]*(=[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)?)?(@https?://[^ ]+)?$" (toString .)) -}}
{{- fail (printf "dirac-mcp: the site %q is not NAME, NAME=VO or NAME=VO/GROUP, each optionally with @URL" (toString .)) -}}
{{- end -}}
{{- $name := include "dirac-mcp.siteName" . -}}
{{- if has $name $names -}}
{{- fail (printf "dirac-mcp: the site %q is listed twice" $name) -}}
{{- end -}}
{{- $names = append $names $name -}}
{{- end -}}
{{- if .Values.ingress.enabled -}}
{{- if not .Values.ingress.host -}}
{{- fail "dirac-mcp: ingress.enabled needs ingress.host (the public host name; the resource URL defaults to https://<host>/)" -}}
{{- end -}}
{{- end -}}
{{- $_ := include "dirac-mcp.resourceUrl" . -}}
{{- if and .Values.diracx.ca.secret .Values.diracx.ca.configMap -}}
{{- fail "dirac-mcp: diracx.ca names either a secret or a configMap, not both" -}}
{{- end -}}
{{- $redisSources := 0 -}}
{{- if .Values.redis.existingSecret }}{{ $redisSources = add1 $redisSources }}{{ end -}}
{{- if .Values.redis.url }}{{ $redisSources = add1 $redisSources }}{{ end -}}
{{- if .Values.redis.enabled }}{{ $redisSources = add1 $redisSources }}{{ end -}}
{{- if gt $redisSources 1 -}}
{{- fail "dirac-mcp: name one Redis: redis.existingSecret, redis.url or redis.enabled" -}}
{{- end -}}
{{- if and (ne $mode "oidc") (gt $redisSources 0) -}}
{{- fail (printf "dirac-mcp: Redis is only for auth.mode oidc (the state the bridge's replicas share); unset redis.existingSecret, redis.url and redis.enabled for %s" $mode) -}}
{{- end -}}
{{- if eq $mode "oidc" -}}
{{- if gt (int .Values.replicaCount) 1 -}}
{{- if not .Values.auth.oidc.tokenKeys.existingSecret -}}
{{- fail "dirac-mcp: replicaCount > 1 in oidc mode needs auth.oidc.tokenKeys.existingSecret (a Secret with `dirac-mcp token-key` output): every replica must seal and open the same tokens" -}}
{{- end -}}
{{- if eq $redisSources 0 -}}
{{- fail "dirac-mcp: replicaCount > 1 in oidc mode needs Redis (redis.existingSecret, redis.url or redis.enabled): replicas share used codes, rate limits and sign-ins in progress" -}}
{{- end -}}
{{- end -}}
{{- else if eq $mode "sharedSecret" -}}
{{- if gt (len .Values.sites) 1 -}}
{{- fail (printf "dirac-mcp: auth.mode sharedSecret serves one site (the server's own DiracX login), but sites has %d" (len .Values.sites)) -}}
{{- end -}}
{{- if not .Values.auth.sharedSecret.existingSecret -}}
{{- fail "dirac-mcp: auth.mode sharedSecret needs auth.sharedSecret.existingSecret, a Secret holding the bearer (`openssl rand -hex 32`)" -}}
{{- end -}}
{{- else if eq $mode "resourceServer" -}}
{{- if not .Values.auth.resourceServer.issuer -}}
{{- fail "dirac-mcp: auth.mode resourceServer needs auth.resourceServer.issuer: DiracX's URL for DiracX's own tokens, or your authorization server's exact iss" -}}
{{- end -}}
{{- if and (include "dirac-mcp.ownLogin" .) (gt (len .Values.sites) 1) -}}
{{- fail (printf "dirac-mcp: with an issuer other than DiracX, calls run as the server's own DiracX login: one site, but sites has %d" (len .Values.sites)) -}}
{{- end -}}
{{- $intro := .Values.auth.resourceServer.introspection -}}
{{- if and $intro.clientId (not $intro.existingSecret) -}}
{{- fail "dirac-mcp: auth.resourceServer.introspection.clientId needs introspection.existingSecret, a Secret holding that client's secret" -}}
{{- end -}}
{{- end -}}
{{- if and (include "dirac-mcp.needsState" .) (gt (int .Values.replicaCount) 1) -}}
{{- if not (and .Values.state.persistence.enabled (has "ReadWriteMany" .Values.state.persistence.accessModes)) -}}
{{- fail "dirac-mcp: replicaCount > 1 with the server's own DiracX login (or machine clients) needs state.persistence with accessModes [ReadWriteMany]: the replicas refresh one login under one file lock" -}}
{{- end -}}
{{- end -}}
{{- if lt (int .Values.server.terminationGraceExtraSeconds) 1 -}}
{{- fail "dirac-mcp: server.terminationGraceExtraSeconds must be at least 1: the pod must outlive the shutdown grace" -}}
{{- end -}}
{{- end }}

{{/* The server's config file (TOML), rendered from the values; secrets only as file paths. */}}
{{- define "dirac-mcp.configToml" -}}
{{- $mode := .Values.auth.mode -}}
{{- $secrets := include "dirac-mcp.secretDir" . -}}
# Rendered by the dirac-mcp Helm chart from its values: `dirac-mcp serve --config` reads it.
transport = "http"
diracx_url = {{ .Values.diracx.url | toJson }}
{{- if and .Values.diracx.issuer (ne $mode "sharedSecret") }}
diracx_issuer = {{ .Values.diracx.issuer | toJson }}
{{- end }}
{{- if or .Values.diracx.ca.secret .Values.diracx.ca.configMap }}
ca_path = {{ printf "%s/ca/ca.pem" (include "dirac-mcp.configDir" .) | toJson }}
{{- end }}
{{- with .Values.sites }}
site = {{ toJson . }}
{{- end }}
read_only = {{ .Values.readOnly }}
log_level = {{ .Values.logLevel | toJson }}
log_format = {{ .Values.logFormat | toJson }}
{{- if include "dirac-mcp.ownLogin" . }}
credentials_path = {{ printf "%s/%s" (include "dirac-mcp.stateDir" .) .Values.state.credentialsFile | toJson }}
{{- end }}
{{- if eq $mode "oidc" }}
client_id = {{ .Values.diracx.clientId | toJson }}
{{- if .Values.auth.oidc.noDiracxTokens }}
no_diracx_tokens = true
{{- end }}
{{- if .Values.auth.oidc.machineClients.existingSecret }}
machine_clients = {{ printf "%s/machine-clients/%s" $secrets .Values.auth.oidc.machineClients.key | toJson }}
{{- end }}
{{- end }}

[http]
auth = {{ get (dict "oidc" "bridge" "sharedSecret" "shared-secret" "resourceServer" "resource-server") $mode | toJson }}
host = "0.0.0.0"
port = {{ int .Values.server.port }}
resource_url = {{ include "dirac-mcp.resourceUrl" . | toJson }}
{{- with .Values.server.allowedOrigins }}
allowed_origins = {{ toJson . }}
{{- end }}
forwarded_allow_ips = {{ .Values.server.forwardedAllowIps | toString | toJson }}
metrics_host = "0.0.0.0"
metrics_port = {{ int .Values.server.metricsPort }}
shutdown_grace = {{ int .Values.server.shutdownGrace }}
session_idle_timeout = {{ int .Values.server.sessionIdleTimeout }}
session_sleep_after = {{ int .Values.server.sessionSleepAfter }}
{{- if eq $mode "sharedSecret" }}
shared_secret_file = {{ printf "%s/shared-secret/shared-secret" $secrets | toJson }}
{{- end }}
{{- if eq $mode "oidc" }}

[bridge]
poll_timeout = {{ int .Values.auth.oidc.pollTimeout }}
{{- if .Values.auth.oidc.tokenKeys.existingSecret }}
token_key_file = {{ printf "%s/token-keys/token-keys" $secrets | toJson }}
{{- end }}
{{- if .Values.auth.oidc.oauthClients }}
oauth_clients = {{ printf "%s/oauth-clients.json" (include "dirac-mcp.configDir" .) | toJson }}
{{- end }}
{{- end }}
{{- if eq $mode "resourceServer" }}
{{- $rs := .Values.auth.resourceServer }}

[resource_server]
issuer = {{ $rs.issuer | toJson }}
{{- with $rs.audience }}
audience = {{ toJson . }}
{{- end }}
{{- with $rs.requiredScopes }}
required_scope = {{ toJson . }}
{{- end }}
clock_leeway = {{ int $rs.clockLeeway }}
{{- if $rs.introspection.clientId }}
introspection_client_id = {{ $rs.introspection.clientId | toJson }}
introspection_client_secret_file = {{ printf "%s/introspection/client-secret" $secrets | toJson }}
introspection_cache_ttl = {{ int $rs.introspection.cacheTtl }}
introspect_jwts = {{ $rs.introspection.introspectJwts }}
{{- end }}
{{- end }}
{{ end }}

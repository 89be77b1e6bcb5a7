{{/* The chart's name. */}}
{{- define "rucio-mcp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every object: RELEASE-rucio-mcp, or RELEASE when it contains the name. */}}
{{- define "rucio-mcp.fullname" -}}
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

{{- define "rucio-mcp.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's labels; each object adds its component (server, redis, test). */}}
{{- define "rucio-mcp.instanceLabels" -}}
app.kubernetes.io/name: {{ include "rucio-mcp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "rucio-mcp.commonLabels" -}}
helm.sh/chart: {{ include "rucio-mcp.chart" . }}
{{ include "rucio-mcp.instanceLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The server's pods (and the objects about them). */}}
{{- define "rucio-mcp.selectorLabels" -}}
{{ include "rucio-mcp.instanceLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{- define "rucio-mcp.labels" -}}
{{ include "rucio-mcp.commonLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{/* The in-chart Redis. */}}
{{- define "rucio-mcp.redisSelectorLabels" -}}
{{ include "rucio-mcp.instanceLabels" . }}
app.kubernetes.io/component: redis
{{- end }}

{{- define "rucio-mcp.redisLabels" -}}
{{ include "rucio-mcp.commonLabels" . }}
app.kubernetes.io/component: redis
{{- end }}

{{- define "rucio-mcp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "rucio-mcp.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* An image reference from {repository, tag, digest}: the digest pins when given. Call with
(list IMAGE DEFAULT-TAG). */}}
{{- define "rucio-mcp.imageRef" -}}
{{- $image := index . 0 -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (toString (default (index . 1) $image.tag)) -}}
{{- end -}}
{{- end }}

{{/* Where the chart puts what it mounts. */}}
{{- define "rucio-mcp.configDir" -}}/etc/rucio-mcp{{- end }}
{{- define "rucio-mcp.secretDir" -}}/var/run/secrets/rucio-mcp{{- end }}

{{/* The public URL: server.resourceUrl, else https://<ingress.host>/. */}}
{{- define "rucio-mcp.resourceUrl" -}}
{{- if .Values.server.resourceUrl -}}
{{- .Values.server.resourceUrl -}}
{{- else if and .Values.ingress.enabled .Values.ingress.host -}}
{{- printf "https://%s/" .Values.ingress.host -}}
{{- else -}}
{{- fail "rucio-mcp: set server.resourceUrl (the public URL clients use) or enable the ingress with ingress.host: the server listens on 0.0.0.0 and checks Host and Origin against that URL" -}}
{{- end -}}
{{- end }}

{{/* The Redis URL's source: "external" (a Secret), "chart" (redis.url put into a Secret of
the chart), "inChart" (redis.enabled) or "" (none). */}}
{{- define "rucio-mcp.redisSource" -}}
{{- if .Values.redis.existingSecret -}}external
{{- else if .Values.redis.url -}}chart
{{- else if .Values.redis.enabled -}}inChart
{{- end -}}
{{- end }}

{{/* The name a site entry is served under; an entry is a preset name or {name, rucioCfg}. */}}
{{- define "rucio-mcp.siteName" -}}
{{- if kindIs "string" . -}}{{ . }}{{- else -}}{{ required "rucio-mcp: every entry of sites needs a name" .name }}{{- end -}}
{{- end }}

{{/* The `site` list of the config file: NAME for a preset, NAME=PATH for an own rucio.cfg. */}}
{{- define "rucio-mcp.siteSpecs" -}}
{{- $specs := list -}}
{{- range .Values.sites -}}
{{- $name := include "rucio-mcp.siteName" . -}}
{{- if and (kindIs "map" .) .rucioCfg -}}
{{- $specs = append $specs (printf "%s=%s/sites/%s/rucio.cfg" $name (include "rucio-mcp.configDir" $) $name) -}}
{{- else -}}
{{- $specs = append $specs $name -}}
{{- end -}}
{{- end -}}
{{- toJson $specs -}}
{{- end }}

{{/* Every combination the chart refuses, with the reason; rendered by validate.yaml. */}}
{{- define "rucio-mcp.validate" -}}
{{- $mode := .Values.auth.mode -}}
{{- if not (has $mode (list "oidc" "sharedSecret" "resourceServer")) -}}
{{- fail (printf "rucio-mcp: auth.mode must be oidc, sharedSecret or resourceServer, not %q" (toString $mode)) -}}
{{- end -}}
{{- if not .Values.sites -}}
{{- fail "rucio-mcp: sites is empty: name at least one site (a preset such as atlas, or {name, rucioCfg})" -}}
{{- end -}}
{{- $names := list -}}
{{- range .Values.sites -}}
{{- $name := include "rucio-mcp.siteName" . -}}
{{- if not (regexMatch "^[A-Za-z0-9][A-Za-z0-9._-]*$" $name) -}}
{{- fail (printf "rucio-mcp: the site name %q is not a name (letters, digits, '.', '_', '-')" $name) -}}
{{- end -}}
{{- if has $name $names -}}
{{- fail (printf "rucio-mcp: the site %q is listed twice" $name) -}}
{{- end -}}
{{- $names = append $names $name -}}
{{- if and (kindIs "map" .) .rucioCfg -}}
{{- if eq (empty .rucioCfg.secret) (empty .rucioCfg.configMap) -}}
{{- fail (printf "rucio-mcp: the rucioCfg of site %q names either a secret or a configMap" $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if .Values.ingress.enabled -}}
{{- if not .Values.ingress.host -}}
{{- fail "rucio-mcp: ingress.enabled needs ingress.host (the public host name; the resource URL defaults to https://<host>/)" -}}
{{- end -}}
{{- end -}}
{{- $_ := include "rucio-mcp.resourceUrl" . -}}
{{- $redisSources := 0 -}}
{{- if .Values.redis.existingSecret }}{{ $redisSources = add1 $redisSources }}{{ end -}}
{{- if .Values.redis.url }}{{ $redisSources = add1 $redisSources }}{{ end -}}
{{- if .Values.redis.enabled }}{{ $redisSources = add1 $redisSources }}{{ end -}}
{{- if gt $redisSources 1 -}}
{{- fail "rucio-mcp: name one Redis: redis.existingSecret, redis.url or redis.enabled" -}}
{{- end -}}
{{- if and (ne $mode "oidc") (gt $redisSources 0) -}}
{{- fail (printf "rucio-mcp: Redis is only for auth.mode oidc (the state the bridge's replicas share); unset redis.existingSecret, redis.url and redis.enabled for %s" $mode) -}}
{{- end -}}
{{- if eq $mode "oidc" -}}
{{- if gt (int .Values.replicaCount) 1 -}}
{{- if not .Values.auth.oidc.tokenKeys.existingSecret -}}
{{- fail "rucio-mcp: replicaCount > 1 in oidc mode needs auth.oidc.tokenKeys.existingSecret (a Secret with `rucio-mcp token-key` output): every replica must seal and open the same tokens" -}}
{{- end -}}
{{- if eq $redisSources 0 -}}
{{- fail "rucio-mcp: replicaCount > 1 in oidc mode needs Redis (redis.existingSecret, redis.url or redis.enabled): replicas share used codes, rate limits and sign-ins in progress" -}}
{{- end -}}
{{- end -}}
{{- else if eq $mode "sharedSecret" -}}
{{- if ne (len .Values.sites) 1 -}}
{{- fail (printf "rucio-mcp: auth.mode sharedSecret serves exactly one site (one Rucio identity), but sites has %d" (len .Values.sites)) -}}
{{- end -}}
{{- if not .Values.auth.sharedSecret.existingSecret -}}
{{- fail "rucio-mcp: auth.mode sharedSecret needs auth.sharedSecret.existingSecret, a Secret holding the bearer (`openssl rand -hex 32`)" -}}
{{- end -}}
{{- else if eq $mode "resourceServer" -}}
{{- if not .Values.auth.resourceServer.issuer -}}
{{- fail "rucio-mcp: auth.mode resourceServer needs auth.resourceServer.issuer, the authorization server whose tokens are accepted (its exact iss)" -}}
{{- end -}}
{{- $intro := .Values.auth.resourceServer.introspection -}}
{{- if and $intro.clientId (not $intro.existingSecret) -}}
{{- fail "rucio-mcp: auth.resourceServer.introspection.clientId needs introspection.existingSecret, a Secret holding that client's secret" -}}
{{- end -}}
{{- end -}}
{{- if .Values.x509.existingSecret -}}
{{- if and (not .Values.x509.proxyKey) (not .Values.x509.certKey) -}}
{{- fail "rucio-mcp: x509.existingSecret needs x509.certKey and x509.keyKey, or x509.proxyKey" -}}
{{- end -}}
{{- if and .Values.x509.certKey (not .Values.x509.keyKey) -}}
{{- fail "rucio-mcp: x509.certKey needs x509.keyKey" -}}
{{- end -}}
{{- end -}}
{{- if lt (int .Values.server.terminationGraceExtraSeconds) 1 -}}
{{- fail "rucio-mcp: server.terminationGraceExtraSeconds must be at least 1: the pod must outlive the shutdown grace" -}}
{{- end -}}
{{- end }}

{{/* The server's config file (TOML), rendered from the values; secrets only as file paths. */}}
{{- define "rucio-mcp.configToml" -}}
{{- $mode := .Values.auth.mode -}}
{{- $secrets := include "rucio-mcp.secretDir" . -}}
# Rendered by the rucio-mcp Helm chart from its values: `rucio-mcp serve --config` reads it.
transport = "http"
site = {{ include "rucio-mcp.siteSpecs" . }}
read_only = {{ .Values.readOnly }}
log_level = {{ .Values.logLevel | toJson }}
log_format = {{ .Values.logFormat | toJson }}
{{- if and (eq $mode "sharedSecret") .Values.auth.sharedSecret.authType }}
auth_type = {{ .Values.auth.sharedSecret.authType | toJson }}
{{- end }}
{{- if eq $mode "resourceServer" }}
forward_user_token = {{ .Values.auth.resourceServer.forwardUserToken }}
{{- end }}

[http]
auth = {{ get (dict "oidc" "bridge" "sharedSecret" "shared-secret" "resourceServer" "resource-server") $mode | toJson }}
host = "0.0.0.0"
port = {{ int .Values.server.port }}
resource_url = {{ include "rucio-mcp.resourceUrl" . | toJson }}
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
oauth_clients = {{ printf "%s/oauth-clients.json" (include "rucio-mcp.configDir" .) | toJson }}
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

{{/*
Helpers of the gsdns chart.
Owns: names and labels, the service account name, the sync TLS Secret name, and the gsdns config
that the ConfigMap renders ("gsdns.config"): values.config with the keys the pod decides forced in.
Never: emits a manifest by itself.
Invariants: the config's dns.listen, http.listen and sync.listen ports are containerPorts, so the
container ports, probes and Services always point where gsdns listens; /debug (http.debug) is bound
to loopback or off, never on a pod address.
*/}}

{{- define "gsdns.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gsdns.fullname" -}}
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

{{- define "gsdns.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gsdns.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gsdns.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "gsdns.labels" -}}
helm.sh/chart: {{ include "gsdns.chart" . }}
{{ include "gsdns.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gsdns
{{- end }}

{{- define "gsdns.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gsdns.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "gsdns.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}

{{/* The Secret holding ca.crt, tls.crt and tls.key for sync. */}}
{{- define "gsdns.syncTlsSecretName" -}}
{{- if .Values.sync.tls.secretName }}
{{- .Values.sync.tls.secretName }}
{{- else if .Values.sync.tls.certManager.enabled }}
{{- printf "%s-sync-tls" (include "gsdns.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- fail "sync.enabled needs TLS material: set sync.tls.secretName (an existing Secret with ca.crt, tls.crt and tls.key) or sync.tls.certManager.enabled=true with sync.tls.certManager.issuerRef.name" }}
{{- end }}
{{- end }}

{{/* Where the sync TLS Secret is mounted (read-only). */}}
{{- define "gsdns.syncTlsDir" -}}/etc/gsdns/tls{{- end }}

{{/* "::" (dual-stack) when the Service has IPv6 among its families, else "0.0.0.0". */}}
{{- define "gsdns.bindAddress" -}}
{{- if has "IPv6" (.Values.service.ipFamilies | default list) }}::{{ else }}0.0.0.0{{ end }}
{{- end }}

{{/*
The gsdns config file (YAML). values.config carries the chart defaults merged with the user's
values (Helm merges them); this adds what must agree with the pod and the other values.
*/}}
{{- define "gsdns.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) }}
{{- $bind := include "gsdns.bindAddress" . }}
{{- $ports := .Values.containerPorts }}

{{- /* cluster: from .Values.cluster */}}
{{- $c := .Values.cluster }}
{{- $name := required "cluster.name is required: this cluster's name, a lowercase DNS label unique in the mesh (e.g. --set cluster.name=cluster-a)" $c.name }}
{{- $cluster := dict "name" $name }}
{{- if $c.region }}{{ $_ := set $cluster "region" $c.region }}{{ end }}
{{- if $c.zone }}{{ $_ := set $cluster "zone" $c.zone }}{{ end }}
{{- if $c.location }}{{ $_ := set $cluster "location" $c.location }}{{ end }}
{{- if and $c.gateways $c.gatewayService }}
{{- fail "set either cluster.gateways or cluster.gatewayService, not both" }}
{{- end }}
{{- if $c.gateways }}{{ $_ := set $cluster "gateways" $c.gateways }}{{ end }}
{{- if $c.gatewayService }}{{ $_ := set $cluster "gatewayService" $c.gatewayService }}{{ end }}
{{- /* weight 0 (drain) is a value, so test the key, not its truth */}}
{{- if and (hasKey $c "weight") (not (kindIs "invalid" $c.weight)) }}{{ $_ := set $cluster "weight" (int $c.weight) }}{{ end }}
{{- $_ := set $cfg "cluster" $cluster }}

{{- /* dns.listen: the container's dns port, UDP and TCP. */}}
{{- $dns := get $cfg "dns" | default dict }}
{{- $_ := set $dns "listen" (list (dict "address" $bind "port" $ports.dns)) }}
{{- if and .Values.service.clusterIP (ne .Values.service.clusterIP "None") (not (hasKey $dns "nameservers")) }}
{{- /* The apex NS glue: the pinned Service address is where resolvers reach this server. */}}
{{- $_ := set $dns "nameservers" (list (dict "address" .Values.service.clusterIP)) }}
{{- end }}
{{- $_ := set $cfg "dns" $dns }}

{{- /* http.listen: probes and scrapes reach the container's http port. */}}
{{- $http := get $cfg "http" | default dict }}
{{- $_ := set $http "listen" (dict "address" $bind "port" $ports.http) }}
{{- /* http.debug: /debug only on the pod's loopback (kubectl port-forward), or off. */}}
{{- if .Values.debug.enabled }}
{{- $_ := set $http "debug" (dict "enabled" true "listen" (dict "address" (ternary "::1" "127.0.0.1" (eq $bind "::")) "port" .Values.debug.port)) }}
{{- else }}
{{- $_ := set $http "debug" (dict "enabled" false) }}
{{- end }}
{{- $_ := set $cfg "http" $http }}

{{- /* source: always the Kubernetes API through the pod's service account. */}}
{{- $source := get $cfg "source" | default dict }}
{{- $_ := set $source "type" "kubernetes" }}
{{- $_ := set $cfg "source" $source }}

{{- /* sync: from .Values.sync; the TLS files are the mounted Secret's keys. */}}
{{- if .Values.sync.enabled }}
{{- $dir := include "gsdns.syncTlsDir" . }}
{{- $sync := dict "listen" (dict "address" $bind "port" $ports.sync) "trustDomain" .Values.sync.trustDomain }}
{{- $_ := set $sync "tls" (dict "ca" (printf "%s/ca.crt" $dir) "cert" (printf "%s/tls.crt" $dir) "key" (printf "%s/tls.key" $dir)) }}
{{- $_ := set $sync "peers" (.Values.sync.peers | default list) }}
{{- $_ := set $sync "staleAfterSeconds" .Values.sync.staleAfterSeconds }}
{{- $_ := set $sync "applyBudgetPercent" .Values.sync.applyBudgetPercent }}
{{- $_ := set $cfg "sync" $sync }}
{{- else }}
{{- $_ := unset $cfg "sync" }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/* Render-time checks of values that gsdns cannot see. */}}
{{- define "gsdns.validate" -}}
{{- $lameDuck := 5.0 }}
{{- with .Values.config.shutdown }}{{ if hasKey . "lameDuckSeconds" }}{{ $lameDuck = float64 .lameDuckSeconds }}{{ end }}{{ end }}
{{- if lt (float64 .Values.terminationGracePeriodSeconds) (addf $lameDuck 5.0) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be at least config.shutdown.lameDuckSeconds (%v) + 5: the pod is killed before gsdns finishes its lame-duck period" .Values.terminationGracePeriodSeconds $lameDuck) }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (kindIs "invalid" .Values.podDisruptionBudget.minAvailable) (kindIs "invalid" .Values.podDisruptionBudget.maxUnavailable) }}
{{- fail "podDisruptionBudget.enabled needs minAvailable or maxUnavailable" }}
{{- end }}
{{- if and .Values.networkPolicy.enabled .Values.sync.enabled (not .Values.sync.allowedSources) }}
{{- fail "networkPolicy.enabled with sync.enabled needs sync.allowedSources: the peer clusters' source CIDRs, the only addresses admitted to the sync port" }}
{{- end }}
{{- if and .Values.sync.enabled .Values.sync.tls.certManager.enabled (not .Values.sync.tls.certManager.issuerRef.name) }}
{{- fail "sync.tls.certManager.enabled needs sync.tls.certManager.issuerRef.name: the Issuer or ClusterIssuer of the mesh's shared CA" }}
{{- end }}
{{- end }}

{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "vpcflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: release-chart, unless the release name already holds the chart name. */}}
{{- define "vpcflow.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "vpcflow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "vpcflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vpcflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "vpcflow.labels" -}}
helm.sh/chart: {{ include "vpcflow.chart" . }}
{{ include "vpcflow.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: flow-log-pipeline
{{- end -}}

{{- define "vpcflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "vpcflow.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "vpcflow.configMapName" -}}
{{- default (include "vpcflow.fullname" .) .Values.existingConfigMap -}}
{{- end -}}

{{/*
shutdown_timeout as vpcflow reads it, from shutdownTimeoutSeconds: written
into the pipeline file and passed as --shutdown-timeout. The grace period
below is derived from the same value.
*/}}
{{- define "vpcflow.shutdownTimeout" -}}
{{- $s := .Values.shutdownTimeoutSeconds -}}
{{- if not (or (kindIs "int" $s) (kindIs "int64" $s) (kindIs "float64" $s)) -}}
{{- fail (printf "shutdownTimeoutSeconds must be a whole number of seconds, got %v" $s) -}}
{{- end -}}
{{- if or (le (float64 $s) 0.0) (ne (float64 (int $s)) (float64 $s)) -}}
{{- fail (printf "shutdownTimeoutSeconds must be a positive whole number of seconds, got %v" $s) -}}
{{- end -}}
{{- printf "%ds" (int $s) -}}
{{- end -}}

{{/*
terminationGracePeriodSeconds: shutdownTimeoutSeconds plus
terminationGraceMarginSeconds, never less than shutdown_timeout plus one
second (vpcflow exits within shutdown_timeout plus a fraction of a second).
*/}}
{{- define "vpcflow.terminationGracePeriodSeconds" -}}
{{- $_ := include "vpcflow.shutdownTimeout" . -}}
{{- $m := .Values.terminationGraceMarginSeconds -}}
{{- if not (or (kindIs "int" $m) (kindIs "int64" $m) (kindIs "float64" $m)) -}}
{{- fail (printf "terminationGraceMarginSeconds must be a whole number of seconds, got %v" $m) -}}
{{- end -}}
{{- if lt (float64 $m) 1.0 -}}
{{- fail (printf "terminationGraceMarginSeconds must be at least 1 so that the grace period exceeds shutdown_timeout, got %v" $m) -}}
{{- end -}}
{{- add (int .Values.shutdownTimeoutSeconds) (int $m) -}}
{{- end -}}

{{/*
The pipeline file: values.pipeline (a string or a map) with
shutdown_timeout and telemetry.listen set from shutdownTimeoutSeconds and
metricsPort.
*/}}
{{- define "vpcflow.pipeline" -}}
{{- $p := dict -}}
{{- if kindIs "string" .Values.pipeline -}}
{{- $p = fromYaml .Values.pipeline -}}
{{- if hasKey $p "Error" -}}{{- fail (printf "pipeline is not valid YAML: %s" (get $p "Error")) -}}{{- end -}}
{{- else if kindIs "map" .Values.pipeline -}}
{{- $p = deepCopy .Values.pipeline -}}
{{- else -}}
{{- fail "pipeline must be the pipeline file as a string or a map" -}}
{{- end -}}
{{- $tel := deepCopy (default (dict) $p.telemetry) -}}
{{- $_ := set $tel "listen" (printf ":%d" (int .Values.metricsPort)) -}}
{{- $_ := set $p "telemetry" $tel -}}
{{- $_ := set $p "shutdown_timeout" (include "vpcflow.shutdownTimeout" .) -}}
{{- toYaml $p -}}
{{- end -}}

{{/* Replica bounds for autoscaling: maxReplicas, capped by partitions when set. */}}
{{- define "vpcflow.maxReplicas" -}}
{{- $max := int .Values.autoscaling.maxReplicas -}}
{{- $parts := int .Values.autoscaling.partitions -}}
{{- if and (gt $parts 0) (lt $parts $max) -}}{{- $max = $parts -}}{{- end -}}
{{- $max -}}
{{- end -}}

{{/* The PromQL label selector of this release's series. */}}
{{- define "vpcflow.promSelector" -}}
{{- default (printf "namespace=%q,job=%q" .Release.Namespace (include "vpcflow.fullname" .)) .Values.autoscaling.selector -}}
{{- end -}}

{{/* The lag query and target of the chosen lagMetric. */}}
{{- define "vpcflow.lagQuery" -}}
{{- $sel := include "vpcflow.promSelector" . -}}
{{- if eq .Values.autoscaling.lagMetric "records" -}}
sum(vpcflow_source_lag_records{ {{- $sel -}} })
{{- else if eq .Values.autoscaling.lagMetric "seconds" -}}
max(vpcflow_source_lag_seconds{ {{- $sel -}} })
{{- else if eq .Values.autoscaling.lagMetric "queue" -}}
sum(vpcflow_source_queue_messages{ {{- $sel -}} })
{{- else -}}
{{- fail (printf "autoscaling.lagMetric must be records, seconds or queue, got %q" .Values.autoscaling.lagMetric) -}}
{{- end -}}
{{- end -}}

{{- define "vpcflow.lagTarget" -}}
{{- if eq .Values.autoscaling.lagMetric "records" -}}{{ int .Values.autoscaling.targetLagRecords }}
{{- else if eq .Values.autoscaling.lagMetric "seconds" -}}{{ int .Values.autoscaling.targetLagSeconds }}
{{- else -}}{{ int .Values.autoscaling.targetQueueMessages }}
{{- end -}}
{{- end -}}

{{/*
The workload: a StatefulSet when disk buffers have persistent volumes, a
Deployment otherwise.
*/}}
{{- define "vpcflow.workloadKind" -}}
{{- if .Values.buffer.persistence.enabled }}StatefulSet{{ else }}Deployment{{ end }}
{{- end }}

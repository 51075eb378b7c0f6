{{/* Names, labels and shared pieces of the demo's objects. */}}

{{- define "demo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "demo.fullname" -}}
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

{{- define "demo.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "demo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: jetscale-demo
{{- end -}}

{{/* Selector labels of one component: include "demo.selectorLabels" (list $ "gateway") */}}
{{- define "demo.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "demo.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "demo.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The NATS URL(s): the bundled NATS chart's client Service, or externalNats.url. The NATS
chart names its Service like any chart: <release>-nats, or the release alone when it contains
"nats", or nats.fullnameOverride. */}}
{{- define "demo.natsUrl" -}}
{{- if .Values.nats.enabled -}}
{{- $name := "" -}}
{{- if .Values.nats.fullnameOverride -}}
{{- $name = .Values.nats.fullnameOverride -}}
{{- else if contains "nats" .Release.Name -}}
{{- $name = .Release.Name -}}
{{- else -}}
{{- $name = printf "%s-nats" .Release.Name -}}
{{- end -}}
{{- printf "nats://%s.%s.svc:4222" ($name | trunc 63 | trimSuffix "-") .Release.Namespace -}}
{{- else -}}
{{- required "externalNats.url is required when nats.enabled is false" .Values.externalNats.url -}}
{{- end -}}
{{- end -}}

{{/* Environment shared by gateway and consumer: NATS and the JetStream names (ConfigMap), plus
credentials from natsAuth.secretName with the EventConsumer's key names. */}}
{{- define "demo.sharedEnv" -}}
- name: NATS_URL
  value: {{ include "demo.natsUrl" . | quote }}
{{- with .Values.natsAuth.secretName }}
- name: NATS_USER
  valueFrom:
    secretKeyRef: {name: {{ . | quote }}, key: user, optional: true}
- name: NATS_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ . | quote }}, key: password, optional: true}
- name: NATS_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ . | quote }}, key: token, optional: true}
{{- end }}
{{- end -}}

{{/* Rules across several values, which values.schema.json cannot express. */}}
{{- define "demo.validate" -}}
{{- $ec := .Values.eventConsumer -}}
{{- if and $ec.enabled (gt (int $ec.minReplicas) (int $ec.maxReplicas)) -}}
{{- fail (printf "eventConsumer.minReplicas (%v) must not exceed eventConsumer.maxReplicas (%v)" $ec.minReplicas $ec.maxReplicas) -}}
{{- end -}}
{{- if and .Values.nats.enabled .Values.nats.config.cluster.enabled (gt (int .Values.jetstream.replicas) (int .Values.nats.config.cluster.replicas)) -}}
{{- fail (printf "jetstream.replicas (%v) cannot exceed the NATS servers nats.config.cluster.replicas (%v)" .Values.jetstream.replicas .Values.nats.config.cluster.replicas) -}}
{{- end -}}
{{- if and .Values.nats.enabled (not .Values.nats.config.cluster.enabled) (gt (int .Values.jetstream.replicas) 1) -}}
{{- fail (printf "jetstream.replicas (%v) needs a NATS cluster: set nats.config.cluster.enabled=true or jetstream.replicas=1" .Values.jetstream.replicas) -}}
{{- end -}}
{{- end -}}

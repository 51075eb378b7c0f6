{{/* Names and labels shared by every object of the chart. */}}

{{- define "jetscale.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* release-chart, or just the release when it already contains the chart name. */}}
{{- define "jetscale.fullname" -}}
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

{{- define "jetscale.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "jetscale.selectorLabels" -}}
app.kubernetes.io/name: {{ include "jetscale.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "jetscale.labels" -}}
helm.sh/chart: {{ include "jetscale.chart" . }}
{{ include "jetscale.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: jetscale
{{- end -}}

{{- define "jetscale.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "jetscale.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "jetscale.leaseName" -}}
{{- default (printf "%s-leader" (include "jetscale.fullname" .)) .Values.leaderElection.leaseName | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "jetscale.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Rules across several values, which values.schema.json cannot express. */}}
{{- define "jetscale.validate" -}}
{{- $le := .Values.leaderElection -}}
{{- if and (gt (int .Values.replicaCount) 1) (not $le.enabled) -}}
{{- fail (printf "replicaCount=%d needs leaderElection.enabled=true: without a leader every replica would reconcile and fight over /scale" (int .Values.replicaCount)) -}}
{{- end -}}
{{- if not (and (lt (int $le.retryPeriodSeconds) (int $le.renewDeadlineSeconds)) (lt (int $le.renewDeadlineSeconds) (int $le.leaseDurationSeconds))) -}}
{{- fail (printf "leaderElection timings must satisfy retryPeriodSeconds (%v) < renewDeadlineSeconds (%v) < leaseDurationSeconds (%v)" $le.retryPeriodSeconds $le.renewDeadlineSeconds $le.leaseDurationSeconds) -}}
{{- end -}}
{{- if and $le.fenceTargets (not $le.enabled) -}}
{{- fail "leaderElection.fenceTargets needs leaderElection.enabled=true: the fence is set by a standby taking the Lease over, and without a Lease there is none" -}}
{{- end -}}
{{- if and .Values.podDisruptionBudget.enabled (not (kindIs "string" .Values.podDisruptionBudget.minAvailable)) (ge (int .Values.podDisruptionBudget.minAvailable) (int .Values.replicaCount)) -}}
{{- fail (printf "podDisruptionBudget.minAvailable (%v) must be below replicaCount (%v), or no node could ever be drained" .Values.podDisruptionBudget.minAvailable .Values.replicaCount) -}}
{{- end -}}
{{- /* The variables templates/deployment.yaml sets, and the value each comes from. A duplicate env
     name is no error for the API server (the last one wins), so an extraEnv entry would silently
     override the chart: e.g. a metrics port the probes and the Service do not use. */ -}}
{{- $owned := dict "POD_NAME" "the pod's name (downward API)" "POD_NAMESPACE" "the pod's namespace (downward API)" "JETSCALE_METRICS_PORT" "http.port" "JETSCALE_LOG_LEVEL" "logLevel" "JETSCALE_WORKERS" "workers" "JETSCALE_NAMESPACES" "watchNamespaces" "JETSCALE_LEADER_ELECTION" "leaderElection.enabled" "JETSCALE_LEASE_NAME" "leaderElection.leaseName" "JETSCALE_LEASE_NAMESPACE" "the release namespace" "JETSCALE_LEASE_DURATION_SECONDS" "leaderElection.leaseDurationSeconds" "JETSCALE_LEASE_RENEW_DEADLINE_SECONDS" "leaderElection.renewDeadlineSeconds" "JETSCALE_LEASE_RETRY_PERIOD_SECONDS" "leaderElection.retryPeriodSeconds" "JETSCALE_FENCE_TARGETS" "leaderElection.fenceTargets" -}}
{{- range $i, $env := .Values.extraEnv -}}
{{- with get $owned $env.name -}}
{{- if hasPrefix "the " . -}}
{{- fail (printf "extraEnv[%d] %s is set by the chart from %s: remove it from extraEnv" $i $env.name .) -}}
{{- else -}}
{{- fail (printf "extraEnv[%d] %s is set by the chart from %s: set %s instead" $i $env.name . .) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
What the operator touches in every namespace it watches (no Secrets): the rules of its ClusterRole,
or of its Role in each of watchNamespaces.
*/}}
{{- define "jetscale.operatorRules" -}}
# Watch EventConsumers and report on them.
- apiGroups: [jetscale.io]
  resources: [eventconsumers]
  verbs: [get, list, watch]
- apiGroups: [jetscale.io]
  resources: [eventconsumers/status]
  verbs: [patch]
# Read and change the replica count of scale targets, only through /scale; Deployments and
# StatefulSets are also read whole for their ready replicas.
- apiGroups: [apps]
  resources: [deployments/scale, statefulsets/scale]
  verbs: [get, patch]
- apiGroups: [apps]
  resources: [deployments, statefulsets]
  verbs: [get]
{{- range .Values.rbac.scaleTargets }}
# rbac.scaleTargets: {{ .resource }}{{ if .apiGroup }}.{{ .apiGroup }}{{ end }}, scaled through /scale and read as metadata
# for its deletion (its /scale does not say).
- apiGroups: [{{ .apiGroup | quote }}]
  resources: [{{ printf "%s/scale" .resource | quote }}]
  verbs: [get, patch]
- apiGroups: [{{ .apiGroup | quote }}]
  resources: [{{ .resource | quote }}]
  verbs: [get]
{{- end }}
{{- if .Values.leaderElection.fenceTargets }}
# leaderElection.fenceTargets (opt-in; manifests/rbac/fence_targets_role.yaml): patch on the
# target objects themselves, for the annotation a standby sets on each before it takes the Lease
# over, so that a /scale write the old leader sent late fails with 409. It lets the operator
# change anything in those objects, their pod templates included.
- apiGroups: [apps]
  resources: [deployments, statefulsets]
  verbs: [patch]
{{- range .Values.rbac.scaleTargets }}
- apiGroups: [{{ .apiGroup | quote }}]
  resources: [{{ .resource | quote }}]
  verbs: [patch]
{{- end }}
{{- end }}
# Other autoscalers on a target (HPAs; KEDA ScaledObjects when KEDA is installed): jetscale
# yields a target another autoscaler scales.
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [list]
- apiGroups: [keda.sh]
  resources: [scaledobjects]
  verbs: [list]
# Scaling decisions and problems as Events on the EventConsumer.
- apiGroups: ['']
  resources: [events]
  verbs: [create]
{{- end }}

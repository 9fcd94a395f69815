{{/* Chart name, truncated to the 63 characters of a label value. */}}
{{- define "sqsraft-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: prefix of every object the chart creates. */}}
{{- define "sqsraft-operator.fullname" -}}
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

{{/* Labels every object gets. The operator's own "managed-by: sqsraft-operator" label
marks the objects it creates; the chart's objects must not carry it. */}}
{{- define "sqsraft-operator.labels" -}}
{{ include "sqsraft-operator.commonLabels" . }}
{{ include "sqsraft-operator.selectorLabels" . }}
{{- end }}

{{/* Labels of objects that are not part of the operator itself (the QueueCluster). */}}
{{- define "sqsraft-operator.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sqsraft
{{- end }}

{{/* Labels that select the operator pods (never "app.kubernetes.io/name: sqsraft",
which selects server pods). */}}
{{- define "sqsraft-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sqsraft-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/* The selector labels as key=value,... (SQSRAFT_OPERATOR_POD_LABELS). */}}
{{- define "sqsraft-operator.selectorLabelList" -}}
{{- $pairs := list -}}
{{- range $k, $v := include "sqsraft-operator.selectorLabels" . | fromYaml -}}
{{- $pairs = append $pairs (printf "%s=%s" $k $v) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end }}

{{- define "sqsraft-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sqsraft-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "sqsraft-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "sqsraft-operator.serverImage" -}}
{{- printf "%s:%s" .Values.serverImage.repository (default .Chart.AppVersion .Values.serverImage.tag) }}
{{- end }}

{{- define "sqsraft-operator.leaseName" -}}
{{- default (include "sqsraft-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

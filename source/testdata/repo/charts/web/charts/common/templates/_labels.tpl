{{/*
Managed-by label, used by every chart that depends on this one.
*/}}
{{- define "common.labels.managedBy" -}}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

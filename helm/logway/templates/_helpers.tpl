{{- define "logway.name" -}}{{ .Release.Name }}-logway{{- end -}}

{{- define "logway.labels" -}}
app.kubernetes.io/name: logway
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "logway.selector" -}}
app.kubernetes.io/name: logway
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "logway.image" -}}{{ .Values.image.repository }}:{{ .Values.image.tag }}{{- end -}}

{{/* The servers every logway process talks to. */}}
{{- define "logway.env" -}}
- name: LOGWAY_KAFKA_BOOTSTRAP
  value: {{ .Values.kafka.bootstrap | quote }}
{{- if .Values.elasticsearch.urlSecret.name }}
- name: LOGWAY_ES_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.elasticsearch.urlSecret.name }}
      key: {{ .Values.elasticsearch.urlSecret.key | default "url" }}
{{- else }}
- name: LOGWAY_ES_URL
  value: {{ .Values.elasticsearch.url | quote }}
{{- end }}
{{- end -}}

{{/* Liveness and readiness on /metrics: served by its own thread, so a worker busy in a
     long rebalance still answers and is not killed for it. */}}
{{- define "logway.probes" -}}
livenessProbe:
  httpGet: {path: /metrics, port: metrics}
  initialDelaySeconds: 30
  periodSeconds: 20
  timeoutSeconds: 5
  failureThreshold: 6
readinessProbe:
  httpGet: {path: /metrics, port: metrics}
  periodSeconds: 10
  timeoutSeconds: 5
{{- end -}}

{{- define "logway.securityContext" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities: {drop: [ALL]}
{{- end -}}

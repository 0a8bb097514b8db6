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
- name: LOGWAY_KAFKA_SECURITY_PROTOCOL
  value: {{ .Values.kafka.securityProtocol | quote }}
{{- if .Values.kafka.username }}
- name: LOGWAY_KAFKA_SASL_MECHANISM
  value: {{ .Values.kafka.saslMechanism | quote }}
- name: LOGWAY_KAFKA_USERNAME
  value: {{ .Values.kafka.username | quote }}
- name: LOGWAY_KAFKA_PASSWORD_FILE
  value: /etc/logway/kafka/password/{{ .Values.kafka.passwordSecret.key | default "password" }}
{{- end }}
{{- if .Values.kafka.caSecret.name }}
- name: LOGWAY_KAFKA_CA_FILE
  value: /etc/logway/kafka/ca/{{ .Values.kafka.caSecret.key | default "ca.crt" }}
{{- end }}
{{- if .Values.kafka.clientCertSecret }}
- name: LOGWAY_KAFKA_CERT_FILE
  value: /etc/logway/kafka/client/user.crt
- name: LOGWAY_KAFKA_KEY_FILE
  value: /etc/logway/kafka/client/user.key
{{- end }}
{{- with .Values.elasticsearch }}
- name: LOGWAY_ES_URL
  value: {{ .url | quote }}
{{- if .username }}
- name: LOGWAY_ES_USERNAME
  value: {{ .username | quote }}
- name: LOGWAY_ES_PASSWORD_FILE
  value: /etc/logway/es/password/{{ .passwordSecret.key | default "password" }}
{{- end }}
{{- if .apiKeySecret.name }}
- name: LOGWAY_ES_API_KEY_FILE
  value: /etc/logway/es/api-key/{{ .apiKeySecret.key | default "api_key" }}
{{- end }}
{{- if .caSecret.name }}
- name: LOGWAY_ES_CA_FILE
  value: /etc/logway/es/ca/{{ .caSecret.key | default "ca.crt" }}
{{- end }}
{{- if .clientCertSecret }}
- name: LOGWAY_ES_CERT_FILE
  value: /etc/logway/es/client/tls.crt
- name: LOGWAY_ES_KEY_FILE
  value: /etc/logway/es/client/tls.key
{{- end }}
{{- if not .verifyCerts }}
- name: LOGWAY_ES_VERIFY_CERTS
  value: "false"
{{- end }}
{{- end }}
{{- end -}}

{{/* Liveness and readiness on /metrics: served by its own thread, so a worker busy in a
     long rebalance still answers and is not killed for it. */}}
{{- define "logway.probes" -}}
{{- /* /livez: every supervised loop made progress lately; /readyz: and the worker read what
it needs (logway.core.health) */ -}}
livenessProbe:
  httpGet: {path: /livez, port: metrics}
  initialDelaySeconds: 30
  periodSeconds: 20
  timeoutSeconds: 5
  failureThreshold: 6
readinessProbe:
  httpGet: {path: /readyz, port: metrics}
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

{{/* The Kafka login files (password, CA, client certificate), from Secrets, read-only. */}}
{{- define "logway.kafkaMounts" -}}
{{- if .Values.kafka.username }}
- {name: kafka-password, mountPath: /etc/logway/kafka/password, readOnly: true}
{{- end }}
{{- if .Values.kafka.caSecret.name }}
- {name: kafka-ca, mountPath: /etc/logway/kafka/ca, readOnly: true}
{{- end }}
{{- if .Values.kafka.clientCertSecret }}
- {name: kafka-client, mountPath: /etc/logway/kafka/client, readOnly: true}
{{- end }}
{{- end -}}

{{- define "logway.kafkaVolumes" -}}
{{- if .Values.kafka.username }}
- name: kafka-password
  secret:
    secretName: {{ required "kafka.passwordSecret.name is needed with kafka.username" .Values.kafka.passwordSecret.name }}
    items: [{key: {{ .Values.kafka.passwordSecret.key | default "password" }}, path: {{ .Values.kafka.passwordSecret.key | default "password" }}}]
{{- end }}
{{- if .Values.kafka.caSecret.name }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.caSecret.name }}
    items: [{key: {{ .Values.kafka.caSecret.key | default "ca.crt" }}, path: {{ .Values.kafka.caSecret.key | default "ca.crt" }}}]
{{- end }}
{{- if .Values.kafka.clientCertSecret }}
- name: kafka-client
  secret:
    secretName: {{ .Values.kafka.clientCertSecret }}
    items: [{key: user.crt, path: user.crt}, {key: user.key, path: user.key}]
{{- end }}
{{- end -}}

{{/* The Elasticsearch login files (password or API key, CA, client certificate), read-only. */}}
{{- define "logway.esMounts" -}}
{{- with .Values.elasticsearch }}
{{- if .username }}
- {name: es-password, mountPath: /etc/logway/es/password, readOnly: true}
{{- end }}
{{- if .apiKeySecret.name }}
- {name: es-api-key, mountPath: /etc/logway/es/api-key, readOnly: true}
{{- end }}
{{- if .caSecret.name }}
- {name: es-ca, mountPath: /etc/logway/es/ca, readOnly: true}
{{- end }}
{{- if .clientCertSecret }}
- {name: es-client, mountPath: /etc/logway/es/client, readOnly: true}
{{- end }}
{{- end }}
{{- end -}}

{{- define "logway.esVolumes" -}}
{{- with .Values.elasticsearch }}
{{- if .username }}
- name: es-password
  secret:
    secretName: {{ .passwordSecret.name }}
    items: [{key: {{ .passwordSecret.key | default "password" }}, path: {{ .passwordSecret.key | default "password" }}}]
{{- end }}
{{- if .apiKeySecret.name }}
- name: es-api-key
  secret:
    secretName: {{ .apiKeySecret.name }}
    items: [{key: {{ .apiKeySecret.key | default "api_key" }}, path: {{ .apiKeySecret.key | default "api_key" }}}]
{{- end }}
{{- if .caSecret.name }}
- name: es-ca
  secret:
    secretName: {{ .caSecret.name }}
    items: [{key: {{ .caSecret.key | default "ca.crt" }}, path: {{ .caSecret.key | default "ca.crt" }}}]
{{- end }}
{{- if .clientCertSecret }}
- name: es-client
  secret:
    secretName: {{ .clientCertSecret }}
    items: [{key: tls.crt, path: tls.crt}, {key: tls.key, path: tls.key}]
{{- end }}
{{- end }}
{{- end -}}

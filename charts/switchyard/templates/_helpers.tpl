{{/*
Naming, labels and image helpers shared by every template.
*/}}

{{- define "switchyard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: <release>-<chart>, or the release name alone when it already contains the chart name.
*/}}
{{- define "switchyard.fullname" -}}
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

{{- define "switchyard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "switchyard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchyard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "switchyard.labels" -}}
helm.sh/chart: {{ include "switchyard.chart" . }}
{{ include "switchyard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: switchyard
{{- end }}

{{- define "switchyard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "switchyard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Operator image reference: repository@digest when a digest is set, else repository:tag (tag defaults to appVersion).
*/}}
{{- define "switchyard.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Processor image of the default Components: the operator image unless overridden.
*/}}
{{- define "switchyard.processorImage" -}}
{{- $c := .Values.defaultComponents.image }}
{{- if or $c.repository $c.tag }}
{{- printf "%s:%s" (default .Values.image.repository $c.repository) (default (default .Chart.AppVersion .Values.image.tag) $c.tag) }}
{{- else }}
{{- include "switchyard.image" . }}
{{- end }}
{{- end }}

{{/*
Restricted (Pod Security Standards) security contexts, shared by the operator and the test Pod.
*/}}
{{- define "switchyard.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "switchyard.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
The rules the operator needs inside each namespace it watches (also the namespaced half of its ClusterRole).
Least privilege: no secrets, no wildcards; see docs in values.yaml for what each rule is for.
*/}}
{{- define "switchyard.namespacedRules" -}}
# Workflows, Components, RoutingRules, Triggers: watched by kopf, patched for finalizers and kopf's annotations.
- apiGroups: ["switchyard.dev"]
  resources: ["workflows", "components", "routingrules", "triggers"]
  verbs: ["get", "list", "watch", "patch"]
# Triggers create Workflows; finished Workflows are deleted after spec.ttlSecondsAfterFinished or beyond a
# Trigger's historyLimit (and running ones by concurrencyPolicy Replace).
- apiGroups: ["switchyard.dev"]
  resources: ["workflows"]
  verbs: ["create", "delete"]
# WorkflowTemplates: watched for their Ready condition and read when a Workflow names one; never changed.
- apiGroups: ["switchyard.dev"]
  resources: ["workflowtemplates"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["switchyard.dev"]
  resources: ["workflows/status", "components/status", "routingrules/status", "triggers/status", "workflowtemplates/status"]
  verbs: ["get", "patch"]
# Jobs and ConfigMaps are owned by their Workflow, Workflows and pending batches by their Trigger, with
# blockOwnerDeletion; clusters that enforce owner reference permissions (OwnerReferencesPermissionEnforcement,
# e.g. OpenShift) require this for that.
- apiGroups: ["switchyard.dev"]
  resources: ["workflows/finalizers", "triggers/finalizers"]
  verbs: ["update"]
# One Job per workflow node attempt.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["create", "get", "list", "watch", "delete"]
# Job Pods are read for their termination messages (a node's output).
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
# Workflow input and node outputs, Triggers' pending batches (listed after a restart, deleted once sealed into
# a Workflow); user ConfigMaps referenced by Workflows are only read. The operator never deletes a Workflow's
# ConfigMaps: they go with their Workflow (ownerReferences, garbage collection).
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["create", "get", "list", "patch", "delete"]
# Events: the operator's own (create, patch), and the job controller's FailedCreate Warnings on its Jobs, read
# (list, watch) to tell why a Job has no Pod (a quota, Pod Security, a missing ServiceAccount).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch", "list", "watch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
# ArtifactStores: watched, their Ready condition written after a bucket check.
- apiGroups: ["switchyard.dev"]
  resources: ["artifactstores"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["switchyard.dev"]
  resources: ["artifactstores/status"]
  verbs: ["get", "patch"]
# An ArtifactStore's credentials: read one Secret at a time by name (no list or watch: the operator never
# sees Secrets it was not pointed at by an ArtifactStore of the same namespace).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
{{- end }}

{{/*
Leader election: the Lease's name (in the release namespace).
*/}}
{{- define "switchyard.leaseName" -}}
{{- default (include "switchyard.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/*
The cluster-scoped rules kopf needs in every mode: resource discovery and namespace tracking.
*/}}
{{- define "switchyard.clusterRules" -}}
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["list", "watch"]
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["list", "watch"]
{{- if .Values.ingest.enabled }}
# The ingest endpoint authenticates callers' tokens and asks whether they may create Workflows.
- apiGroups: ["authentication.k8s.io"]
  resources: ["tokenreviews"]
  verbs: ["create"]
- apiGroups: ["authorization.k8s.io"]
  resources: ["subjectaccessreviews"]
  verbs: ["create"]
{{- end }}
{{- end }}

#!/usr/bin/env bash
# check-deploy.sh checks everything under deploy/, offline:
#   1. the Helm chart: helm lint, then `helm template` with the default values
#      and with each optional part switched on, validated by kubeconform
#      (strict) against JSON schemas built locally from the Kubernetes
#      OpenAPI document that the k8s.io/kube-openapi Go module ships; the
#      pipeline file the chart renders is checked by `vpcflow validate`;
#   2. the Prometheus alert rules: promtool check rules + promtool test rules;
#   3. the Grafana dashboards and the CloudFormation templates: Go tests in
#      deploy/ (JSON and YAML structure, every metric they use exists in the
#      code, IAM least privilege), plus cfn-lint when it is installed.
#
# Tools come from the Go module proxy (helm, kubeconform) and Debian
# (promtool), installed once into $(go env GOPATH)/bin and /usr/bin; later
# runs reuse them. Prints "N passed, N failed" and exits non-zero on any
# failure.
set -euo pipefail

HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.8.0
# k8s.io/kube-openapi ships the OpenAPI document of Kubernetes v1.27 as test
# data (pkg/schemaconv/testdata/swagger.json); helm's own dependency graph
# already pulls this version.
KUBE_OPENAPI_VERSION=v0.0.0-20260721132016-d427ff9ee9ad

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CHART=deploy/helm/vpcflow
GOBIN=$(go env GOPATH)/bin
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/vpcflow-check-deploy
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$GOBIN" "$CACHE"

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
# check NAME CMD...: runs CMD, output kept in $WORK/out, shown on failure.
check() {
  local name=$1
  shift
  if "$@" >"$WORK/out" 2>&1; then pass "$name"; else fail "$name"; sed 's/^/     /' "$WORK/out"; fi
}
step() { printf '\n== %s\n' "$*"; }

# go_tool NAME PACKAGE MODULE VERSION installs a tool with go install unless
# the binary in GOBIN was already built from MODULE at VERSION.
go_tool() {
  local name=$1 pkg=$2 mod=$3 version=$4 bin="$GOBIN/$1"
  if [ -x "$bin" ] && go version -m "$bin" 2>/dev/null | grep -qE "^[[:space:]]+mod[[:space:]]+$mod[[:space:]]+$version([[:space:]]|$)"; then
    return
  fi
  echo "installing $name $version"
  (cd "$WORK" && GOFLAGS= go install "$pkg@$version")
}

step "tools"
start=$SECONDS
go_tool helm helm.sh/helm/v3/cmd/helm helm.sh/helm/v3 "$HELM_VERSION"
go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform github.com/yannh/kubeconform "$KUBECONFORM_VERSION"
HELM=$GOBIN/helm
KUBECONFORM=$GOBIN/kubeconform
if ! command -v promtool >/dev/null || ! command -v jq >/dev/null; then
  echo "installing promtool (Debian package prometheus) and jq"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends prometheus jq >/dev/null
fi
echo "tools ready in $((SECONDS - start))s: helm $HELM_VERSION, kubeconform $KUBECONFORM_VERSION, $(promtool --version 2>&1 | head -1)"

# Kubernetes JSON schemas, built once per kube-openapi version.
SCHEMAS=$CACHE/schemas-$KUBE_OPENAPI_VERSION
if [ ! -s "$SCHEMAS/deployment-apps-v1.json" ]; then
  dir=$(cd "$WORK" && GOFLAGS= go mod download -json "k8s.io/kube-openapi@$KUBE_OPENAPI_VERSION" | jq -r .Dir)
  swagger=$dir/pkg/schemaconv/testdata/swagger.json
  [ -s "$swagger" ] || { echo "no OpenAPI document at $swagger"; exit 1; }
  rm -rf "$SCHEMAS.tmp" && mkdir -p "$SCHEMAS.tmp"
  jq -r -f deploy/helm/tools/openapi2jsonschema.jq "$swagger" >"$WORK/schemas.tsv"
  awk -F'\t' -v d="$SCHEMAS.tmp" '{ f = d "/" $1; print $2 > f; close(f) }' "$WORK/schemas.tsv"
  rm -rf "$SCHEMAS" && mv "$SCHEMAS.tmp" "$SCHEMAS"
  echo "built $(ls "$SCHEMAS" | wc -l) schemas from $(jq -r .info.version "$swagger") OpenAPI"
fi

# kc FILE [kubeconform flags]: strict validation against the local schemas;
# a kind without a schema is an error unless skipped.
kc() {
  local file=$1
  shift
  "$KUBECONFORM" -strict -summary -schema-location "$SCHEMAS/{{.ResourceKind}}{{.KindSuffix}}.json" "$@" "$file"
}
# render NAME [helm flags]: helm template into $WORK/NAME.yaml.
render() {
  local name=$1
  shift
  "$HELM" template vf "$CHART" --namespace obs "$@" >"$WORK/$name.yaml"
}
# yaml_to_json FILE: the manifests of FILE as a stream of JSON documents.
yaml_to_json() {
  go run ./deploy/helm/tools/yaml2json <"$1"
}

step "helm chart"
check "helm lint --strict" "$HELM" lint --strict "$CHART"
check "alert rules in the chart equal deploy/prometheus" \
  cmp deploy/prometheus/vpcflow-alerts.yaml "$CHART/files/vpcflow-alerts.yaml"

check "render default values" render default
check "kubeconform strict, default values (every kind has a schema)" kc "$WORK/default.yaml"
yaml_to_json "$WORK/default.yaml" >"$WORK/default.json"
check "default: Deployment, Service, ServiceAccount, ConfigMap, PodDisruptionBudget" \
  jq -e -s '[.[].kind] | sort == ["ConfigMap","Deployment","PodDisruptionBudget","Service","ServiceAccount"]' "$WORK/default.json"
check "default: probes on /healthz and /readyz, grace = shutdown 30s + 15s, non-root read-only" \
  jq -e -s '.[] | select(.kind == "Deployment") | .spec.template.spec as $p | $p.containers[0] as $c
    | $c.livenessProbe.httpGet.path == "/healthz" and $c.readinessProbe.httpGet.path == "/readyz"
      and $p.terminationGracePeriodSeconds == 45
      and $p.securityContext.runAsNonRoot and $c.securityContext.readOnlyRootFilesystem
      and ($c.env | map(select(.name == "SUMO_HTTP_URL"))[0].valueFrom.secretKeyRef.name == "vpcflow-collectors")' \
  "$WORK/default.json"
check "default: the command line passes the same shutdown_timeout (30s) as the file, replacing the image's entrypoint" \
  jq -e -s '.[] | select(.kind == "Deployment") | .spec.template.spec.containers[0] as $c
    | $c.command == ["/vpcflow"] and $c.args == ["run", "--config", "/etc/vpcflow/pipeline.yaml", "--shutdown-timeout", "30s"]' \
  "$WORK/default.json"
check "a grace margin below 1s, or a shutdownTimeoutSeconds that is not a positive whole number, is refused" \
  bash -c '! "$0" template vf "$1" --set terminationGraceMarginSeconds=0 >/dev/null 2>&1 &&
    ! "$0" template vf "$1" --set shutdownTimeoutSeconds=0 >/dev/null 2>&1 &&
    ! "$0" template vf "$1" --set shutdownTimeoutSeconds=2.5 >/dev/null 2>&1 &&
    ! "$0" template vf "$1" --set-string shutdownTimeoutSeconds=30s >/dev/null 2>&1' "$HELM" "$CHART"
jq -r -s '.[] | select(.kind == "ConfigMap") | .data["pipeline.yaml"]' "$WORK/default.json" >"$WORK/pipeline.yaml"
check "default: pipeline file sets shutdown_timeout 30s and telemetry.listen :8080" \
  bash -c 'grep -qx "shutdown_timeout: 30s" "$0" && grep -qx "  listen: :8080" "$0"' "$WORK/pipeline.yaml"
check "build vpcflow" go build -o "$WORK/vpcflow" ./cmd/vpcflow
# validate NAME: `vpcflow validate` on the pipeline file of render NAME.
validate() {
  yaml_to_json "$WORK/$1.yaml" | jq -r -s '.[] | select(.kind == "ConfigMap") | .data["pipeline.yaml"]' >"$WORK/$1-pipeline.yaml" &&
    env SQS_QUEUE_URL=https://sqs.us-east-1.amazonaws.com/123456789012/q \
      SUMO_HTTP_URL=https://collectors.invalid/receiver/v1/http/x \
      VPCFLOW_BUFFER_DIR="$WORK/buffer" \
      "$WORK/vpcflow" validate --config "$WORK/$1-pipeline.yaml"
}
check "vpcflow validate on the chart's pipeline file (default values)" validate default

check "render KEDA + ServiceMonitor + PrometheusRule values" render keda -f "$CHART/ci/keda-values.yaml"
check "kubeconform strict, KEDA + ServiceMonitor + PrometheusRule values (CRDs skipped)" \
  kc "$WORK/keda.yaml" -skip ScaledObject,ServiceMonitor,PrometheusRule
yaml_to_json "$WORK/keda.yaml" >"$WORK/keda.json"
check "keda: ScaledObject on summed record lag, maxReplicaCount = partitions (6) < maxReplicas, no replicas in Deployment" \
  jq -e -s '(.[] | select(.kind == "ScaledObject")) as $so | (.[] | select(.kind == "Deployment")) as $d
    | $so.spec.scaleTargetRef.name == $d.metadata.name and $so.spec.maxReplicaCount == 6
      and $so.spec.triggers[0].type == "prometheus"
      and ($so.spec.triggers[0].metadata.query | startswith("sum(vpcflow_source_lag_records{namespace=\"obs\",job=\"vf-vpcflow\"})"))
      and ($d.spec | has("replicas") | not)' "$WORK/keda.json"
check "keda: IRSA role annotation on the ServiceAccount" \
  jq -e -s '.[] | select(.kind == "ServiceAccount") | .metadata.annotations["eks.amazonaws.com/role-arn"] == "arn:aws:iam::123456789012:role/vpcflow-reader"' "$WORK/keda.json"
yaml_to_json deploy/prometheus/vpcflow-alerts.yaml >"$WORK/alerts.json"
check "keda: PrometheusRule carries every alert of deploy/prometheus" \
  jq -e -n --slurpfile r "$WORK/keda.json" --slurpfile a "$WORK/alerts.json" \
  '[$r[] | select(.kind == "PrometheusRule") | .spec.groups[].rules[].alert] == [$a[0].groups[].rules[].alert] and ($a[0].groups | length) > 0' 

check "vpcflow validate on the chart's pipeline file (KEDA values: kafka)" validate keda
check "render HPA values" render hpa -f "$CHART/ci/hpa-values.yaml"
check "vpcflow validate on the chart's pipeline file (HPA values: kinesis)" validate hpa
check "kubeconform strict, HPA values" kc "$WORK/hpa.yaml"
yaml_to_json "$WORK/hpa.yaml" >"$WORK/hpa.json"
check "hpa: external lag-seconds metric, maxReplicas bounded by maxReplicas (4) below partitions" \
  jq -e -s '.[] | select(.kind == "HorizontalPodAutoscaler") | .spec.maxReplicas == 4
    and .spec.metrics[0].external.metric.name == "vpcflow_source_lag_seconds"
    and .spec.metrics[0].external.target.type == "Value"' "$WORK/hpa.json"
check "render disk-buffer values" render buffer -f "$CHART/ci/buffer-values.yaml"
check "vpcflow validate on the chart's pipeline file (disk buffer values)" validate buffer
check "kubeconform strict, disk-buffer values" kc "$WORK/buffer.yaml"
yaml_to_json "$WORK/buffer.yaml" >"$WORK/buffer.json"
check "buffer: a StatefulSet with a 10Gi gp3 claim per replica mounted at VPCFLOW_BUFFER_DIR, no Deployment" \
  jq -e -s '([.[].kind] | index("Deployment") | not) and
    (.[] | select(.kind == "StatefulSet") | .spec as $s | $s.template.spec.containers[0] as $c
      | $s.volumeClaimTemplates[0].metadata.name == "buffer"
        and $s.volumeClaimTemplates[0].spec.resources.requests.storage == "10Gi"
        and $s.volumeClaimTemplates[0].spec.storageClassName == "gp3"
        and $s.persistentVolumeClaimRetentionPolicy.whenScaled == "Retain"
        and ($c.volumeMounts | map(select(.name == "buffer"))[0].mountPath) == "/var/lib/vpcflow/buffer"
        and ($c.env | map(select(.name == "VPCFLOW_BUFFER_DIR"))[0].value) == "/var/lib/vpcflow/buffer")' "$WORK/buffer.json"
check "buffer + KEDA: the ScaledObject targets the StatefulSet" \
  bash -c '"$0" template vf "$1" -f "$1/ci/buffer-values.yaml" --set autoscaling.keda.enabled=true | grep -A3 "scaleTargetRef:" | grep -q "kind: StatefulSet"' "$HELM" "$CHART"
check "both autoscalers at once is refused" \
  bash -c '! "$0" template vf "$1" --set autoscaling.keda.enabled=true --set autoscaling.hpa.enabled=true 2>/dev/null' "$HELM" "$CHART"

step "container image"
# No image is built here (no container engine): check the Dockerfile's
# essentials instead.
dockerfile=deploy/docker/Dockerfile
check "Dockerfile: static build, non-root user, pipeline entrypoint, no :latest" bash -c '
  grep -q "CGO_ENABLED=0" "$0" && grep -q -- "-trimpath" "$0" && grep -q "main.version=" "$0" &&
  grep -qE "^USER 65532(:65532)?$" "$0" &&
  grep -qx "ENTRYPOINT \[\"/vpcflow\", \"run\", \"--config\", \"/etc/vpcflow/pipeline.yaml\"\]" "$0" &&
  ! grep -qiE "^FROM [^ ]+:latest" "$0"' "$dockerfile"

step "prometheus rules"
check "promtool check rules" promtool check rules deploy/prometheus/vpcflow-alerts.yaml
check "promtool test rules" promtool test rules deploy/prometheus/vpcflow-alerts.test.yaml

step "dashboards, CloudFormation templates"
check "go test ./deploy/..." go test -count=1 ./deploy/...
if ! compgen -G "deploy/aws/*.yaml" >/dev/null; then
  fail "no CloudFormation templates in deploy/aws"
elif command -v cfn-lint >/dev/null; then
  check "cfn-lint deploy/aws/*.yaml" cfn-lint deploy/aws/*.yaml
else
  echo "skip cfn-lint: not installed (pip is not reachable here); go test ./deploy/aws/ checked the templates"
fi

echo
echo "check-deploy: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

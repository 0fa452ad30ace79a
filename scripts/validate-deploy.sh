#!/usr/bin/env bash
# Validates the deployment files offline (no network but the package registries):
#   - deploy/compose.yaml against the Compose Specification schema (bundled in check-jsonschema),
#     plus: every file it mounts or reads exists, service_healthy targets have a healthcheck;
#   - deploy/k8s/*.yaml: built-in kinds against Kubernetes' JSON schemas in strict mode (unknown
#     fields refused; bundled in kubernetes-validate) for the oldest and newest versions we
#     support; KEDA's ScaledObject against its CRD schema vendored in deploy/schemas/; plus the
#     ScaledObject covers exactly the shard queues of shared/src/topology.rs, and every container
#     runs non-root, read-only, with no capabilities; the rendered kustomization too when
#     kubectl is installed;
#   - the TOML configs under deploy/compose/ and in the ConfigMap parse;
#   - deploy/grafana/*.json: each dashboard parses, and every panel's query names only metrics
#     the processor exports (read from processor/src/observe/metrics.rs, with the suffixes of
#     each metric's type);
#   - deploy/systemd/* with `systemd-analyze verify` when it is installed;
#   - a self-test: a deliberately broken copy of each kind of file must fail.
# The tools are installed into a virtualenv under ~/.cache (pinned versions) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[validate-deploy] %s\n' "$*" >&2; }

requirements="kubernetes-validate==1.37.0
check-jsonschema==0.39.0
jsonschema==4.26.0
PyYAML==6.0.3"
python=${PYTHON:-python3}
tag=$(printf '%s\n%s\n' "$requirements" "$("$python" -c 'import sys; print(sys.version)')" | sha256sum | cut -c1-12)
venv="${XCS_DEPLOY_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/xcs/validate-deploy-$tag}"
if [[ ! -f "$venv/.installed" ]]; then
  log "installing the validators into $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check $requirements
  touch "$venv/.installed"
fi

log "compose: deploy/compose.yaml against the Compose Specification"
"$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose.yaml

export XCS_VALIDATE_KUBECTL=""
if command -v kubectl >/dev/null 2>&1; then
  XCS_VALIDATE_KUBECTL=$(command -v kubectl)
fi
"$venv/bin/python" - <<'PY'
import copy, glob, json, os, re, subprocess, sys, tomllib

import jsonschema
import kubernetes_validate
import yaml

K8S_VERSIONS = ["1.29.0", "1.37.0"]
KEDA_SCHEMA = "deploy/schemas/keda.sh_scaledobjects.v1alpha1.openapi.yaml"
problems = []


def fail(where, message):
    problems.append(f"{where}: {message}")


def strict(schema):
    """What `kubectl --validate=strict` does for a CRD: objects that declare their properties
    and do not allow more (no additionalProperties, no x-kubernetes-preserve-unknown-fields)
    refuse unknown fields."""
    if isinstance(schema, dict):
        schema = {k: strict(v) for k, v in schema.items()}
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


with open(KEDA_SCHEMA) as f:
    keda_validator = jsonschema.Draft7Validator(strict(yaml.safe_load(f)))

shard_count = int(re.search(r"pub const SHARD_COUNT: usize = (\d+);",
                            open("shared/src/topology.rs").read()).group(1))


def check_object(where, doc):
    """Schema errors of one Kubernetes object, as strings."""
    errors = []
    kind, api = doc.get("kind"), doc.get("apiVersion", "")
    if api.startswith("keda.sh/"):
        if (api, kind) != ("keda.sh/v1alpha1", "ScaledObject"):
            return [f"no vendored schema for {api} {kind}"]
        errors += [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
                   for e in keda_validator.iter_errors(doc)]
        return errors
    for version in K8S_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(map(str, e.absolute_path)) or "<root>"
            errors.append(f"Kubernetes {version}: {path}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            errors.append(e.message)
    return errors


def check_policy(where, doc):
    """What these manifests promise beyond the schema."""
    errors = []
    kind = doc.get("kind")
    if kind == "Deployment":
        pod = doc["spec"]["template"]["spec"]
        if not pod.get("securityContext", {}).get("runAsNonRoot"):
            errors.append("pod securityContext.runAsNonRoot is not true")
        for c in pod.get("containers", []) + pod.get("initContainers", []):
            sc = c.get("securityContext", {})
            if not sc.get("readOnlyRootFilesystem"):
                errors.append(f"container {c['name']}: readOnlyRootFilesystem is not true")
            if sc.get("allowPrivilegeEscalation") is not False:
                errors.append(f"container {c['name']}: allowPrivilegeEscalation is not false")
            if sc.get("capabilities", {}).get("drop") != ["ALL"]:
                errors.append(f"container {c['name']}: capabilities.drop is not [ALL]")
            res = c.get("resources", {})
            if not res.get("requests") or not res.get("limits", {}).get("memory"):
                errors.append(f"container {c['name']}: needs resource requests and a memory limit")
    if kind == "ScaledObject":
        spec = doc["spec"]
        queues = sorted(t.get("metadata", {}).get("queueName", "") for t in spec["triggers"])
        wanted = sorted(f"xcs.shard.{i}" for i in range(shard_count))
        if queues != wanted:
            errors.append(f"triggers watch {queues}, the shard queues are {wanted}")
        if spec.get("maxReplicaCount", 100) > shard_count:
            errors.append(f"maxReplicaCount {spec.get('maxReplicaCount', 100)} > {shard_count} "
                          "shards: single active consumer makes the rest idle")
    if kind == "ConfigMap":
        for key, text in doc.get("data", {}).items():
            if key.endswith(".toml"):
                try:
                    tomllib.loads(text)
                except tomllib.TOMLDecodeError as e:
                    errors.append(f"data.{key}: not valid TOML: {e}")
    return errors


def check_manifests(where, docs, policy=True):
    count = 0
    for i, doc in enumerate(docs):
        if doc is None:
            continue
        count += 1
        name = f"{where}[{i}] {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        for e in check_object(name, doc) + (check_policy(name, doc) if policy else []):
            fail(name, e)
    return count


# --- Kubernetes: every file of the kustomization -------------------------------------------
kustomization = yaml.safe_load(open("deploy/k8s/kustomization.yaml"))
listed = set(kustomization["resources"])
present = {os.path.basename(p) for p in glob.glob("deploy/k8s/*.yaml")} - {"kustomization.yaml"}
for missing in sorted(listed - present):
    fail("deploy/k8s/kustomization.yaml", f"lists {missing}, which does not exist")
for unlisted in sorted(present - listed):
    fail("deploy/k8s/kustomization.yaml", f"does not list {unlisted}")
total = 0
for name in sorted(listed & present):
    with open(f"deploy/k8s/{name}") as f:
        total += check_manifests(f"deploy/k8s/{name}", list(yaml.safe_load_all(f)))
print(f"[validate-deploy] kubernetes: {total} objects in deploy/k8s checked "
      f"(Kubernetes {', '.join(K8S_VERSIONS)} strict; KEDA ScaledObject vendored CRD schema)",
      file=sys.stderr)

kubectl = os.environ.get("XCS_VALIDATE_KUBECTL")
if kubectl:
    rendered = subprocess.run([kubectl, "kustomize", "deploy/k8s"], check=True,
                              capture_output=True, text=True).stdout
    n = check_manifests("kubectl kustomize deploy/k8s", list(yaml.safe_load_all(rendered)))
    print(f"[validate-deploy] kubernetes: the rendered kustomization ({n} objects) checked",
          file=sys.stderr)
else:
    print("[validate-deploy] kubernetes: kubectl not installed; the rendered kustomization "
          "was not checked (the files were)", file=sys.stderr)

# --- Grafana: dashboards over the metrics the processor exports ---------------------------
def exported_metrics():
    """Every series name the processor's registry can expose: the registered names, prefixed,
    with the suffixes of their type (counter `_total`; histogram `_bucket`, `_sum`, `_count`)."""
    source = open("processor/src/observe/metrics.rs").read()
    prefix = re.search(r'Registry::with_prefix\("(\w+)"\)', source).group(1)
    types = dict(re.findall(r"pub (\w+): (?:Family<\w+, )?(Counter|Gauge|Histogram)>?,", source))
    names = set()
    for name, field in re.findall(r'registry\.register\(\s*"(\w+)",.*?metrics\.(\w+)\.clone\(\)',
                                  source, re.S):
        kind = types.get(field)
        if kind is None:
            fail("processor/src/observe/metrics.rs", f"cannot tell the type of {field}")
            continue
        suffixes = {"Counter": ["_total"], "Gauge": [""],
                    "Histogram": ["_bucket", "_sum", "_count"]}[kind]
        names |= {f"{prefix}_{name}{suffix}" for suffix in suffixes}
    return names


PROCESSOR_METRICS = exported_metrics()


def check_dashboard(dash):
    """What is wrong with a dashboard: queries naming series the processor does not export."""
    errors = []
    panels = dash.get("panels")
    if not panels:
        return ["has no panels"]
    ids = [p.get("id") for p in panels]
    if len(set(ids)) != len(ids):
        errors.append(f"panel ids repeat: {ids}")
    for p in panels:
        targets = p.get("targets") or []
        if not targets:
            errors.append(f"panel {p.get('title')!r} has no queries")
        for t in targets:
            expr = t.get("expr", "")
            named = set(re.findall(r"\b(xcs_[a-z0-9_]+)\b", expr))
            if not named:
                errors.append(f"panel {p.get('title')!r}: {expr!r} names no xcs_ metric")
            for unknown in sorted(named - PROCESSOR_METRICS):
                errors.append(f"panel {p.get('title')!r}: {unknown} is not a metric the processor "
                              "exports (processor/src/observe/metrics.rs)")
    return errors


dashboards = sorted(glob.glob("deploy/grafana/*.json"))
if not dashboards:
    fail("deploy/grafana", "no dashboard")
for path in dashboards:
    try:
        dash = json.load(open(path))
    except json.JSONDecodeError as e:
        fail(path, f"not valid JSON: {e}")
        continue
    for e in check_dashboard(dash):
        fail(path, e)
print(f"[validate-deploy] grafana: {len(dashboards)} dashboards checked against "
      f"{len(PROCESSOR_METRICS)} series the processor exports", file=sys.stderr)

# --- Compose: what the schema cannot see ---------------------------------------------------
compose = yaml.safe_load(open("deploy/compose.yaml"))
base = "deploy"
for svc_name, svc in compose["services"].items():
    where = f"deploy/compose.yaml services.{svc_name}"
    if "image" not in svc:
        fail(where, "has no image")
    for env_file in svc.get("env_file", []):
        if not os.path.isfile(os.path.join(base, env_file)):
            fail(where, f"env_file {env_file} does not exist")
    for volume in svc.get("volumes", []):
        source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
        if source.startswith((".", "/")) and not os.path.exists(os.path.join(base, source)):
            fail(where, f"mounts {source}, which does not exist")
    build = svc.get("build")
    if build:
        context = os.path.join(base, build["context"])
        if not os.path.isfile(os.path.join(context, build.get("dockerfile", "Dockerfile"))):
            fail(where, f"build dockerfile {build.get('dockerfile')} not found in {context}")
        dockerfile = open(os.path.join(context, build.get("dockerfile", "Dockerfile"))).read()
        if build.get("target") and not re.search(rf"^FROM .* AS {re.escape(build['target'])}$",
                                                 dockerfile, re.M):
            fail(where, f"build target {build['target']} is not a stage of the Dockerfile")
    for dep, cond in (svc.get("depends_on") or {}).items():
        if dep not in compose["services"]:
            fail(where, f"depends on unknown service {dep}")
        elif cond.get("condition") == "service_healthy" and "healthcheck" not in compose["services"][dep]:
            fail(where, f"waits for {dep} to be healthy, but {dep} has no healthcheck")
for toml_file in sorted(glob.glob("deploy/compose/*.toml") + glob.glob("deploy/config/*.toml")):
    try:
        tomllib.load(open(toml_file, "rb"))
    except tomllib.TOMLDecodeError as e:
        fail(toml_file, f"not valid TOML: {e}")

# --- Self-test: the validators must refuse broken files ------------------------------------
deployment = next(d for d in yaml.safe_load_all(open("deploy/k8s/ingress.yaml"))
                  if d["kind"] == "Deployment")
scaled = yaml.safe_load(open("deploy/k8s/processor-scaledobject.yaml"))
broken = []
b = copy.deepcopy(deployment)
b["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "eighty"
broken.append(("containerPort as a string", b))
b = copy.deepcopy(deployment)
b["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
broken.append(("a misspelt field", b))
b = copy.deepcopy(scaled)
b["spec"]["maxReplicaCount"] = "eight"
broken.append(("ScaledObject maxReplicaCount as a string", b))
b = copy.deepcopy(scaled)
b["spec"]["triggers"][0]["metadata"]["value"] = 500
broken.append(("ScaledObject trigger metadata value as a number", b))
b = copy.deepcopy(scaled)
b["spec"]["pollingIntervall"] = 15
broken.append(("ScaledObject misspelt field", b))
for what, doc in broken:
    if not check_object("self-test", doc):
        fail("self-test", f"{what} was not refused: the Kubernetes validation is not working")
print(f"[validate-deploy] self-test: {len(broken)} broken manifests refused", file=sys.stderr)
if dashboards:
    dash = json.load(open(dashboards[0]))
    broken_dashboards = []
    for what, expr in [("a metric the processor does not export", "rate(xcs_processor_booked[5m])"),
                       ("a counter without _total", "rate(xcs_processor_events[5m])"),
                       ("a gauge with a counter's suffix", "xcs_processor_shards_held_total")]:
        b = copy.deepcopy(dash)
        b["panels"][0]["targets"][0]["expr"] = expr
        broken_dashboards.append((what, b))
    for what, b in broken_dashboards:
        if not check_dashboard(b):
            fail("self-test", f"a dashboard naming {what} was not refused: the Grafana check "
                              "is not working")
    print(f"[validate-deploy] self-test: {len(broken_dashboards)} broken dashboards refused",
          file=sys.stderr)

if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
PY

# A compose file the schema must refuse (a healthcheck interval that is a list).
broken_compose=$(mktemp --suffix=.yaml)
trap 'rm -f "$broken_compose"' EXIT
sed 's/^      interval: 10s$/      interval: [10s]/' deploy/compose.yaml >"$broken_compose"
if cmp -s deploy/compose.yaml "$broken_compose" \
  || "$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec "$broken_compose" >/dev/null 2>&1; then
  log "self-test: a broken compose file was not refused: the compose validation is not working"
  exit 1
fi
log "self-test: a broken compose file refused"

if command -v systemd-analyze >/dev/null 2>&1; then
  # verify needs the binaries and the system's units: a scratch root provides them.
  root=$(mktemp -d)
  trap 'rm -f "$broken_compose"; rm -rf "$root"' EXIT
  mkdir -p "$root/usr/local/bin" "$root/etc/systemd/system" "$root/usr/lib/systemd"
  cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/" 2>/dev/null || true
  for bin in xcs-ingress xcs-processor; do
    printf '#!/bin/sh\n' >"$root/usr/local/bin/$bin"
    chmod +x "$root/usr/local/bin/$bin"
  done
  cp deploy/systemd/* "$root/etc/systemd/system/"
  units=(xcs-ingress.service xcs-processor.service xcs-processor@1.service xcs-processor.target)
  out=$(systemd-analyze verify --root="$root" "${units[@]}" 2>&1) || { printf '%s\n' "$out" >&2; exit 1; }
  # Unknown keys and the like are warnings with exit status 0: refuse them too.
  if [[ -n "$out" ]]; then printf '%s\n' "$out" >&2; exit 1; fi
  log "systemd: ${units[*]} verified"
else
  log "systemd: systemd-analyze not installed; deploy/systemd not verified"
fi
log "deployment files valid"

//! `cargo xtask helm [--check]`: the Helm charts of `deploy/helm/`, rendered and checked.
//!
//! - Generated files: each chart carries a copy of its Grafana dashboard (`dashboards/NAME.json`,
//!   since Helm reads only files inside the chart) and the workspace version as `appVersion`.
//!   Without `--check` they are written; with it, a difference is an error.
//! - Rendering: Helm's own engine, the Helm v4 Go SDK that the PyPI package `helm-python-sdk`
//!   ships as a shared library (no helm binary, no cluster, no network), in a venv under
//!   `target/xtask-cache/helm-venv/` with `kubernetes-validate` (the Kubernetes JSON schemas,
//!   bundled). Every values file of `deploy/helm/CHART/ci/` is rendered (as `helm template` and as
//!   `helm install --dry-run=client`), linted (`helm lint --strict`), and every object validated
//!   against the schemas of Kubernetes 1.30 (custom resources, the ServiceMonitor, by their
//!   apiVersion and kind here instead); each combination the charts refuse must fail with its
//!   message.
//! - Properties of the rendered objects: security contexts, Secret file modes, probes, ports, the
//!   config checksum, and each server's config file, read by the real `rucio-mcp config check` /
//!   `dirac-mcp config check` with the files it names made in a directory standing for the pod.
//!
//! The rendered manifests are left in `target/helm/rendered/` to read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::{Value, json};

use crate::clients::pip_venv;
use crate::{cargo, root, run, target_dir};

/// Helm v4.2.3's Go SDK as a shared library (`helm_python`).
const HELM_SDK: (&str, &str) = ("helm-python-sdk", "0.2.2");
/// The Kubernetes JSON schemas of 1.25 to 1.37, in the package.
const KUBERNETES_VALIDATE: (&str, &str) = ("kubernetes-validate", "1.37.0");
/// The Kubernetes version the objects are validated against.
const KUBE_VERSION: &str = "1.30.0";
const NAMESPACE: &str = "mcp";

#[derive(Clone, Copy)]
struct Chart {
    name: &'static str,
    /// The prefix of the server's environment variables.
    env: &'static str,
}

const CHARTS: [Chart; 2] = [
    Chart { name: "rucio-mcp", env: "RUCIO_MCP_" },
    Chart { name: "dirac-mcp", env: "DIRAC_MCP_" },
];

/// Values each chart must refuse: (chart, the ci values file it starts from, values over it, a
/// piece of the message).
const REFUSED: &[(&str, &str, &str, &str)] = &[
    ("rucio-mcp", "shared-secret", r#"{"sites": ["atlas", "cms"]}"#, "serves exactly one site"),
    (
        "rucio-mcp",
        "oidc-one-replica",
        r#"{"replicaCount": 2}"#,
        "replicaCount > 1 in oidc mode needs auth.oidc.tokenKeys.existingSecret",
    ),
    (
        "rucio-mcp",
        "oidc-one-replica",
        r#"{"replicaCount": 2, "auth": {"oidc": {"tokenKeys": {"existingSecret": "k"}}}}"#,
        "replicaCount > 1 in oidc mode needs Redis",
    ),
    (
        "rucio-mcp",
        "resource-server",
        r#"{"auth": {"resourceServer": {"issuer": ""}}}"#,
        "resourceServer needs auth.resourceServer.issuer",
    ),
    (
        "rucio-mcp",
        "oidc-one-replica",
        r#"{"ingress": {"enabled": true}}"#,
        "ingress.enabled needs ingress.host",
    ),
    (
        "rucio-mcp",
        "oidc-one-replica",
        r#"{"server": {"resourceUrl": ""}}"#,
        "set server.resourceUrl",
    ),
    (
        "rucio-mcp",
        "shared-secret",
        r#"{"auth": {"sharedSecret": {"existingSecret": ""}}}"#,
        "sharedSecret needs auth.sharedSecret.existingSecret",
    ),
    (
        "rucio-mcp",
        "resource-server",
        r#"{"auth": {"resourceServer": {"introspection": {"existingSecret": ""}}}}"#,
        "introspection.clientId needs introspection.existingSecret",
    ),
    ("rucio-mcp", "resource-server", r#"{"redis": {"enabled": true}}"#, "Redis is only for"),
    ("rucio-mcp", "oidc-replicas", r#"{"redis": {"url": "redis://r:6379/0"}}"#, "name one Redis"),
    ("rucio-mcp", "oidc-one-replica", r#"{"auth": {"mode": "bridge"}}"#, "auth.mode must be"),
    (
        "rucio-mcp",
        "shared-secret",
        r#"{"x509": {"certKey": "", "proxyKey": ""}}"#,
        "x509.existingSecret needs",
    ),
    ("dirac-mcp", "shared-secret", r#"{"sites": ["lhcb", "dune"]}"#, "serves one site"),
    (
        "dirac-mcp",
        "oidc-one-replica",
        r#"{"replicaCount": 2}"#,
        "replicaCount > 1 in oidc mode needs auth.oidc.tokenKeys.existingSecret",
    ),
    (
        "dirac-mcp",
        "oidc-one-replica",
        r#"{"replicaCount": 2, "auth": {"oidc": {"tokenKeys": {"existingSecret": "k"}}}}"#,
        "replicaCount > 1 in oidc mode needs Redis",
    ),
    (
        "dirac-mcp",
        "resource-server",
        r#"{"auth": {"resourceServer": {"issuer": ""}}}"#,
        "resourceServer needs auth.resourceServer.issuer",
    ),
    (
        "dirac-mcp",
        "resource-server-keycloak",
        r#"{"sites": ["lhcb", "dune"]}"#,
        "one site, but sites has 2",
    ),
    (
        "dirac-mcp",
        "oidc-one-replica",
        r#"{"ingress": {"enabled": true}}"#,
        "ingress.enabled needs ingress.host",
    ),
    (
        "dirac-mcp",
        "shared-secret",
        r#"{"replicaCount": 2}"#,
        "needs state.persistence with accessModes [ReadWriteMany]",
    ),
    ("dirac-mcp", "oidc-one-replica", r#"{"diracx": {"url": ""}}"#, "diracx.url is required"),
    ("dirac-mcp", "oidc-one-replica", r#"{"sites": ["lhcb=a=b"]}"#, "is not NAME, NAME=VO"),
];

/// `cargo xtask helm [--check]`.
pub(crate) fn run_helm(check: bool) -> Result<(), String> {
    let started = Instant::now();
    let version = workspace_version()?;
    let mut problems = Vec::new();
    for chart in CHARTS {
        problems.extend(generated_files(chart, &version, check)?);
    }
    let venv = target_dir().join("xtask-cache/helm-venv");
    pip_venv(&venv, HELM_SDK.0, HELM_SDK.1)?;
    pip_venv(&venv, KUBERNETES_VALIDATE.0, KUBERNETES_VALIDATE.1)?;
    run(Command::new(cargo())
        .args(["build", "--quiet", "-p", "rucio-mcp", "-p", "dirac-mcp"])
        .current_dir(root()))?;

    let work = target_dir().join("helm");
    let (cases, expected) = cases()?;
    let outcomes = render(&venv, &work, &cases)?;
    let mut rendered = BTreeMap::new();
    for outcome in &outcomes {
        let id = outcome["id"].as_str().unwrap_or_default().to_owned();
        match expected.get(&id) {
            Some(Expected::Refused(message)) => match outcome["error"].as_str() {
                Some(error) if error.contains(message.as_str()) => {}
                Some(error) => {
                    problems.push(format!("{id}: refused, but not with {message:?}: {error}"))
                }
                None => problems.push(format!("{id}: rendered, but must fail with {message:?}")),
            },
            Some(Expected::Renders(chart)) => {
                if let Some(error) = outcome["error"].as_str() {
                    problems.push(format!("{id}: {error}"));
                    continue;
                }
                let found = check_case(*chart, &id, outcome, &version, &work)?;
                problems.extend(found.into_iter().map(|p| format!("{id}: {p}")));
                rendered.insert(id, outcome);
            }
            None => problems.push(format!("{id}: an outcome nobody asked for")),
        }
    }
    // A change of the settings changes the pods' checksum annotation (and so rolls them).
    for chart in CHARTS {
        let base = rendered.get(&format!("{}/oidc-one-replica", chart.name));
        let variant = rendered.get(&format!("{}/oidc-one-replica+debug", chart.name));
        if let (Some(base), Some(variant)) = (base, variant)
            && checksum(base) == checksum(variant)
        {
            problems.push(format!(
                "{}: another log level leaves the checksum/config annotation as it was",
                chart.name
            ));
        }
    }
    let valid = expected.values().filter(|e| matches!(e, Expected::Renders(_))).count();
    let values_files = valid - CHARTS.len(); // less the +debug variant of each chart
    if !problems.is_empty() {
        return Err(format!(
            "the Helm charts have {} problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        ));
    }
    println!(
        "helm: the {values_files} values files of {} charts render (Helm {}), pass `helm lint \
         --strict` and the Kubernetes {KUBE_VERSION} schemas, and their server configs pass \
         `config check`; the {} refused combinations fail with their message ({:.1} s; manifests \
         in {})",
        CHARTS.len(),
        helm_version(&outcomes),
        expected.len() - valid,
        started.elapsed().as_secs_f64(),
        work.join("rendered").display()
    );
    Ok(())
}

enum Expected {
    Renders(Chart),
    Refused(String),
}

/// The render requests, and what each must give.
fn cases() -> Result<(Vec<Value>, BTreeMap<String, Expected>), String> {
    let mut cases = Vec::new();
    let mut expected = BTreeMap::new();
    for chart in CHARTS {
        let dir = chart_dir(chart);
        let ci = dir.join("ci");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&ci)
            .map_err(|e| format!("cannot list {}: {e}", ci.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        if files.len() < 4 {
            return Err(format!(
                "{} has {} values files, expected one per mode",
                ci.display(),
                files.len()
            ));
        }
        let case = |id: String, file: &Path, set: Value| {
            json!({
                "id": id, "chart": dir, "values_file": file, "set": set,
                "release": chart.name, "namespace": NAMESPACE,
            })
        };
        for file in &files {
            let stem = file.file_stem().unwrap_or_default().to_string_lossy();
            let id = format!("{}/{stem}", chart.name);
            cases.push(case(id.clone(), file, json!({})));
            expected.insert(id, Expected::Renders(chart));
        }
        let id = format!("{}/oidc-one-replica+debug", chart.name);
        cases.push(case(
            id.clone(),
            &ci.join("oidc-one-replica.yaml"),
            json!({"logLevel": "debug"}),
        ));
        expected.insert(id, Expected::Renders(chart));
        for (i, (name, base, set, message)) in REFUSED.iter().enumerate() {
            if *name != chart.name {
                continue;
            }
            let set: Value = serde_json::from_str(set).map_err(|e| format!("REFUSED[{i}]: {e}"))?;
            let id = format!("{}/refused-{i}", chart.name);
            cases.push(case(id.clone(), &ci.join(format!("{base}.yaml")), set));
            expected.insert(id, Expected::Refused((*message).to_owned()));
        }
    }
    Ok((cases, expected))
}

/// Runs the render script on `cases`; its outcomes, in the same order.
fn render(venv: &Path, work: &Path, cases: &[Value]) -> Result<Vec<Value>, String> {
    let home = work.join("home");
    let out = work.join("rendered");
    for dir in [&home, &out] {
        if dir.exists() {
            std::fs::remove_dir_all(dir)
                .map_err(|e| format!("cannot empty {}: {e}", dir.display()))?;
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let script = work.join("render.py");
    let request = work.join("request.json");
    write(&script, RENDER_PY)?;
    let body = json!({"kube_version": KUBE_VERSION, "out_dir": out, "cases": cases});
    write(&request, &body.to_string())?;
    let output = Command::new(venv.join("bin/python"))
        .arg(&script)
        .arg(&request)
        // Helm's own directories, and no cluster: nothing of the developer's is read or written.
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env("KUBECONFIG", home.join("no-kubeconfig"))
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !output.status.success() {
        return Err(format!("{} failed ({})", script.display(), output.status));
    }
    let answer: Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("{} printed no JSON: {e}", script.display()))?;
    let outcomes = answer["cases"].as_array().cloned().unwrap_or_default();
    if outcomes.len() != cases.len() {
        return Err(format!(
            "{} answered {} of {} cases",
            script.display(),
            outcomes.len(),
            cases.len()
        ));
    }
    let helm = answer["helm"].as_str().unwrap_or("?");
    Ok(outcomes
        .into_iter()
        .map(|mut o| {
            o["helm"] = json!(helm);
            o
        })
        .collect())
}

fn helm_version(outcomes: &[Value]) -> String {
    outcomes.first().and_then(|o| o["helm"].as_str()).unwrap_or("?").to_owned()
}

/// The rendered objects of one outcome.
fn objects(outcome: &Value) -> Vec<&Value> {
    outcome["objects"]
        .as_array()
        .map(|a| a.iter().map(|o| &o["object"]).collect())
        .unwrap_or_default()
}

fn component(object: &Value) -> &str {
    object["metadata"]["labels"]["app.kubernetes.io/component"].as_str().unwrap_or_default()
}

/// The server's Deployment.
fn server(outcome: &Value) -> Option<&Value> {
    objects(outcome).into_iter().find(|o| o["kind"] == "Deployment" && component(o) == "server")
}

fn checksum(outcome: &Value) -> Option<&str> {
    server(outcome)?["spec"]["template"]["metadata"]["annotations"]["checksum/config"].as_str()
}

/// Every property one rendered values file must have; the problems found.
fn check_case(
    chart: Chart,
    id: &str,
    outcome: &Value,
    version: &str,
    work: &Path,
) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    let mut expect = |ok: bool, problem: String| {
        if !ok {
            problems.push(problem);
        }
    };
    for message in outcome["lint"].as_array().into_iter().flatten() {
        expect(false, format!("helm lint: {message}"));
    }
    for entry in outcome["objects"].as_array().into_iter().flatten() {
        let object = &entry["object"];
        let what =
            format!("{} {}", object["kind"].as_str().unwrap_or("?"), object["metadata"]["name"]);
        let schema = entry["schema"].as_str().unwrap_or_default();
        if schema == "custom resource" {
            expect(
                object["apiVersion"] == "monitoring.coreos.com/v1"
                    && object["kind"] == "ServiceMonitor",
                format!(
                    "{what}: a custom resource other than a monitoring.coreos.com/v1 ServiceMonitor"
                ),
            );
        } else {
            expect(schema.starts_with("ok"), format!("{what}: {schema}"));
        }
        if let Some(pod) = pod_spec(object) {
            for problem in pod_problems(pod) {
                expect(false, format!("{what}: {problem}"));
            }
        }
    }

    let Some(deployment) = server(outcome) else {
        expect(false, "no Deployment of the server".to_owned());
        return Ok(problems);
    };
    let template = &deployment["spec"]["template"];
    let pod = &template["spec"];
    let containers = pod["containers"].as_array().cloned().unwrap_or_default();
    let Some(container) = containers.iter().find(|c| c["name"] == chart.name) else {
        expect(false, format!("no container {} in the Deployment", chart.name));
        return Ok(problems);
    };
    let config_map = objects(outcome)
        .into_iter()
        .find(|o| o["kind"] == "ConfigMap" && o["data"]["config.toml"].is_string());
    let Some(config_map) = config_map else {
        expect(false, "no ConfigMap with config.toml".to_owned());
        return Ok(problems);
    };
    let config = &outcome["configs"][config_map["metadata"]["name"].as_str().unwrap_or_default()];
    expect(config.is_object(), format!("config.toml is not TOML: {}", config["error"]));
    let http = &config["http"];

    let replicas = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
    let annotation = checksum(outcome).unwrap_or_default();
    expect(
        annotation.len() == 64 && annotation.bytes().all(|b| b.is_ascii_hexdigit()),
        format!("the pod template's checksum/config annotation is {annotation:?}"),
    );
    let image = container["image"].as_str().unwrap_or_default();
    let pinned = image.split_once('@').is_some_and(|(_, d)| {
        d.strip_prefix("sha256:")
            .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
    });
    expect(
        pinned
            || image.rsplit_once(':').is_some_and(|(_, tag)| !tag.is_empty() && !tag.contains('/')),
        format!("the image {image:?} is neither repository:tag nor repository@sha256:…"),
    );
    if id.ends_with("/oidc-one-replica") {
        expect(
            image == format!("{}:{version}", chart.name),
            format!("the default image is {image:?}, not {}:{version}", chart.name),
        );
    }
    expect(
        container["command"] == json!([format!("/usr/local/bin/{}", chart.name)]),
        format!("the command is {}", container["command"]),
    );
    expect(
        pod["terminationGracePeriodSeconds"].as_i64() > http["shutdown_grace"].as_i64(),
        format!(
            "terminationGracePeriodSeconds {} does not outlast the shutdown grace {}",
            pod["terminationGracePeriodSeconds"], http["shutdown_grace"]
        ),
    );
    expect(
        pod["enableServiceLinks"] == false,
        "enableServiceLinks is not false (a Service's variables would clash with the server's own)"
            .to_owned(),
    );
    expect(
        pod["automountServiceAccountToken"] == false,
        "a service account token is mounted".to_owned(),
    );
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let get = &container[probe]["httpGet"];
        expect(
            get["path"] == path && get["port"] == "http",
            format!("{probe} is {}", container[probe]),
        );
    }
    let port = |name: &str| {
        container["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == name)
            .map(|p| p["containerPort"].clone())
    };
    expect(
        port("http") == Some(http["port"].clone()),
        format!("the http port is not [http] port {}", http["port"]),
    );
    expect(
        port("metrics") == Some(http["metrics_port"].clone()),
        format!("the metrics port is not [http] metrics_port {}", http["metrics_port"]),
    );
    expect(
        http["host"] == "0.0.0.0" && http["metrics_host"] == "0.0.0.0",
        format!(
            "[http] host {} and metrics_host {} must be 0.0.0.0 in a pod",
            http["host"], http["metrics_host"]
        ),
    );
    let mounts = container["volumeMounts"].as_array().cloned().unwrap_or_default();
    let tmp =
        mounts.iter().find(|m| m["mountPath"] == "/tmp").and_then(|m| volume(pod, &m["name"]));
    expect(tmp.is_some_and(|v| v["emptyDir"].is_object()), "/tmp is not an emptyDir".to_owned());
    for env in container["env"].as_array().into_iter().flatten() {
        let name = env["name"].as_str().unwrap_or_default();
        if name.ends_with("REDIS_URL") {
            let in_chart = env["value"]
                .as_str()
                .is_some_and(|v| v.contains(&format!("{}-redis:", chart.name)));
            expect(
                in_chart || env["valueFrom"]["secretKeyRef"].is_object(),
                format!("{name} comes from no Secret: {env}"),
            );
        }
    }

    // The objects around the server.
    let all = objects(outcome);
    let kinds = |kind: &'static str| all.iter().copied().filter(move |o| o["kind"] == kind);
    let pdb = kinds("PodDisruptionBudget").next().is_some();
    expect(
        pdb == (replicas > 1),
        format!("{replicas} replica(s) with{} a PodDisruptionBudget", if pdb { "" } else { "out" }),
    );
    let service = kinds("Service").find(|s| component(s) == "server");
    let service_ports: Vec<&str> = service
        .and_then(|s| s["spec"]["ports"].as_array())
        .map(|ports| ports.iter().filter_map(|p| p["targetPort"].as_str()).collect())
        .unwrap_or_default();
    expect(
        service_ports == ["http", "metrics"],
        format!("the Service's target ports are {service_ports:?}"),
    );
    for ingress in kinds("Ingress") {
        let rules = ingress["spec"]["rules"].as_array().cloned().unwrap_or_default();
        let hosts: Vec<&Value> = rules.iter().map(|r| &r["host"]).collect();
        let backends: Vec<Value> = rules
            .iter()
            .flat_map(|r| r["http"]["paths"].as_array().cloned().unwrap_or_default())
            .map(|p| p["backend"]["service"]["port"]["name"].clone())
            .collect();
        expect(
            backends.iter().all(|p| p == "http"),
            format!("the ingress reaches {backends:?}, not only http"),
        );
        let tls: Vec<&Value> = ingress["spec"]["tls"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|t| t["hosts"].as_array().into_iter().flatten())
            .collect();
        expect(
            tls == hosts,
            format!("the ingress has TLS for {tls:?}, its rules are for {hosts:?}"),
        );
        let url =
            format!("https://{}/", hosts.first().and_then(|h| h.as_str()).unwrap_or_default());
        // The ci values files with an ingress leave the resource URL to its default.
        expect(
            http["resource_url"] == url.as_str(),
            format!("the resource URL {} is not the ingress's {url}", http["resource_url"]),
        );
    }
    for policy in kinds("NetworkPolicy").filter(|p| component(p) == "server") {
        let rules = policy["spec"]["ingress"].as_array().cloned().unwrap_or_default();
        let ports: Vec<Vec<&str>> = rules
            .iter()
            .map(|r| {
                r["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["port"].as_str())
                    .collect()
            })
            .collect();
        expect(
            ports == [vec!["http"], vec!["metrics"]],
            format!("the NetworkPolicy opens {ports:?}, not http and metrics apart"),
        );
    }
    for monitor in kinds("ServiceMonitor") {
        let endpoint = &monitor["spec"]["endpoints"][0];
        expect(
            endpoint["port"] == "metrics" && endpoint["path"] == "/metrics",
            format!("the ServiceMonitor scrapes {endpoint}"),
        );
        let selector =
            monitor["spec"]["selector"]["matchLabels"].as_object().cloned().unwrap_or_default();
        let labels = service.map(|s| &s["metadata"]["labels"]);
        expect(
            !selector.is_empty()
                && selector.iter().all(|(k, v)| labels.is_some_and(|l| &l[k] == v)),
            "the ServiceMonitor does not select the server's Service".to_owned(),
        );
    }
    for dashboard in
        kinds("ConfigMap").filter(|c| c["metadata"]["labels"]["grafana_dashboard"] == "1")
    {
        let source = root().join(format!("deploy/grafana/{}.json", chart.name));
        let want: Value = read_json(&source)?;
        let key = format!("{}.json", chart.name);
        let got: Value = dashboard["data"][&key]
            .as_str()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default();
        expect(got == want, format!("the dashboard ConfigMap's {key} is not {}", source.display()));
    }
    let hooks: Vec<&Value> =
        kinds("Pod").filter(|p| p["metadata"]["annotations"]["helm.sh/hook"] == "test").collect();
    let healthz = hooks.iter().any(|p| {
        p["spec"]["containers"][0]["args"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a.as_str().is_some_and(|a| a.ends_with("/healthz")))
    });
    expect(healthz, "no `helm test` pod GETs /healthz".to_owned());

    problems.extend(config_check(chart, id, config_map, pod, container, work)?);
    Ok(problems)
}

/// The pod spec of a Deployment or a Pod.
fn pod_spec(object: &Value) -> Option<&Value> {
    match object["kind"].as_str() {
        Some("Deployment") => Some(&object["spec"]["template"]["spec"]),
        Some("Pod") => Some(&object["spec"]),
        _ => None,
    }
}

/// The hardening every pod of the charts has: no root, no privilege, a read-only root, no
/// capabilities, the runtime's seccomp profile, Secret files readable by their owner only.
fn pod_problems(pod: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let context = &pod["securityContext"];
    if context["runAsNonRoot"] != true || context["seccompProfile"]["type"] != "RuntimeDefault" {
        problems.push(format!("pod securityContext {context}"));
    }
    let containers = ["initContainers", "containers"]
        .iter()
        .flat_map(|k| pod[*k].as_array().cloned().unwrap_or_default());
    for container in containers {
        let c = &container["securityContext"];
        let drops_all =
            c["capabilities"]["drop"].as_array().is_some_and(|d| d.iter().any(|x| x == "ALL"));
        if c["allowPrivilegeEscalation"] != false
            || c["readOnlyRootFilesystem"] != true
            || !drops_all
        {
            problems.push(format!("container {} securityContext {c}", container["name"]));
        }
        let uid = c["runAsUser"].as_i64().or_else(|| context["runAsUser"].as_i64());
        if uid.is_none_or(|u| u == 0) {
            problems.push(format!("container {} runs as uid {uid:?}", container["name"]));
        }
    }
    for volume in pod["volumes"].as_array().into_iter().flatten() {
        if volume["secret"].is_object() && volume["secret"]["defaultMode"] != 0o400 {
            problems.push(format!(
                "Secret volume {} has mode {}, not 0400",
                volume["name"], volume["secret"]["defaultMode"]
            ));
        }
    }
    if let Some(server) = pod["containers"].as_array().and_then(|c| c.first()) {
        let uid = server["securityContext"]["runAsUser"]
            .as_i64()
            .or_else(|| context["runAsUser"].as_i64());
        let redis = server["name"] == "redis";
        if !redis && uid != Some(65532) {
            problems.push(format!("{} runs as uid {uid:?}, not the image's 65532", server["name"]));
        }
    }
    problems
}

fn volume<'a>(pod: &'a Value, name: &Value) -> Option<&'a Value> {
    pod["volumes"].as_array()?.iter().find(|v| &v["name"] == name)
}

/// `rucio-mcp config check` (or dirac-mcp's) on the rendered config file, in a directory that
/// stands for the pod's filesystem: every path the config and the environment name must lie in a
/// volume the container mounts (and be a file that volume holds); the files are made there with
/// plausible content, the paths rewritten into the directory.
fn config_check(
    chart: Chart,
    id: &str,
    config_map: &Value,
    pod: &Value,
    container: &Value,
    work: &Path,
) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    let fs = work.join("pods").join(id.replace('/', "_"));
    if fs.exists() {
        std::fs::remove_dir_all(&fs).map_err(|e| format!("cannot empty {}: {e}", fs.display()))?;
    }
    let mounts = container["volumeMounts"].as_array().cloned().unwrap_or_default();
    let mut files: Vec<String> = Vec::new();
    // Where a path of the pod lies: its mount (the longest prefix), and whether that volume holds
    // a file there.
    let mut resolve = |path: &str, problems: &mut Vec<String>| -> String {
        let mount = mounts
            .iter()
            .filter_map(|m| m["mountPath"].as_str().map(|p| (p, m)))
            .filter(|(p, _)| path == *p || path.starts_with(&format!("{p}/")))
            .max_by_key(|(p, _)| p.len());
        match mount {
            None => problems.push(format!("{path} is in no volume the container mounts")),
            Some((mount_path, m)) => {
                let rest = path[mount_path.len()..].trim_start_matches('/');
                let held = match volume(pod, &m["name"]) {
                    None => false,
                    Some(v) => {
                        let source =
                            if v["secret"].is_object() { &v["secret"] } else { &v["configMap"] };
                        if let Some(sub) = m["subPath"].as_str() {
                            rest.is_empty() && config_map["data"][sub].is_string()
                        } else if let Some(items) = source["items"].as_array() {
                            items.iter().any(|i| i["path"] == rest)
                        } else {
                            !rest.is_empty()
                        }
                    }
                };
                if !held {
                    problems.push(format!(
                        "{path}: the volume {} mounted at {mount_path} holds no such file",
                        m["name"]
                    ));
                }
            }
        }
        files.push(path.to_owned());
        format!("{}{path}", fs.display())
    };

    // The container's command line names the config file.
    let args: Vec<&str> =
        container["args"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let Some(config_path) =
        args.iter().position(|a| *a == "--config").and_then(|i| args.get(i + 1))
    else {
        problems.push(format!("the container's args {args:?} name no --config"));
        return Ok(problems);
    };
    let config_file = resolve(config_path, &mut problems);
    let text = config_map["data"]["config.toml"].as_str().unwrap_or_default();
    let rewritten = rewrite_paths(text, |path| resolve(path, &mut problems));
    let mut env: Vec<(String, String)> = Vec::new();
    for var in container["env"].as_array().into_iter().flatten() {
        let name = var["name"].as_str().unwrap_or_default().to_owned();
        match var["value"].as_str() {
            Some(value) if value.starts_with('/') => {
                env.push((name, resolve(value, &mut problems)))
            }
            Some(value) => env.push((name, value.to_owned())),
            None if name.ends_with("REDIS_URL") => {
                env.push((name, "redis://127.0.0.1:6379/0".to_owned()))
            }
            None => problems.push(format!(
                "{name}: a value from {} that this check cannot stand in for",
                var["valueFrom"]
            )),
        }
    }
    if !problems.is_empty() {
        return Ok(problems);
    }

    // The files, with content each kind of file needs.
    let binary = target_dir().join(format!("debug/{}", chart.name));
    for path in files.iter().filter(|p| p.as_str() != *config_path) {
        let local = PathBuf::from(format!("{}{path}", fs.display()));
        let name = local.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let content = if let Some(key) = mounts
            .iter()
            .find(|m| m["mountPath"] == path.as_str())
            .and_then(|m| m["subPath"].as_str())
        {
            config_map["data"][key].as_str().unwrap_or_default().to_owned()
        } else if name == "token-keys" {
            let out = Command::new(&binary)
                .arg("token-key")
                .output()
                .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
            String::from_utf8_lossy(&out.stdout).into_owned()
        } else if name.ends_with(".cfg") {
            "[client]\nrucio_host = https://rucio.example.org\nauth_host = https://rucio-auth.example.org\nauth_type = x509_proxy\naccount = robot\n".to_owned()
        } else if name == "machine-clients.json" {
            "[]\n".to_owned()
        } else if name.ends_with(".json") {
            "{\"access_token\": \"a\", \"refresh_token\": \"r\", \"expires_on\": 0}\n".to_owned()
        } else {
            "0123456789abcdef0123456789abcdef\n".to_owned()
        };
        if local.is_dir() || path.ends_with('/') {
            continue;
        }
        if let Some(parent) = local.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        if !local.exists() {
            write(&local, &content)?;
        }
    }
    for mount in &mounts {
        let path = mount["mountPath"].as_str().unwrap_or_default();
        let is_dir = volume(pod, &mount["name"])
            .is_some_and(|v| v["emptyDir"].is_object() || v["persistentVolumeClaim"].is_object());
        if is_dir {
            let local = PathBuf::from(format!("{}{path}", fs.display()));
            std::fs::create_dir_all(&local)
                .map_err(|e| format!("cannot create {}: {e}", local.display()))?;
        }
    }
    let config_local = Path::new(&config_file);
    if let Some(parent) = config_local.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    write(config_local, &rewritten)?;

    let mut command = Command::new(&binary);
    for (key, _) in std::env::vars() {
        // The server's own variables, and those it also reads (Rucio's, DiracX's, grid ones).
        if [
            chart.env,
            "RUCIO_",
            "DIRACX_",
            "X509_",
            "FORWARDED_ALLOW_IPS",
            "AUTH_",
            "OAUTH_",
            "MCP_SCOPE",
        ]
        .iter()
        .any(|p| key.starts_with(p))
        {
            command.env_remove(key);
        }
    }
    let out = command
        .args(["config", "check", &config_file])
        .envs(env)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    let said =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let mode = match text.lines().find_map(|l| l.strip_prefix("auth = ")) {
        Some("\"bridge\"") => "bridge mode",
        Some("\"shared-secret\"") => "shared-secret mode",
        _ => "resource-server mode",
    };
    if !out.status.success() || !said.contains(mode) {
        problems.push(format!("`{} config check` ({}): {}", chart.name, out.status, said.trim()));
    }
    Ok(problems)
}

/// `text` (TOML) with every string that is an absolute path, or `NAME=PATH`, mapped by `map`.
fn rewrite_paths(text: &str, mut map: impl FnMut(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let mut parts = line.split('"');
        if let Some(first) = parts.next() {
            out.push_str(first);
        }
        for (i, part) in parts.enumerate() {
            out.push('"');
            // Odd pieces (0, 2, … here) are inside the quotes.
            if i % 2 == 0 {
                if part.starts_with('/') {
                    out.push_str(&map(part));
                } else if let Some((name, path)) =
                    part.split_once('=').filter(|(_, p)| p.starts_with('/'))
                {
                    out.push_str(&format!("{name}={}", map(path)));
                } else {
                    out.push_str(part);
                }
            } else {
                out.push_str(part);
            }
        }
        out.push('\n');
    }
    out
}

/// The copied dashboard and the appVersion of one chart: written, or (with `check`) compared.
fn generated_files(chart: Chart, version: &str, check: bool) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    let dir = chart_dir(chart);
    let source = root().join(format!("deploy/grafana/{}.json", chart.name));
    let copy = dir.join(format!("dashboards/{}.json", chart.name));
    let want = read(&source)?;
    if std::fs::read_to_string(&copy).ok().as_deref() != Some(want.as_str()) {
        if check {
            problems.push(format!(
                "{} is not a copy of {} (run `cargo xtask helm`)",
                copy.display(),
                source.display()
            ));
        } else {
            if let Some(parent) = copy.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
            }
            write(&copy, &want)?;
            eprintln!("xtask: wrote {}", copy.display());
        }
    }
    let manifest = dir.join("Chart.yaml");
    let text = read(&manifest)?;
    let line = format!("appVersion: \"{version}\"");
    if !text.lines().any(|l| l == line) {
        if check {
            problems.push(format!(
                "{} has no `{line}` (the workspace version; run `cargo xtask helm`)",
                manifest.display()
            ));
        } else {
            let updated: Vec<&str> = text
                .lines()
                .map(|l| if l.starts_with("appVersion:") { line.as_str() } else { l })
                .collect();
            write(&manifest, &format!("{}\n", updated.join("\n")))?;
            eprintln!("xtask: wrote {} ({line})", manifest.display());
        }
    }
    Ok(problems)
}

/// `[workspace.package] version` of the root Cargo.toml.
fn workspace_version() -> Result<String, String> {
    let manifest = root().join("Cargo.toml");
    let text = read(&manifest)?;
    let section = text.split("[workspace.package]").nth(1).unwrap_or_default();
    section
        .lines()
        .take_while(|l| !l.starts_with('['))
        .find_map(|l| l.strip_prefix("version = \"").and_then(|v| v.strip_suffix('"')))
        .map(str::to_owned)
        .ok_or_else(|| format!("{} has no [workspace.package] version", manifest.display()))
}

fn chart_dir(chart: Chart) -> PathBuf {
    root().join("deploy/helm").join(chart.name)
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn read_json(path: &Path) -> Result<Value, String> {
    serde_json::from_str(&read(path)?).map_err(|e| format!("{}: {e}", path.display()))
}

fn write(path: &Path, content: &str) -> Result<(), String> {
    std::fs::write(path, content).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Renders, lints and validates the cases of a request (`argv[1]`, JSON); prints the outcomes.
const RENDER_PY: &str = r##""""Written by `cargo xtask helm` (xtask/src/helm.rs); run with the venv it installs.

Renders Helm charts with Helm's own engine (helm-python-sdk: Helm's Go SDK as a shared library,
no helm binary, no cluster, no network) and validates every object against the Kubernetes JSON
schemas bundled in kubernetes-validate. Reads a request (JSON) from argv[1] and prints the outcome
of each case as JSON on stdout."""

import json
import os
import sys
import tomllib

import helm_python as helm
import kubernetes_validate
import yaml

# Custom resources have no schema in kubernetes-validate; the caller checks their apiVersion and
# kind instead.
CRD_GROUPS = ("monitoring.coreos.com/",)


def merge(base, over):
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def validate(obj, kube_version):
    if str(obj.get("apiVersion", "")).startswith(CRD_GROUPS):
        return "custom resource"
    try:
        return "ok " + kubernetes_validate.validate(obj, kube_version, strict=True)
    except kubernetes_validate.ValidationError as e:
        return "invalid: %s: %s" % (".".join(str(p) for p in e.path), e.message)
    except kubernetes_validate.SchemaNotFoundError as e:
        return "invalid: " + e.message
    except Exception as e:  # every failure is reported, with its kind
        return "invalid: %s: %s" % (type(e).__name__, e)


def run_case(case, kube_version, out_dir):
    values = {}
    if case.get("values_file"):
        with open(case["values_file"]) as f:
            values = helm.values_from_yaml(f.read()) or {}
    merge(values, case.get("set") or {})
    outcome = {"id": case["id"], "error": None, "objects": [], "configs": {}, "notes": "", "lint": []}
    try:
        with helm.Chart.load(case["chart"]) as chart:
            rendered = chart.render(
                values, name=case["release"], namespace=case["namespace"], is_install=True
            )
            # The path of `helm install --dry-run=client` too (hooks apart, manifests sorted).
            with helm.Config(storage_driver="memory", namespace=case["namespace"]) as cfg:
                cfg.install(chart, case["release"], values, dry_run="client")
    except helm.HelmError as e:
        outcome["error"] = str(e)
        return outcome
    manifest = []
    for template in sorted(rendered):
        text = rendered[template]
        if template.endswith("NOTES.txt"):
            outcome["notes"] = text
            continue
        for obj in yaml.safe_load_all(text):
            if obj is None:
                continue
            outcome["objects"].append(
                {"template": template, "object": obj, "schema": validate(obj, kube_version)}
            )
            data = obj.get("data") or {}
            if obj.get("kind") == "ConfigMap" and "config.toml" in data:
                try:
                    outcome["configs"][obj["metadata"]["name"]] = tomllib.loads(data["config.toml"])
                except tomllib.TOMLDecodeError as e:
                    outcome["configs"][obj["metadata"]["name"]] = {"error": str(e)}
            manifest.append("---\n# Source: %s\n%s" % (template, yaml.safe_dump(obj, sort_keys=False)))
    report = helm.lint(
        case["chart"], values, strict=True, kube_version="v" + kube_version,
        namespace=case["namespace"],
    )
    outcome["lint"] = [
        "%s: %s" % (m["path"], m["error"]) for m in report["messages"] if m["severity"] >= 2
    ] + list(report.get("errors") or [])
    if out_dir:
        with open(os.path.join(out_dir, case["id"].replace("/", "_") + ".yaml"), "w") as f:
            f.write("".join(manifest))
            f.write("# NOTES.txt:\n# " + outcome["notes"].replace("\n", "\n# ") + "\n")
    return outcome


def main():
    with open(sys.argv[1]) as f:
        request = json.load(f)
    results = [
        run_case(case, request["kube_version"], request.get("out_dir")) for case in request["cases"]
    ]
    json.dump({"helm": helm.helm_sdk_version(), "cases": results}, sys.stdout)


if __name__ == "__main__":
    main()
"##;

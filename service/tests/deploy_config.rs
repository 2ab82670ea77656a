//! Deployment files against the service: the ECS task definitions (`deploy/ecs/task-*.json`) parse
//! as `RegisterTaskDefinition` input with the field names ECS uses (serde structs that refuse unknown
//! fields, so a misspelt key fails here instead of in `aws ecs register-task-definition`), carry the
//! seed's sizes, and set every setting the service reads; `.env.example` documents every setting;
//! the IAM policy and the autoscaling files agree with the task definitions.
//!
//! The settings are found by scanning the sources, not listed here, so a setting added to
//! `service/src/config/` (or an `env::var` read anywhere in the service or the engine) fails this
//! test until `.env.example` and the task definitions have it, or it joins an allow-list below with
//! the reason.

// `u32::is_multiple_of` is newer than the workspace's rust-version.
#![allow(clippy::manual_is_multiple_of)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

// ---- the task-definition shape ---------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TaskDefinition {
    family: String,
    task_role_arn: String,
    execution_role_arn: String,
    network_mode: String,
    requires_compatibilities: Vec<String>,
    runtime_platform: Option<RuntimePlatform>,
    /// CPU units as a string ("2048"), as the ECS API takes it.
    cpu: String,
    /// MiB as a string ("4096").
    memory: String,
    ephemeral_storage: Option<EphemeralStorage>,
    placement_constraints: Option<Vec<PlacementConstraint>>,
    container_definitions: Vec<ContainerDefinition>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RuntimePlatform {
    operating_system_family: String,
    cpu_architecture: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EphemeralStorage {
    #[serde(rename = "sizeInGiB")]
    size_in_gib: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlacementConstraint {
    #[serde(rename = "type")]
    kind: String,
    expression: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ContainerDefinition {
    name: String,
    image: String,
    essential: bool,
    command: Option<Vec<String>>,
    port_mappings: Vec<PortMapping>,
    environment: Vec<KeyValuePair>,
    #[serde(default)]
    secrets: Vec<Secret>,
    health_check: HealthCheck,
    linux_parameters: Option<LinuxParameters>,
    stop_timeout: Option<u32>,
    ulimits: Option<Vec<Ulimit>>,
    log_configuration: Option<LogConfiguration>,
    resource_requirements: Option<Vec<ResourceRequirement>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PortMapping {
    name: Option<String>,
    container_port: u16,
    host_port: Option<u16>,
    protocol: Option<String>,
    app_protocol: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyValuePair {
    name: String,
    value: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Secret {
    name: String,
    value_from: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct HealthCheck {
    command: Vec<String>,
    interval: u32,
    timeout: u32,
    retries: u32,
    start_period: u32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LinuxParameters {
    init_process_enabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Ulimit {
    name: String,
    soft_limit: u64,
    hard_limit: u64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LogConfiguration {
    log_driver: String,
    options: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourceRequirement {
    #[serde(rename = "type")]
    kind: String,
    value: String,
}

// ---- allow-lists -----------------------------------------------------------------------------------

/// Settings that deliberately are not in the ECS task definitions, with the reason.
const NOT_IN_ECS: &[(&str, &str)] = &[
    (
        "S3_ENDPOINT",
        "only for S3-compatible stores (MinIO, …); on AWS the SDK's regional endpoint is right",
    ),
    (
        "FFMPEG",
        "the engine's own fallback for the ffmpeg binary; the service passes FFMPEG_PATH",
    ),
    (
        "FFPROBE",
        "the engine's own fallback for ffprobe; by default the one beside FFMPEG_PATH's ffmpeg",
    ),
    (
        "XDG_RUNTIME_DIR",
        "not a setting: read to tell whether the Vulkan driver needs a private runtime folder",
    ),
];

/// Settings that deliberately are not in `.env.example`, with the reason.
const NOT_IN_ENV_EXAMPLE: &[(&str, &str)] = &[
    (
        "FFMPEG",
        "the engine's own fallback (for `vrender render` and the engine as a library); the service's setting is FFMPEG_PATH",
    ),
    (
        "FFPROBE",
        "the engine's own fallback for ffprobe (video layers); by default the one beside the ffmpeg in use",
    ),
    (
        "XDG_RUNTIME_DIR",
        "not a setting: the engine only checks it to silence the Vulkan driver's warning when it is unset",
    ),
];

/// `${NAME}` placeholders the deploy files may use; `deploy/README.md` says to fill them with
/// `envsubst` limited to exactly these names.
const PLACEHOLDERS: &[&str] = &["AWS_ACCOUNT_ID", "AWS_REGION", "IMAGE_TAG", "PUBLIC_HOST"];

// ---- helpers ---------------------------------------------------------------------------------------

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn read(rel: &str) -> String {
    let p = root().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn files_in(dir: &str, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with(prefix) && n.ends_with(".json")
        })
        .collect();
    v.sort();
    v
}

/// (file name, raw JSON, parsed) of each `deploy/ecs/task-*.json`.
type Parsed = (String, Value, TaskDefinition);

fn task_definitions() -> Vec<Parsed> {
    let files = files_in("deploy/ecs", "task-");
    assert!(
        files.len() >= 3,
        "expected api, cpu-worker and gpu-worker task definitions: {files:?}"
    );
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).unwrap();
            let value: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let td: TaskDefinition = serde_json::from_value(value.clone())
                .unwrap_or_else(|e| panic!("{name}: not an ECS task definition: {e}"));
            (name, value, td)
        })
        .collect()
}

fn task(name: &str) -> TaskDefinition {
    task_definitions()
        .into_iter()
        .find(|(n, _, _)| n == name)
        .unwrap_or_else(|| panic!("deploy/ecs/{name} missing"))
        .2
}

/// Rust string literals that look like environment variable names (`"MAX_WIDTH"`).
fn env_like_literals(src: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, piece) in src.split('"').enumerate() {
        if i % 2 == 1
            && piece.len() >= 2
            && piece.chars().next().unwrap().is_ascii_uppercase()
            && piece
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            out.insert(piece.to_string());
        }
    }
    out
}

/// Names read with `env::var("X")` / `env::var_os("X")` in a source file.
fn env_var_reads(src: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for pat in ["env::var(\"", "env::var_os(\""] {
        for (i, _) in src.match_indices(pat) {
            let rest = &src[i + pat.len()..];
            if let Some(end) = rest.find('"') {
                out.insert(rest[..end].to_string());
            }
        }
    }
    out
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every environment setting the service (and the engine under it) reads.
fn service_settings() -> BTreeSet<String> {
    // config/: every `get("X")`, `parse(&get, "X", …)`, `parse_bool(&get, "X", …)`; the scan takes
    // every NAME-like string literal outside the unit tests, so a const list would be found too.
    let mut names = BTreeSet::new();
    let mut config_files = Vec::new();
    rs_files(&root().join("service/src/config"), &mut config_files);
    for f in &config_files {
        let config = std::fs::read_to_string(f).unwrap();
        let config = config.split("#[cfg(test)]").next().unwrap();
        names.extend(env_like_literals(config));
    }
    // Reads elsewhere (`LOG_FORMAT` in cli/mod.rs, `ASSET_ROOTS` in cli/serve.rs, `FFMPEG` in the
    // engine's encoder).
    let mut files = Vec::new();
    rs_files(&root().join("service/src"), &mut files);
    rs_files(&root().join("engine/src"), &mut files);
    for f in &files {
        let src = std::fs::read_to_string(f).unwrap();
        names.extend(env_var_reads(&src));
        // tracing-subscriber's EnvFilter reads RUST_LOG.
        if src.contains("EnvFilter::try_from_default_env")
            || src.contains("EnvFilter::from_default_env")
        {
            names.insert("RUST_LOG".into());
        }
    }
    // The scan must work: a broken scan would make the checks below pass vacuously.
    for must in [
        "PORT",
        "HOST",
        "DATA_DIR",
        "MAX_CONCURRENT_RENDERS",
        "MONGODB_URI",
        "REDIS_URL",
        "S3_BUCKET",
        "LOG_FORMAT",
        "RUST_LOG",
    ] {
        assert!(
            names.contains(must),
            "settings scan did not find {must}: {names:?}"
        );
    }
    assert!(
        names.len() >= 25,
        "settings scan found too few names: {names:?}"
    );
    names
}

/// Names in `.env.example`, set (`NAME=…`) or commented out (`# NAME=…`).
fn env_example_names() -> BTreeSet<String> {
    read(".env.example")
        .lines()
        .filter_map(|l| {
            let l = l.trim_start_matches('#').trim();
            let (name, _) = l.split_once('=')?;
            (!name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .then(|| name.to_string())
        })
        .collect()
}

fn env_of(c: &ContainerDefinition) -> BTreeMap<&str, &str> {
    c.environment
        .iter()
        .map(|kv| (kv.name.as_str(), kv.value.as_str()))
        .collect()
}

fn placeholders(text: &str) -> BTreeSet<String> {
    text.match_indices("${")
        .filter_map(|(i, _)| {
            let rest = &text[i + 2..];
            rest.find('}').map(|end| rest[..end].to_string())
        })
        .collect()
}

// ---- tests -----------------------------------------------------------------------------------------

#[test]
fn task_definitions_have_the_ecs_shape() {
    for (name, _, td) in task_definitions() {
        assert!(!td.family.is_empty(), "{name}: family");
        assert!(
            td.task_role_arn.starts_with("arn:aws:iam::"),
            "{name}: taskRoleArn"
        );
        assert!(
            td.execution_role_arn.starts_with("arn:aws:iam::"),
            "{name}: executionRoleArn"
        );
        assert_eq!(
            td.network_mode, "awsvpc",
            "{name}: networkMode (private subnets, per-task security groups)"
        );
        if let Some(rp) = &td.runtime_platform {
            assert_eq!(rp.operating_system_family, "LINUX", "{name}");
            assert_eq!(
                rp.cpu_architecture, "X86_64",
                "{name}: the images are built for amd64"
            );
        }
        let cpu: u32 = td
            .cpu
            .parse()
            .unwrap_or_else(|_| panic!("{name}: cpu {:?} is not a number", td.cpu));
        let mem: u32 = td
            .memory
            .parse()
            .unwrap_or_else(|_| panic!("{name}: memory {:?}", td.memory));
        assert!(
            cpu >= 2048 && mem >= 4096,
            "{name}: the seed's minimum is 2 vCPU / 4 GB, got {cpu}/{mem}"
        );
        assert!(
            !td.requires_compatibilities.is_empty(),
            "{name}: requiresCompatibilities"
        );
        for compat in &td.requires_compatibilities {
            assert!(
                ["FARGATE", "EC2", "EXTERNAL"].contains(&compat.as_str()),
                "{name}: {compat}"
            );
        }
        if td.requires_compatibilities.iter().any(|c| c == "FARGATE") {
            // Fargate's valid cpu/memory pairs and ephemeral storage range.
            let ok = match cpu {
                2048 => (4096..=16384).contains(&mem) && mem % 1024 == 0,
                4096 => (8192..=30720).contains(&mem) && mem % 1024 == 0,
                8192 => (16384..=61440).contains(&mem) && mem % 4096 == 0,
                16384 => (32768..=122880).contains(&mem) && mem % 8192 == 0,
                _ => false,
            };
            assert!(
                ok,
                "{name}: {cpu} CPU units / {mem} MiB is not a Fargate size"
            );
            let es = td
                .ephemeral_storage
                .as_ref()
                .unwrap_or_else(|| panic!("{name}: ephemeralStorage"));
            assert!(
                (30..=200).contains(&es.size_in_gib),
                "{name}: ephemeralStorage.sizeInGiB {} (seed: 30 GiB; Fargate: 21-200)",
                es.size_in_gib
            );
        } else {
            assert!(
                td.ephemeral_storage.is_none(),
                "{name}: ephemeralStorage is Fargate-only"
            );
        }
        for pc in td.placement_constraints.iter().flatten() {
            assert!(
                ["memberOf", "distinctInstance"].contains(&pc.kind.as_str()),
                "{name}: {}",
                pc.kind
            );
            assert!(
                pc.kind != "memberOf" || pc.expression.is_some(),
                "{name}: memberOf needs an expression"
            );
        }

        assert_eq!(td.container_definitions.len(), 1, "{name}: one container");
        for c in &td.container_definitions {
            assert!(!c.name.is_empty(), "{name}: container name");
            assert!(c.essential, "{name}: essential");
            assert!(
                c.image.contains(".dkr.ecr.") && c.image.ends_with(":${IMAGE_TAG}"),
                "{name}: image {}",
                c.image
            );
            // The API task runs `vrender serve`, the workers `vrender worker` (health on WORKER_PORT).
            let expected = if name.contains("worker") {
                "worker"
            } else {
                "serve"
            };
            assert_eq!(
                c.command.as_deref(),
                Some(&[expected.to_string()][..]),
                "{name}: command (the image's ENTRYPOINT is vrender)"
            );
            let env = env_of(c);
            let port_setting = if expected == "worker" {
                "WORKER_PORT"
            } else {
                "PORT"
            };
            let port: u16 = env.get(port_setting).unwrap_or(&"3001").parse().unwrap();
            assert_eq!(port, 3001, "{name}: the seed's container port");
            assert_eq!(c.port_mappings.len(), 1, "{name}: portMappings");
            let pm = &c.port_mappings[0];
            assert_eq!(pm.container_port, port, "{name}: containerPort");
            assert!(
                pm.host_port.is_none_or(|h| h == port),
                "{name}: awsvpc needs hostPort = containerPort"
            );
            assert_eq!(pm.protocol.as_deref().unwrap_or("tcp"), "tcp", "{name}");
            assert!(
                pm.name.is_some() && pm.app_protocol.as_deref() == Some("http"),
                "{name}: named http port"
            );

            let hc = &c.health_check;
            assert_eq!(
                hc.command.first().map(String::as_str),
                Some("CMD-SHELL"),
                "{name}: healthCheck.command"
            );
            let probe = hc.command[1..].join(" ");
            assert!(
                probe.contains(&format!("127.0.0.1:{port}/api/v1/health")),
                "{name}: health check must hit /api/v1/health on the container port: {probe}"
            );
            assert!(
                probe.contains("curl"),
                "{name}: the images install curl for the health check"
            );
            assert!((5..=300).contains(&hc.interval), "{name}: interval");
            assert!(
                (2..=60).contains(&hc.timeout) && hc.timeout < hc.interval,
                "{name}: timeout"
            );
            assert!((1..=10).contains(&hc.retries), "{name}: retries");
            assert!(hc.start_period <= 300, "{name}: startPeriod");

            if let Some(st) = c.stop_timeout {
                assert!(
                    (2..=120).contains(&st),
                    "{name}: stopTimeout (Fargate allows up to 120 s)"
                );
            }
            if let Some(lp) = &c.linux_parameters {
                assert!(
                    lp.init_process_enabled,
                    "{name}: initProcessEnabled reaps ffmpeg children"
                );
            }
            for u in c.ulimits.iter().flatten() {
                assert!(
                    !u.name.is_empty() && u.soft_limit <= u.hard_limit,
                    "{name}: ulimit {}",
                    u.name
                );
            }
            if let Some(lc) = &c.log_configuration {
                assert_eq!(lc.log_driver, "awslogs", "{name}");
                for k in ["awslogs-group", "awslogs-region", "awslogs-stream-prefix"] {
                    assert!(
                        lc.options.contains_key(k),
                        "{name}: logConfiguration.options.{k}"
                    );
                }
            }
            for s in &c.secrets {
                assert!(
                    s.value_from.starts_with("arn:aws:ssm:")
                        || s.value_from.starts_with("arn:aws:secretsmanager:"),
                    "{name}: secret {} valueFrom {}",
                    s.name,
                    s.value_from
                );
            }
            let mut seen = BTreeSet::new();
            for n in c
                .environment
                .iter()
                .map(|e| &e.name)
                .chain(c.secrets.iter().map(|s| &s.name))
            {
                assert!(
                    seen.insert(n.clone()),
                    "{name}: {n} set twice (environment/secrets)"
                );
            }
        }
    }
}

#[test]
fn api_task_is_the_seeds_fargate_size() {
    let td = task("task-api.json");
    assert_eq!(td.requires_compatibilities, ["FARGATE"]);
    assert_eq!((td.cpu.as_str(), td.memory.as_str()), ("2048", "4096"));
    assert_eq!(td.ephemeral_storage.unwrap().size_in_gib, 30);
    let c = &td.container_definitions[0];
    assert!(c.resource_requirements.is_none());
    assert_eq!(env_of(c)["GPU_ADAPTER"], "llvmpipe");
}

#[test]
fn cpu_worker_is_fargate_without_gpu() {
    let td = task("task-cpu-worker.json");
    assert_eq!(td.requires_compatibilities, ["FARGATE"]);
    assert!(td.ephemeral_storage.unwrap().size_in_gib >= 30);
    let c = &td.container_definitions[0];
    assert!(c.resource_requirements.is_none());
    assert!(
        !c.image.contains("vrender-gpu:"),
        "the CPU worker runs the CPU image"
    );
}

#[test]
fn gpu_worker_is_ec2_with_one_gpu() {
    let td = task("task-gpu-worker.json");
    assert_eq!(
        td.requires_compatibilities,
        ["EC2"],
        "GPUs are not available on Fargate"
    );
    let c = &td.container_definitions[0];
    let rr = c
        .resource_requirements
        .as_ref()
        .expect("resourceRequirements");
    assert!(
        rr.iter().any(|r| r.kind == "GPU" && r.value == "1"),
        "resourceRequirements must ask for GPU 1: {rr:?}"
    );
    assert!(
        c.image.contains("/vrender-gpu:"),
        "the GPU worker runs the Dockerfile.gpu image: {}",
        c.image
    );
    let env = env_of(c);
    // ECS sets NVIDIA_VISIBLE_DEVICES to the GPU it assigned; setting it here would fight that.
    assert!(!env.contains_key("NVIDIA_VISIBLE_DEVICES"));
    assert_eq!(env["GPU_ADAPTER"], "NVIDIA");
}

#[test]
fn every_setting_is_in_env_example_and_in_every_task_definition() {
    let settings = service_settings();
    let documented = env_example_names();
    let allowed_env: BTreeSet<&str> = NOT_IN_ENV_EXAMPLE.iter().map(|(n, _)| *n).collect();
    let allowed_ecs: BTreeSet<&str> = NOT_IN_ECS.iter().map(|(n, _)| *n).collect();
    let mut problems = Vec::new();

    for s in &settings {
        if !documented.contains(s) && !allowed_env.contains(s.as_str()) {
            problems.push(format!(".env.example does not document {s}"));
        }
    }
    for d in &documented {
        if !settings.contains(d) {
            problems.push(format!(".env.example documents {d}, which nothing reads"));
        }
    }
    for (name, _, td) in task_definitions() {
        for c in &td.container_definitions {
            let set: BTreeSet<&str> = c
                .environment
                .iter()
                .map(|e| e.name.as_str())
                .chain(c.secrets.iter().map(|s| s.name.as_str()))
                .collect();
            for s in &settings {
                if !set.contains(s.as_str()) && !allowed_ecs.contains(s.as_str()) {
                    problems.push(format!(
                        "deploy/ecs/{name}: {} lacks {s} (environment or secrets)",
                        c.name
                    ));
                }
            }
            for n in &set {
                if !settings.contains(*n) {
                    problems.push(format!(
                        "deploy/ecs/{name}: {n} is not a setting the service reads"
                    ));
                }
            }
        }
    }
    // The allow-lists must not go stale either.
    for (n, _) in NOT_IN_ECS.iter().chain(NOT_IN_ENV_EXAMPLE) {
        if !settings.contains(*n) {
            problems.push(format!("allow-listed {n} is no longer read by the service"));
        }
    }
    assert!(
        problems.is_empty(),
        "settings out of step:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn secrets_are_not_plain_environment() {
    for (name, _, td) in task_definitions() {
        for c in &td.container_definitions {
            for e in &c.environment {
                assert!(
                    !(e.name.contains("SECRET")
                        || e.name == "MONGODB_URI"
                        || e.name == "REDIS_URL"),
                    "{name}: {} carries credentials; put it in `secrets`",
                    e.name
                );
            }
        }
    }
}

#[test]
fn all_tasks_share_the_settings_that_must_agree() {
    // Links signed by one task are verified by another, and all of them share one store/queue/bucket.
    let tds = task_definitions();
    for key in [
        "URL_SIGNING_SECRET",
        "CALLBACK_SECRET",
        "MONGODB_URI",
        "REDIS_URL",
    ] {
        let sources: BTreeSet<String> = tds
            .iter()
            .flat_map(|(_, _, td)| &td.container_definitions)
            .filter_map(|c| {
                c.secrets
                    .iter()
                    .find(|s| s.name == key)
                    .map(|s| s.value_from.clone())
            })
            .collect();
        assert_eq!(
            sources.len(),
            1,
            "{key} must come from one secret in every task: {sources:?}"
        );
    }
    for key in [
        "S3_BUCKET",
        "S3_REGION",
        "DATA_DIR",
        "SIGNED_URL_EXPIRY_SECS",
        "PUBLIC_BASE_URL",
    ] {
        let values: BTreeSet<String> = tds
            .iter()
            .flat_map(|(_, _, td)| &td.container_definitions)
            .map(|c| {
                env_of(c)
                    .get(key)
                    .map(|v| v.to_string())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(
            values.len(),
            1,
            "{key} differs between task definitions: {values:?}"
        );
    }
}

#[test]
fn deploy_files_use_only_the_documented_placeholders() {
    let readme = read("deploy/README.md");
    let mut files = files_in("deploy/ecs", "");
    files.extend(files_in("deploy/iam", ""));
    files.extend(files_in("deploy/autoscaling", ""));
    for p in files {
        let text = std::fs::read_to_string(&p).unwrap();
        let _: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        for ph in placeholders(&text) {
            assert!(
                PLACEHOLDERS.contains(&ph.as_str()),
                "{}: unknown placeholder ${{{ph}}}",
                p.display()
            );
        }
    }
    for ph in PLACEHOLDERS {
        assert!(
            readme.contains(&format!("${{{ph}}}")),
            "deploy/README.md must explain ${{{ph}}}"
        );
    }
}

#[test]
fn iam_policy_covers_the_bucket_and_multipart_uploads() {
    let policy: Value = serde_json::from_str(&read("deploy/iam/task-role-policy.json")).unwrap();
    assert_eq!(policy["Version"], "2012-10-17");
    let bucket = env_of(&task("task-api.json").container_definitions[0])["S3_BUCKET"].to_string();
    let mut granted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new(); // resource -> actions
    for st in policy["Statement"].as_array().expect("Statement") {
        assert_eq!(st["Effect"], "Allow");
        let actions: Vec<String> = match &st["Action"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
            other => panic!("Action: {other}"),
        };
        let resources: Vec<String> = match &st["Resource"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
            other => panic!("Resource: {other}"),
        };
        for r in resources {
            granted
                .entry(r)
                .or_default()
                .extend(actions.iter().cloned());
        }
    }
    let objects = format!("arn:aws:s3:::{bucket}/*");
    for a in [
        "s3:PutObject",
        "s3:GetObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
    ] {
        assert!(
            granted.get(&objects).is_some_and(|s| s.contains(a)),
            "{a} on {objects}"
        );
    }
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    assert!(
        granted
            .get(&bucket_arn)
            .is_some_and(|s| s.contains("s3:ListBucketMultipartUploads")),
        "s3:ListBucketMultipartUploads on {bucket_arn}"
    );
    for (r, actions) in &granted {
        assert!(
            !actions.iter().any(|a| a == "*" || a == "s3:*"),
            "{r}: wildcard action"
        );
        if r == "*" {
            assert!(
                actions.iter().all(|a| a == "cloudwatch:PutMetricData"),
                "only PutMetricData on *"
            );
        }
    }

    let exec: Value =
        serde_json::from_str(&read("deploy/iam/task-execution-role-policy.json")).unwrap();
    let text = exec.to_string();
    for (_, _, td) in task_definitions() {
        for s in td.container_definitions.iter().flat_map(|c| &c.secrets) {
            if s.value_from.starts_with("arn:aws:ssm:") {
                assert!(
                    text.contains("ssm:GetParameters"),
                    "execution role must read {}",
                    s.value_from
                );
                assert!(
                    s.value_from.contains(":parameter/vrender/")
                        && text.contains(":parameter/vrender/*"),
                    "execution role must cover {}",
                    s.value_from
                );
            }
        }
    }
}

#[test]
fn autoscaling_targets_the_worker_services_on_queue_depth() {
    let families: BTreeSet<String> = task_definitions()
        .into_iter()
        .map(|(_, _, td)| td.family)
        .collect();
    let policies = files_in("deploy/autoscaling", "");
    let mut policy_count = 0;
    for p in policies {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let name = p.display().to_string();
        assert_eq!(v["ServiceNamespace"], "ecs", "{name}");
        assert_eq!(v["ScalableDimension"], "ecs:service:DesiredCount", "{name}");
        let rid = v["ResourceId"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: ResourceId"));
        let parts: Vec<&str> = rid.split('/').collect();
        assert!(
            parts.len() == 3 && parts[0] == "service",
            "{name}: ResourceId {rid}"
        );
        assert!(
            families.contains(parts[2]),
            "{name}: service {} runs no task family here",
            parts[2]
        );
        if v.get("PolicyType").is_some() {
            policy_count += 1;
            assert_eq!(v["PolicyType"], "TargetTrackingScaling", "{name}");
            let cfg = &v["TargetTrackingScalingPolicyConfiguration"];
            assert!(
                cfg["TargetValue"].as_f64().is_some_and(|t| t > 0.0),
                "{name}: TargetValue"
            );
            let metrics = cfg["CustomizedMetricSpecification"]["Metrics"]
                .as_array()
                .expect("Metrics");
            assert!(
                metrics
                    .iter()
                    .any(|m| m["MetricStat"]["Metric"]["MetricName"] == "QueueDepth"),
                "{name}: scales on the queue depth"
            );
            assert_eq!(
                metrics.iter().filter(|m| m["ReturnData"] == true).count(),
                1,
                "{name}: exactly one metric returns data"
            );
            for m in metrics {
                let id = m["Id"].as_str().unwrap();
                assert!(
                    id.starts_with(|c: char| c.is_ascii_lowercase()),
                    "{name}: metric Id {id}"
                );
                assert!(
                    m.get("MetricStat").is_some() != m.get("Expression").is_some(),
                    "{name}: {id}"
                );
            }
        } else {
            let (lo, hi) = (
                v["MinCapacity"].as_u64().unwrap(),
                v["MaxCapacity"].as_u64().unwrap(),
            );
            assert!(
                lo >= 1 && hi >= lo,
                "{name}: capacity {lo}..{hi} (backlog per task divides by the task count)"
            );
        }
    }
    assert!(
        policy_count >= 2,
        "a queue-depth policy for the CPU and the GPU workers"
    );
}

//! `cargo xtask image`: small OCI images of `rucio-mcp`, `dirac-mcp` and `mcp-auth-proxy`, built on
//! this machine without a container daemon (deploy/container/README.md).
//!
//! The root filesystem is assembled under `target/image/<name>/rootfs/` with only what the binary
//! needs: the binary in /usr/local/bin, the shared libraries `ldd` names (glibc, libgcc_s), the
//! host's CA bundle, /etc/passwd and /etc/group with the non-root user 65532 (`nonroot`, home
//! /tmp), /etc/nsswitch.conf (`hosts: files dns`; without it glibc asks DNS before /etc/hosts) and
//! an empty /tmp (1777, for the tmpfs of a read-only root). No shell. Debian's buildah (installed
//! with apt when missing, with podman and runc for `--check`) makes it an OCI image (`from
//! scratch`, `copy`, `config`, `commit`) in a private store under `target/image/.containers/` (vfs
//! driver: no overlay mounts, no daemon) and writes `target/image/<name>.tar`, an OCI archive. Its
//! SBOM (CycloneDX 1.5 JSON of the crates in the binary, by cargo-cyclonedx, installed once under
//! `target/xtask-cache/`) goes beside it as `<name>.sbom.json`; the image's annotations carry the
//! SBOM's digest.
//!
//! `--check` then examines the image itself: its files (exactly the planned ones, no shell), its
//! configuration (user 65532, entrypoint, labels), and runs it with podman (`--read-only`, a tmpfs
//! on /tmp, host network): `--version` must print the workspace version, and the two servers must
//! answer `/healthz` on 127.0.0.1 in shared-secret mode while running as uid 65532.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::{cargo, root, run, target_dir};

/// The uid and gid of `nonroot`, as in the distroless images.
const NONROOT: u32 = 65532;
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
const CYCLONEDX_VERSION: &str = "0.5.9";
/// Debian's packages the images are built (buildah) and run (podman, runc) with.
const ENGINES: [&str; 3] = ["buildah", "podman", "runc"];
/// File names that must not be in an image.
const SHELLS: [&str; 7] = ["sh", "bash", "dash", "ash", "zsh", "busybox", "toybox"];
const PASSWD: &str = "root:x:0:0:root:/root:/sbin/nologin\n\
                      nonroot:x:65532:65532:nonroot:/tmp:/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nnonroot:x:65532:\n";
const NSSWITCH: &str = "hosts: files dns\n";

#[derive(clap::Args)]
pub(crate) struct ImageArgs {
    /// Which image to build
    #[arg(value_enum, default_value = "all")]
    which: Which,
    /// The cargo profile of the binaries
    #[arg(long, value_enum, default_value = "release")]
    profile: Profile,
    /// Then check each image: its files (no shell), its configuration, and that it runs (podman,
    /// read-only root, uid 65532): `--version`, and `/healthz` of the servers
    #[arg(long)]
    check: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Which {
    RucioMcp,
    DiracMcp,
    McpAuthProxy,
    All,
}

impl Which {
    fn names(self) -> Vec<&'static str> {
        match self {
            Self::RucioMcp => vec!["rucio-mcp"],
            Self::DiracMcp => vec!["dirac-mcp"],
            Self::McpAuthProxy => vec!["mcp-auth-proxy"],
            Self::All => vec!["rucio-mcp", "dirac-mcp", "mcp-auth-proxy"],
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Profile {
    Release,
    Debug,
}

pub(crate) fn run_image(args: &ImageArgs) -> Result<(), String> {
    let started = Instant::now();
    let names = args.which.names();
    if output(Command::new("id").arg("-u"))?.trim() != "0" {
        return Err("xtask image runs as root (buildah and podman without a daemon)".into());
    }
    ensure_engines()?;
    let workspace = Workspace::load()?;
    // One build per binary: each with its own features, as `cargo install` and the Containerfile
    // build it (built together, the three would share the union of their features).
    for name in &names {
        let mut build = Command::new(cargo());
        build.args(["build", "--locked", "--package", name]);
        if matches!(args.profile, Profile::Release) {
            build.arg("--release");
        }
        run(build.current_dir(root()))?;
    }
    let profile_dir = target_dir().join(match args.profile {
        Profile::Release => "release",
        Profile::Debug => "debug",
    });

    let out = target_dir().join("image");
    fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let engine = Engine::new(&out);
    let stamp = Stamp::now()?;
    let sboms = sboms(&names, &workspace, &out, stamp.epoch)?;
    let mut built = Vec::new();
    for name in &names {
        let package = workspace.package(name)?;
        let plan = plan(name, &profile_dir.join(name))?;
        let rootfs = out.join(name).join("rootfs");
        assemble(&plan, &rootfs)?;
        let sbom = &sboms[*name];
        let image = Image {
            name,
            reference: format!("localhost/{name}:{}", package.version),
            archive: out.join(format!("{name}.tar")),
            annotations: annotations(package, &stamp, sbom)?,
        };
        eprintln!("xtask image: == {name} ({})", image.reference);
        engine.build(&image, &rootfs, &stamp)?;
        built.push((image, plan, package, sbom.clone()));
    }
    if args.check {
        for (image, plan, package, _) in &built {
            eprintln!("xtask image: == check {}", image.name);
            engine.check(image, plan, package).map_err(|e| format!("{}: {e}", image.name))?;
            eprintln!("xtask image: {} passed its checks", image.name);
        }
    }
    eprintln!();
    for (image, plan, _, sbom) in &built {
        let archive = fs::metadata(&image.archive).map(|m| m.len()).unwrap_or(0);
        let components = fs::read_to_string(sbom)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["components"].as_array().map(Vec::len))
            .unwrap_or(0);
        println!(
            "{}: {} ({}, root filesystem {}), SBOM {} ({components} crates)",
            image.reference,
            relative(&image.archive),
            mib(archive),
            mib(plan.bytes()),
            relative(sbom),
        );
    }
    println!(
        "xtask image: {} in {:.0} s{}",
        names.join(", "),
        started.elapsed().as_secs_f64(),
        if args.check { ", checked" } else { "" }
    );
    Ok(())
}

/// The workspace's packages, from `cargo metadata --no-deps`.
struct Workspace {
    packages: Vec<Package>,
}

struct Package {
    name: String,
    version: String,
    description: String,
    license: String,
    repository: String,
    dir: PathBuf,
}

impl Workspace {
    fn load() -> Result<Self, String> {
        let text = output(
            Command::new(cargo())
                .args(["metadata", "--no-deps", "--format-version", "1"])
                .current_dir(root()),
        )?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("cargo metadata: {e}"))?;
        let field = |p: &serde_json::Value, key: &str| p[key].as_str().unwrap_or("").to_owned();
        let packages = json["packages"]
            .as_array()
            .ok_or("cargo metadata: no packages")?
            .iter()
            .map(|p| Package {
                name: field(p, "name"),
                version: field(p, "version"),
                description: field(p, "description"),
                license: field(p, "license"),
                repository: field(p, "repository"),
                dir: Path::new(&field(p, "manifest_path"))
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default(),
            })
            .collect();
        Ok(Self { packages })
    }

    fn package(&self, name: &str) -> Result<&Package, String> {
        self.packages
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| format!("no package {name} in the workspace"))
    }
}

/// When and from what the images are built: `SOURCE_DATE_EPOCH` if set, else now; git HEAD.
struct Stamp {
    epoch: u64,
    created: String,
    revision: String,
}

impl Stamp {
    fn now() -> Result<Self, String> {
        let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(value) => value.parse().map_err(|e| format!("SOURCE_DATE_EPOCH={value}: {e}"))?,
            Err(_) => SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        };
        let created =
            output(Command::new("date").args(["-u", "-d", &format!("@{epoch}"), "+%FT%TZ"]))?
                .trim()
                .to_owned();
        let revision = output(Command::new("git").args(["rev-parse", "HEAD"]).current_dir(root()))
            .map(|r| r.trim().to_owned())
            .unwrap_or_else(|_| "unknown".to_owned());
        Ok(Self { epoch, created, revision })
    }
}

/// The OCI labels (config) and annotations (manifest) of an image, the same keys for both.
fn annotations(
    package: &Package,
    stamp: &Stamp,
    sbom: &Path,
) -> Result<Vec<(String, String)>, String> {
    let digest = output(Command::new("sha256sum").arg(sbom))?;
    let digest = digest.split_whitespace().next().unwrap_or_default();
    let oci =
        |key: &str, value: &str| (format!("org.opencontainers.image.{key}"), value.to_owned());
    Ok(vec![
        oci("title", &package.name),
        oci("description", &package.description),
        oci("version", &package.version),
        oci("revision", &stamp.revision),
        oci("created", &stamp.created),
        oci("source", &package.repository),
        oci("url", &package.repository),
        oci("licenses", &package.license),
        // No registered key names an SBOM kept beside the image: ours, under the repository's name.
        ("io.github.rucio-mcp-rs.sbom.digest".into(), format!("sha256:{digest}")),
        ("io.github.rucio-mcp-rs.sbom.media-type".into(), "application/vnd.cyclonedx+json".into()),
        (
            "io.github.rucio-mcp-rs.sbom.name".into(),
            sbom.file_name().unwrap_or_default().to_string_lossy().into_owned(),
        ),
    ])
}

/// Installs buildah, podman and runc from Debian when one is missing.
fn ensure_engines() -> Result<(), String> {
    let works = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if ENGINES.iter().all(|tool| works(tool)) {
        return Ok(());
    }
    eprintln!("xtask image: installing Debian's {} (apt-get)", ENGINES.join(", "));
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend(ENGINES);
    let done = apt(&install) || (apt(&["update"]) && apt(&install));
    if done && ENGINES.iter().all(|tool| works(tool)) {
        Ok(())
    } else {
        Err(format!("apt-get could not install {}", ENGINES.join(" ")))
    }
}

/// cargo-cyclonedx, installed once under `target/xtask-cache/` (minutes: `cargo xtask ci` does it
/// beside its network-bound steps), and the image engines.
pub(crate) fn sbom_tool() -> Result<PathBuf, String> {
    let prefix = target_dir().join(format!("xtask-cache/cargo-cyclonedx-{CYCLONEDX_VERSION}"));
    let tool = prefix.join("bin/cargo-cyclonedx");
    if !tool.exists() {
        eprintln!(
            "xtask image: installing cargo-cyclonedx {CYCLONEDX_VERSION} into {} (once; minutes)",
            relative(&prefix)
        );
        run(Command::new(cargo())
            .args(["install", "--locked", "--quiet", "--root"])
            .arg(&prefix)
            .arg(format!("cargo-cyclonedx@{CYCLONEDX_VERSION}")))?;
    }
    Ok(tool)
}

/// What `cargo xtask ci` checks: every image of the debug binaries, built and run.
pub(crate) fn check_all_debug() -> Result<(), String> {
    run_image(&ImageArgs { which: Which::All, profile: Profile::Debug, check: true })
}

/// One SBOM per binary: `target/image/<name>.sbom.json`, by cargo-cyclonedx.
fn sboms(
    names: &[&str],
    workspace: &Workspace,
    out: &Path,
    epoch: u64,
) -> Result<BTreeMap<String, PathBuf>, String> {
    let tool = sbom_tool()?;
    // It writes one file beside each member's Cargo.toml, under the name given here: the binaries'
    // files are moved to target/image/, the others removed.
    let stem = format!("xtask-image-sbom-{}", std::process::id());
    let made = run(Command::new(&tool)
        .args(["cyclonedx", "--manifest-path"])
        .arg(root().join("Cargo.toml"))
        .args(["--format", "json", "--spec-version", "1.5", "--no-build-deps", "--quiet"])
        .args(["--override-filename", &stem])
        .env("SOURCE_DATE_EPOCH", epoch.to_string())
        .current_dir(root()));
    let mut sboms = BTreeMap::new();
    let mut moved = Ok(());
    for package in &workspace.packages {
        let file = package.dir.join(format!("{stem}.json"));
        if !file.exists() {
            continue;
        }
        if names.contains(&package.name.as_str()) && moved.is_ok() {
            let to = out.join(format!("{}.sbom.json", package.name));
            moved = fs::copy(&file, &to)
                .map(|_| ())
                .map_err(|e| format!("cannot write {}: {e}", to.display()));
            sboms.insert(package.name.clone(), to);
        }
        let _ = fs::remove_file(&file);
    }
    made.and(moved)?;
    for name in names {
        let sbom =
            sboms.get(*name).ok_or_else(|| format!("cargo-cyclonedx wrote no SBOM for {name}"))?;
        narrow(sbom, name)?;
    }
    Ok(sboms)
}

/// cargo-cyclonedx describes each member with the features of the whole workspace (`cargo
/// metadata` unifies them), so an SBOM would also list crates that only other members enable:
/// keep the components `cargo tree` finds in the binary's own build (normal dependencies, this
/// platform, its own features), and the dependency edges between them.
fn narrow(sbom: &Path, name: &str) -> Result<(), String> {
    let tree = output(
        Command::new(cargo())
            .args(["tree", "--locked", "--package", name, "--edges", "normal"])
            .args(["--prefix", "none", "--format", "{p}"])
            .current_dir(root()),
    )?;
    let crates: BTreeSet<(&str, &str)> = tree
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            Some((words.next()?, words.next()?.trim_start_matches('v')))
        })
        .collect();
    let text = fs::read_to_string(sbom).map_err(|e| format!("{}: {e}", sbom.display()))?;
    let mut bom: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", sbom.display()))?;
    let str_of = |v: &serde_json::Value, key: &str| v[key].as_str().unwrap_or_default().to_owned();
    let mut kept = BTreeSet::from([str_of(&bom["metadata"]["component"], "bom-ref")]);
    if let Some(components) = bom["components"].as_array_mut() {
        components.retain(|c| {
            let name_version = (str_of(c, "name"), str_of(c, "version"));
            crates.contains(&(name_version.0.as_str(), name_version.1.as_str()))
        });
        kept.extend(components.iter().map(|c| str_of(c, "bom-ref")));
    }
    if let Some(dependencies) = bom["dependencies"].as_array_mut() {
        dependencies.retain(|d| kept.contains(&str_of(d, "ref")));
        for dependency in dependencies {
            if let Some(on) = dependency["dependsOn"].as_array_mut() {
                on.retain(|r| r.as_str().is_some_and(|r| kept.contains(r)));
            }
        }
    }
    let missing = crates.len().saturating_sub(kept.len());
    if missing > 0 {
        return Err(format!(
            "{}: {missing} crates of `cargo tree -p {name}` are not in it",
            sbom.display()
        ));
    }
    let text =
        serde_json::to_string_pretty(&bom).map_err(|e| format!("{}: {e}", sbom.display()))?;
    fs::write(sbom, text + "\n").map_err(|e| format!("{}: {e}", sbom.display()))
}

/// What goes into an image's root filesystem: relative paths, parents before children.
struct Plan(BTreeMap<PathBuf, Node>);

struct Node {
    mode: u32,
    kind: Kind,
}

enum Kind {
    Dir,
    Copy(PathBuf),
    Text(&'static str),
}

impl Plan {
    fn file(&mut self, path: &str, kind: Kind, mode: u32) {
        let path = PathBuf::from(path.trim_start_matches('/'));
        for parent in path.ancestors().skip(1).filter(|p| !p.as_os_str().is_empty()) {
            self.0.entry(parent.to_path_buf()).or_insert(Node { mode: 0o755, kind: Kind::Dir });
        }
        self.0.insert(path, Node { mode, kind });
    }

    fn size(node: &Node) -> u64 {
        match &node.kind {
            Kind::Dir => 0,
            Kind::Copy(from) => fs::metadata(from).map_or(0, |m| m.len()),
            Kind::Text(text) => text.len() as u64,
        }
    }

    fn bytes(&self) -> u64 {
        self.0.values().map(Self::size).sum()
    }
}

fn plan(name: &str, binary: &Path) -> Result<Plan, String> {
    let mut plan = Plan(BTreeMap::new());
    plan.file(&format!("usr/local/bin/{name}"), Kind::Copy(binary.to_path_buf()), 0o755);
    for library in shared_libraries(binary)? {
        let real = fs::canonicalize(&library)
            .map_err(|e| format!("cannot resolve {}: {e}", library.display()))?;
        plan.file(&library.to_string_lossy(), Kind::Copy(real), 0o755);
    }
    if !Path::new(CA_BUNDLE).exists() {
        return Err(format!("{CA_BUNDLE} is missing: apt-get install -y ca-certificates"));
    }
    plan.file(CA_BUNDLE, Kind::Copy(CA_BUNDLE.into()), 0o644);
    plan.file("etc/passwd", Kind::Text(PASSWD), 0o644);
    plan.file("etc/group", Kind::Text(GROUP), 0o644);
    plan.file("etc/nsswitch.conf", Kind::Text(NSSWITCH), 0o644);
    plan.0.insert("tmp".into(), Node { mode: 0o1777, kind: Kind::Dir });
    Ok(plan)
}

/// The libraries `ldd` names, at the paths it names them (the loader's own among them); none for
/// a static binary.
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, String> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|e| format!("cannot run ldd {}: {e}", binary.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        if text.contains("not a dynamic executable") || why.contains("not a dynamic executable") {
            return Ok(Vec::new());
        }
        return Err(format!("ldd {}: {why}", binary.display()));
    }
    if let Some(line) = text.lines().find(|l| l.contains("not found")) {
        return Err(format!("ldd {}: {}", binary.display(), line.trim()));
    }
    Ok(text
        .lines()
        .filter_map(|line| line.split_whitespace().find(|w| w.starts_with('/')))
        .map(PathBuf::from)
        .collect())
}

/// Writes the planned root filesystem afresh under `rootfs`.
fn assemble(plan: &Plan, rootfs: &Path) -> Result<(), String> {
    let fail = |path: &Path, e: std::io::Error| format!("{}: {e}", path.display());
    if rootfs.exists() {
        fs::remove_dir_all(rootfs).map_err(|e| fail(rootfs, e))?;
    }
    fs::create_dir_all(rootfs).map_err(|e| fail(rootfs, e))?;
    for (path, node) in &plan.0 {
        let to = rootfs.join(path);
        match &node.kind {
            Kind::Dir => fs::create_dir(&to).map_err(|e| fail(&to, e))?,
            Kind::Copy(from) => {
                fs::copy(from, &to).map_err(|e| fail(&to, e))?;
            }
            Kind::Text(text) => fs::write(&to, text).map_err(|e| fail(&to, e))?,
        }
        fs::set_permissions(&to, fs::Permissions::from_mode(node.mode))
            .map_err(|e| fail(&to, e))?;
    }
    Ok(())
}

struct Image<'a> {
    name: &'a str,
    /// In the private store: `localhost/<name>:<version>`.
    reference: String,
    archive: PathBuf,
    annotations: Vec<(String, String)>,
}

/// buildah and podman on a private store under target/image/.containers/.
struct Engine {
    store: PathBuf,
    state: PathBuf,
}

impl Engine {
    fn new(out: &Path) -> Self {
        let base = out.join(".containers");
        Self { store: base.join("storage"), state: base.join("run") }
    }

    fn with_store(&self, tool: &str) -> Command {
        let mut cmd = Command::new(tool);
        cmd.arg("--root").arg(&self.store).arg("--runroot").arg(&self.state);
        cmd.args(["--storage-driver", "vfs"]);
        cmd
    }

    fn buildah(&self) -> Command {
        self.with_store("buildah")
    }

    /// podman as it works in this sandbox: runc (crun refuses the hybrid cgroup hierarchy) and
    /// cgroupfs (no systemd).
    fn podman(&self) -> Command {
        let mut cmd = self.with_store("podman");
        cmd.args(["--runtime", "runc", "--cgroup-manager", "cgroupfs"]);
        cmd
    }

    /// `podman run` as the README runs the images: read-only root, a tmpfs on /tmp and nothing
    /// else writable, the image's own user; host network, so the servers bind 127.0.0.1 here.
    /// Lower rlimits than podman's defaults, which a sandbox without CAP_SYS_RESOURCE cannot set.
    fn podman_run(&self) -> Command {
        let mut cmd = self.podman();
        cmd.args(["run", "--pull", "never", "--network", "host", "--read-only"]);
        cmd.args(["--read-only-tmpfs=false", "--tmpfs", "/tmp:rw,mode=1777"]);
        cmd.args(["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]);
        cmd
    }

    fn build(&self, image: &Image<'_>, rootfs: &Path, stamp: &Stamp) -> Result<(), String> {
        let working = format!("xtask-image-{}", image.name);
        let _ = self
            .buildah()
            .args(["rm", &working])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let ctr = output(self.buildah().args(["from", "--quiet", "--name", &working, "scratch"]))?;
        let ctr = ctr.trim();
        let made = (|| {
            run(self
                .buildah()
                .args(["copy", "--quiet", "--chown", "0:0", ctr])
                .arg(rootfs.join(""))
                .arg("/"))?;
            let mut config = self.buildah();
            config.args(["config", "--user", &format!("{NONROOT}:{NONROOT}"), "--workingdir", "/"]);
            config.args(["--entrypoint", &format!("[\"/usr/local/bin/{}\"]", image.name)]);
            config.args(["--created-by", "cargo xtask image"]);
            if image.name != "mcp-auth-proxy" {
                config.args(["--port", "8000/tcp", "--port", "9001/tcp"]);
            }
            for (key, value) in &image.annotations {
                config.arg("--label").arg(format!("{key}={value}"));
                config.arg("--annotation").arg(format!("{key}={value}"));
            }
            run(config.arg(ctr))?;
            run(self
                .buildah()
                .args(["commit", "--quiet", "--format", "oci", "--rm"])
                .args(["--timestamp", &stamp.epoch.to_string(), ctr, &image.reference])
                .stdout(Stdio::null()))
        })();
        if made.is_err() {
            let _ = self.buildah().args(["rm", ctr]).stdout(Stdio::null()).status();
        }
        made?;
        // The image this one replaces is now untagged: drop it (and any other untagged image).
        let _ = self.buildah().args(["rmi", "--prune"]).stdout(Stdio::null()).status();
        if image.archive.exists() {
            fs::remove_file(&image.archive)
                .map_err(|e| format!("cannot replace {}: {e}", image.archive.display()))?;
        }
        let tag = image.reference.trim_start_matches("localhost/");
        run(self
            .buildah()
            .args(["push", "--quiet", &image.reference])
            .arg(format!("oci-archive:{}:{tag}", image.archive.display()))
            .stdout(Stdio::null()))
    }

    fn check(&self, image: &Image<'_>, plan: &Plan, package: &Package) -> Result<(), String> {
        self.check_files(image, plan)?;
        eprintln!("xtask image: files: exactly the {} planned, no shell", plan.0.len());
        self.check_config(image, package)?;
        eprintln!("xtask image: configuration: user {NONROOT}, entrypoint, labels, annotations");
        let version = output(self.podman_run().args(["--rm", &image.reference, "--version"]))?;
        let expected = format!("{} {}", image.name, package.version);
        if version.trim() != expected {
            return Err(format!("--version printed {:?}, not {expected:?}", version.trim()));
        }
        eprintln!("xtask image: podman run --read-only {} --version: {expected}", image.reference);
        if image.name != "mcp-auth-proxy" {
            self.check_serve(image)?;
        }
        Ok(())
    }

    /// The image's files, as a container of it sees them, are exactly the planned ones.
    fn check_files(&self, image: &Image<'_>, plan: &Plan) -> Result<(), String> {
        let name = format!("xtask-image-check-{}-{}", image.name, std::process::id());
        let ctr = output(self.buildah().args([
            "from",
            "--quiet",
            "--pull-never",
            "--name",
            &name,
            &image.reference,
        ]))?;
        let ctr = ctr.trim();
        let checked = output(self.buildah().args(["mount", ctr]))
            .and_then(|mount| compare(plan, Path::new(mount.trim())));
        let _ = self.buildah().args(["umount", ctr]).stdout(Stdio::null()).status();
        let removed = run(self.buildah().args(["rm", ctr]).stdout(Stdio::null()));
        checked.and(removed)
    }

    fn check_config(&self, image: &Image<'_>, package: &Package) -> Result<(), String> {
        let text = output(self.buildah().args(["inspect", "--type", "image", &image.reference]))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("buildah inspect: {e}"))?;
        let config = &json["OCIv1"]["config"];
        let user = config["User"].as_str().unwrap_or_default();
        if user != format!("{NONROOT}:{NONROOT}") {
            return Err(format!("the image's user is {user:?}"));
        }
        let entrypoint = format!("/usr/local/bin/{}", image.name);
        if config["Entrypoint"] != serde_json::json!([entrypoint]) {
            return Err(format!("the image's entrypoint is {}", config["Entrypoint"]));
        }
        let version = "org.opencontainers.image.version";
        for (key, value) in &image.annotations {
            if config["Labels"][key] != *value.as_str() || json["ImageAnnotations"][key] != *value {
                return Err(format!("label or annotation {key} is not {value:?}"));
            }
        }
        if config["Labels"][version] != package.version.as_str() {
            return Err(format!("label {version} is not the workspace's {}", package.version));
        }
        Ok(())
    }

    /// The server in shared-secret mode, from the image with its configuration mounted, answers
    /// `/healthz` on 127.0.0.1, as uid 65532.
    fn check_serve(&self, image: &Image<'_>) -> Result<(), String> {
        let dir = target_dir().join("image").join(image.name).join("check");
        let fail = |path: &Path, e: std::io::Error| format!("{}: {e}", path.display());
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|e| fail(&dir, e))?;
        }
        fs::create_dir_all(&dir).map_err(|e| fail(&dir, e))?;
        let secret = dir.join("shared-secret");
        fs::write(&secret, "0123456789abcdef0123456789abcdef\n").map_err(|e| fail(&secret, e))?;
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o600))
            .map_err(|e| fail(&secret, e))?;
        std::os::unix::fs::chown(&secret, Some(NONROOT), Some(NONROOT))
            .map_err(|e| fail(&secret, e))?;
        let cfg = dir.join("rucio.cfg");
        fs::write(
            &cfg,
            "[client]\nrucio_host = http://127.0.0.1:9\nauth_host = http://127.0.0.1:9\n\
             auth_type = userpass\nusername = robot\npassword = x\naccount = robot\n",
        )
        .map_err(|e| fail(&cfg, e))?;
        let port = crate::rucio::free_port()?.to_string();
        let mount = format!("/etc/{}", image.name);
        let mut serve =
            vec!["serve", "--transport", "http", "--host", "127.0.0.1", "--port", &port];
        serve.extend(["--metrics-port", "0", "--log-format", "json"]);
        let secret_in = format!("{mount}/shared-secret");
        let cfg_in = format!("{mount}/rucio.cfg");
        serve.extend(["--shared-secret-file", &secret_in]);
        if image.name == "rucio-mcp" {
            serve.extend(["--site", "robot", "--rucio-cfg", &cfg_in]);
        } else {
            serve.extend(["--site", "lhcb", "--diracx-url", "http://127.0.0.1:9"]);
        }
        let name = format!("xtask-image-serve-{}-{}", image.name, std::process::id());
        let id = output(
            self.podman_run()
                .args(["--detach", "--name", &name, "--volume"])
                .arg(format!("{}:{mount}:ro", dir.display()))
                .arg(&image.reference)
                .args(&serve),
        )?;
        let id = id.trim();
        let checked = (|| {
            let answer = healthz(&port, Duration::from_secs(60))?;
            if !answer.starts_with("HTTP/1.1 200") {
                return Err(format!("/healthz answered {:?}", answer.lines().next()));
            }
            let pid = output(self.podman().args(["inspect", "--format", "{{.State.Pid}}", id]))?;
            let status = fs::read_to_string(format!("/proc/{}/status", pid.trim()))
                .map_err(|e| format!("the server's /proc/{}/status: {e}", pid.trim()))?;
            let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap_or_default();
            if uid.split_whitespace().skip(1).any(|u| u != NONROOT.to_string()) {
                return Err(format!("the server runs as {uid:?}, not uid {NONROOT}"));
            }
            eprintln!(
                "xtask image: serve (shared secret, read-only root, pid {}, uid {NONROOT}): /healthz 200",
                pid.trim()
            );
            Ok(())
        })();
        if checked.is_err() {
            let _ = run(self.podman().args(["logs", id]));
        }
        let stopped = run(self.podman().args(["stop", "--time", "10", id]).stdout(Stdio::null()));
        let removed = run(self.podman().args(["rm", "--force", id]).stdout(Stdio::null()));
        checked.and(stopped).and(removed)
    }
}

/// The tree under `mount` against the plan: no shell, the same paths, kinds, modes and sizes, all
/// owned by root.
fn compare(plan: &Plan, mount: &Path) -> Result<(), String> {
    let mut found = BTreeMap::new();
    let mut todo = vec![mount.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let entries = fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
            let meta =
                fs::symlink_metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            if meta.is_dir() {
                todo.push(path.clone());
            }
            let relative = path.strip_prefix(mount).unwrap_or(&path).to_path_buf();
            found.insert(relative, meta);
        }
    }
    if let Some(shell) = found
        .keys()
        .find(|p| p.file_name().is_some_and(|n| SHELLS.contains(&n.to_string_lossy().as_ref())))
    {
        return Err(format!("the image has a shell: /{}", shell.display()));
    }
    for path in found.keys() {
        if !plan.0.contains_key(path) {
            return Err(format!("the image has /{}, which is not planned", path.display()));
        }
    }
    for (path, node) in &plan.0 {
        let meta = found.get(path).ok_or_else(|| format!("the image lacks /{}", path.display()))?;
        let is_dir = matches!(node.kind, Kind::Dir);
        let mode = meta.mode() & 0o7777;
        if meta.is_dir() != is_dir || !(meta.is_dir() || meta.is_file()) {
            return Err(format!(
                "/{} is not a {}",
                path.display(),
                if is_dir { "directory" } else { "file" }
            ));
        }
        if mode != node.mode || meta.uid() != 0 || meta.gid() != 0 {
            return Err(format!(
                "/{} has mode {mode:o} and owner {}:{}, not {:o} and 0:0",
                path.display(),
                meta.uid(),
                meta.gid(),
                node.mode
            ));
        }
        if !is_dir && meta.len() != Plan::size(node) {
            return Err(format!(
                "/{} has {} bytes, not {}",
                path.display(),
                meta.len(),
                Plan::size(node)
            ));
        }
    }
    Ok(())
}

/// GET /healthz on 127.0.0.1:port until something answers; the answer.
fn healthz(port: &str, patience: Duration) -> Result<String, String> {
    let deadline = Instant::now() + patience;
    loop {
        let answer =
            std::net::TcpStream::connect(format!("127.0.0.1:{port}")).ok().and_then(|mut s| {
                s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
                write!(
                    s,
                    "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
                )
                .ok()?;
                let mut text = String::new();
                s.read_to_string(&mut text).ok()?;
                Some(text)
            });
        match answer {
            Some(answer) if !answer.is_empty() => return Ok(answer),
            _ if Instant::now() > deadline => {
                return Err(format!("nothing answered on 127.0.0.1:{port} within {patience:?}"));
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Runs a command to completion; its standard output, or an error with its standard error.
fn output(cmd: &mut Command) -> Result<String, String> {
    let shown = format!("{cmd:?}");
    let out =
        cmd.stdin(Stdio::null()).output().map_err(|e| format!("cannot start {shown}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root()).unwrap_or(path).display().to_string()
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1024.0 / 1024.0)
}

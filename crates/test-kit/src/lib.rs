//! Test support: access to the real Rucio and DiracX servers that `cargo xtask rucio up`,
//! `cargo xtask diracx up` (or `cargo xtask ci`) start. Used only by tests; it may depend on `rucio-client` and nothing else of the workspace.
// Tests fail loudly: a missing kit or a broken seed is a test failure, never a skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rucio_client::{Environment, RucioClient, RucioConfig};

/// The KEY=value lines of the kit's env file.
#[derive(Debug)]
pub struct Kit {
    vars: HashMap<String, String>,
}

impl Kit {
    /// Loads the running Rucio's env file; fails (never skips) when there is none.
    pub fn load() -> Self {
        Self::load_kit("RUCIO_TEST_ENV", "rucio-server", "cargo xtask rucio up")
    }

    /// Loads the running DiracX's env file (`cargo xtask diracx up`, or `DIRACX_TEST_ENV`).
    pub fn diracx() -> Self {
        Self::load_kit("DIRACX_TEST_ENV", "diracx", "cargo xtask diracx up")
    }

    /// The second DiracX, whose access tokens live one minute (refresh past expiry).
    pub fn diracx_short_tokens() -> Self {
        Self::load_kit(
            "DIRACX_SHORT_TEST_ENV",
            "diracx-short",
            "cargo xtask diracx --short-tokens up",
        )
    }

    fn load_kit(variable: &str, instance: &str, start: &str) -> Self {
        // A relative path in the variable means the workspace root's, not the test's own directory.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let path = std::env::var_os(variable).map(|p| root.join(p)).unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
            target.join(instance).join("env")
        });
        let text = std::fs::read_to_string(&path).unwrap_or_else(|_| {
            panic!(
                "this test needs a local server, but {} does not exist: start it with `{start}` \
                 (or run everything with `cargo xtask ci`)",
                path.display()
            )
        });
        let vars = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| {
                let v = v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).unwrap_or(v);
                (k.to_owned(), v.to_owned())
            })
            .collect();
        Self { vars }
    }

    pub fn get(&self, key: &str) -> &str {
        self.vars.get(key).unwrap_or_else(|| {
            panic!("the kit env has no {key}: restart the kit (`cargo xtask rucio up` or `cargo xtask diracx up`)")
        })
    }

    /// A rucio.cfg for userpass at the plain-HTTP port, with its token cache in `dir`.
    pub fn userpass_cfg(
        &self,
        dir: &Path,
        account: &str,
        username: &str,
        password: &str,
    ) -> String {
        format!(
            "[client]\nrucio_host = {url}\nauth_host = {url}\nauth_type = userpass\naccount = {account}\n\
             username = {username}\npassword = {password}\nrequest_retries = 1\nauth_token_file_path = {tok}\n",
            url = self.get("RUCIO_URL"),
            tok = dir.join(format!("token-{account}")).display()
        )
    }

    pub fn config(&self, cfg: &str) -> RucioConfig {
        RucioConfig::from_cfg_text(cfg, "test.cfg", &Environment::empty()).unwrap()
    }

    /// A client logged in as `root` (SERVICE account) with its own token cache.
    pub fn root(&self, dir: &Path) -> RucioClient {
        let cfg =
            self.userpass_cfg(dir, "root", self.get("RUCIO_USERNAME"), self.get("RUCIO_PASSWORD"));
        RucioClient::new(self.config(&cfg)).unwrap()
    }

    /// A client logged in as `jdoe` (USER account).
    pub fn jdoe(&self, dir: &Path) -> RucioClient {
        let cfg = self.userpass_cfg(
            dir,
            "jdoe",
            self.get("RUCIO_USER_USERNAME"),
            self.get("RUCIO_USER_PASSWORD"),
        );
        RucioClient::new(self.config(&cfg)).unwrap()
    }

    /// The rule ids etc. the seed created.
    pub fn seed(&self) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(self.get("RUCIO_SEED_JSON")).unwrap())
            .unwrap()
    }

    /// Registers a new file `test:<prefix>-<unique>` with replicas at `rses`, through the kit's
    /// Python client, and returns its DID.
    pub fn new_file(&self, prefix: &str, rses: &[&str]) -> String {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let name = format!("{prefix}-{}-{nanos}", std::process::id());
        let out = std::process::Command::new(Path::new(self.get("RUCIO_VENV")).join("bin/python"))
            .arg(Path::new(self.get("RUCIO_BASE")).join("lib/new_file.py"))
            .args(["test", &name])
            .args(rses)
            .env("RUCIO_CONFIG", self.get("RUCIO_CLIENT_CONFIG"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "new_file.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        format!("test:{name}")
    }

    pub fn rule_id(&self, key: &str) -> String {
        self.seed()["rules"][key].as_str().unwrap().to_owned()
    }

    /// Makes an RFC 3820 proxy of the kit's client certificate with `openssl`, as
    /// `voms-proxy-init` would (proxy certificate, its key, then the user certificate, in one file).
    pub fn make_proxy(&self, dir: &Path, bits: u32) -> PathBuf {
        let pki = |name: &str| Path::new(self.get("RUCIO_X509_CERT")).with_file_name(name);
        std::fs::write(
            dir.join("ext.cnf"),
            "[v3_proxy]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\n\
             proxyCertInfo = critical,language:id-ppl-inheritAll\n",
        )
        .unwrap();
        let openssl = |args: &[&str]| {
            let out =
                std::process::Command::new("openssl").args(args).current_dir(dir).output().unwrap();
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        openssl(&[
            "req",
            "-new",
            "-newkey",
            &format!("rsa:{bits}"),
            "-nodes",
            "-keyout",
            "pkey.pem",
            "-subj",
            "/C=CH/O=Test/CN=Rucio Test Root/CN=424242",
            "-out",
            "p.csr",
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            "p.csr",
            "-CA",
            pki("client.crt").to_str().unwrap(),
            "-CAkey",
            pki("client.key").to_str().unwrap(),
            "-set_serial",
            "424242",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
            "-extensions",
            "v3_proxy",
            "-out",
            "p.crt",
        ]);
        let mut pem = std::fs::read_to_string(dir.join("p.crt")).unwrap();
        pem.push_str(&std::fs::read_to_string(dir.join("pkey.pem")).unwrap());
        pem.push_str(&std::fs::read_to_string(pki("client.crt")).unwrap());
        let proxy = dir.join(format!("x509up_u{bits}"));
        std::fs::write(&proxy, pem).unwrap();
        proxy
    }
}

//! Job sandboxes: the listing of a job's `Input`/`Output` sandboxes, presigned download URLs,
//! upload through the presigned POST (with its SHA-256 checksum), and assignment to a job.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::client::DiracxClient;
use crate::error::{Error, Result, detail_of, strip_query};
use crate::http::{Call, Retry};
use crate::jobs::JobId;

/// The sandboxes of one job. DiracX 0.7.0 answers with capitalised keys (`Input`, `Output`);
/// lower-case ones are read too.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct JobSandboxes {
    #[serde(rename = "Input", alias = "input", default)]
    pub input: Vec<String>,
    #[serde(rename = "Output", alias = "output", default)]
    pub output: Vec<String>,
}

/// A presigned URL anyone holding it can download the sandbox with, until it expires. Not a
/// secret of ours, but a capability: hand it to the user, never to a log.
#[derive(Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct SandboxDownload {
    pub url: String,
    pub expires_in: u64,
}

impl std::fmt::Debug for SandboxDownload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxDownload")
            .field("url", &strip_query(&self.url))
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// The archive formats DiracX stores sandboxes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SandboxFormat {
    #[serde(rename = "tar.bz2")]
    TarBz2,
    #[serde(rename = "tar.zst")]
    TarZst,
}

#[derive(Deserialize)]
struct UploadAnswer {
    pfn: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    fields: serde_json::Map<String, serde_json::Value>,
}

impl DiracxClient {
    /// The sandbox PFNs of a job.
    pub async fn job_sandboxes(&self, job: JobId) -> Result<JobSandboxes> {
        let path = format!("api/jobs/{job}/sandbox");
        self.http.send(Call::new(Method::GET, &path)).await?.json()
    }

    /// A presigned download URL for a sandbox PFN (`SB:SandboxSE|/S3/...`).
    pub async fn sandbox_download(&self, pfn: &str) -> Result<SandboxDownload> {
        let query = [("pfn", pfn.to_owned())];
        let mut call = Call::new(Method::GET, "api/jobs/sandbox");
        call.query = &query;
        self.http.send(call).await?.json()
    }

    /// Uploads an archive as a sandbox and returns its PFN. DiracX deduplicates by checksum: an
    /// archive it already holds is not sent again.
    pub async fn upload_sandbox(
        &self,
        archive: bytes::Bytes,
        format: SandboxFormat,
    ) -> Result<String> {
        if archive.is_empty() {
            return Err(Error::InvalidArgument("an empty sandbox cannot be uploaded".into()));
        }
        let checksum =
            hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &archive).as_ref());
        let body = json!({
            "checksum_algorithm": "sha256",
            "checksum": checksum,
            "size": archive.len(),
            "format": format,
        });
        let mut call = Call::new(Method::POST, "api/jobs/sandbox");
        call.body = Some(&body);
        call.retry = Retry::Safe;
        let answer: UploadAnswer = self.http.send(call).await?.json()?;
        let Some(url) = answer.url else {
            return Ok(answer.pfn);
        };
        // The presigned POST goes to the storage, without our token.
        let mut form = reqwest::multipart::Form::new();
        for (name, value) in answer.fields {
            let value = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
            form = form.text(name, value);
        }
        form = form.part("file", reqwest::multipart::Part::stream(archive).file_name("sandbox"));
        let response = self
            .http
            .client
            .post(&url)
            .multipart(form)
            .send()
            .await
            .map_err(|e| Error::transport(&url, &e))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.bytes().await.unwrap_or_default();
            return Err(Error::Status {
                status: status.as_u16(),
                method: "POST",
                path: format!("sandbox storage {}", strip_query(&url)),
                detail: detail_of(&body),
            });
        }
        Ok(answer.pfn)
    }

    /// Assigns an uploaded sandbox to a job as its output sandbox.
    pub async fn assign_output_sandbox(&self, job: JobId, pfn: &str) -> Result<()> {
        let path = format!("api/jobs/{job}/sandbox/output");
        let body = json!(pfn);
        let mut call = Call::new(Method::PATCH, &path);
        call.body = Some(&body);
        call.retry = Retry::Safe;
        self.http.send(call).await.map(|_| ())
    }
}

/// A `tar.bz2` sandbox of named files, as DiracX stores them (each file at the archive's top
/// level, which is where the job finds it in its working directory).
pub fn tar_bz2(files: &[(String, bytes::Bytes)]) -> Result<bytes::Bytes> {
    let broken = |e: std::io::Error| {
        Error::InvalidArgument(format!("cannot build the sandbox archive: {e}"))
    };
    let encoder = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    let mut archive = tar::Builder::new(encoder);
    for (name, content) in files {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(Error::InvalidArgument(format!(
                "`{name}` is not a file name for a sandbox"
            )));
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        archive.append_data(&mut header, name, content.as_ref()).map_err(broken)?;
    }
    let encoder = archive.into_inner().map_err(broken)?;
    encoder.finish().map(bytes::Bytes::from).map_err(broken)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn archives_hold_top_level_files_only() {
        let file = |name: &str| (name.to_owned(), bytes::Bytes::from_static(b"x"));
        let archive = tar_bz2(&[file("run.sh"), file("data.txt")]).unwrap();
        assert!(archive.starts_with(b"BZh"), "bzip2 magic");
        for bad in ["../etc/passwd", "a/b", "..", ""] {
            assert!(tar_bz2(&[file(bad)]).is_err(), "{bad}");
        }
    }

    #[test]
    fn sandbox_listings_read_both_spellings() {
        let upper: JobSandboxes =
            serde_json::from_str(r#"{"Input":["a"],"Output":["b"]}"#).unwrap();
        let lower: JobSandboxes =
            serde_json::from_str(r#"{"input":["a"],"output":["b"]}"#).unwrap();
        assert_eq!(upper, lower);
        assert_eq!(upper.output, vec!["b".to_owned()]);
    }
}

//! An async client for the REST API of [DiracX](https://github.com/DIRACGrid/diracx), the DIRAC
//! grid's workload management service: job search, summary, submission, status changes,
//! rescheduling, sandboxes and configuration, with DiracX's own login (device flow, refresh with
//! rotation) and the DiracX CLI's credentials file, so that `dirac login` and this client share
//! one login.
//!
//! This crate knows nothing of MCP, HTTP servers or presets: it must not depend on any other crate
//! of this workspace, so that any Rust program can use it.
//!
//! ```no_run
//! use std::sync::Arc;
//! use diracx_client::{ClientOptions, DiracxClient, JobSearch, SecretString, StaticToken};
//!
//! # async fn run(token: SecretString) -> Result<(), diracx_client::Error> {
//! let tokens = Arc::new(StaticToken::new(token));
//! let client = DiracxClient::new("https://diracx.example.org/", tokens, &ClientOptions::from_env())?;
//! let page = client.search_jobs(&JobSearch::default(), 1, 20).await?;
//! println!("{} of {} jobs", page.jobs.len(), page.total);
//! # Ok(()) }
//! ```

pub mod auth;
mod client;
mod config;
pub mod credentials;
mod error;
mod http;
mod jobs;
pub mod jwt;
pub mod oidc;
mod sandboxes;

pub use auth::{AuthError, StaticToken, TokenSource};
pub use client::{ClientOptions, DiracxClient, UserInfo};
pub use config::ConfigDocument;
pub use error::{Error, Result, TransportFailure};
pub use jobs::{
    Condition, InsertedJob, JobId, JobSearch, JobStatus, JobStatusUpdate, MAX_PER_PAGE,
    RescheduleOutcome, ScalarOperator, SearchPage, SetStatusOutcome, SortDirection, SortSpec,
    StatusChange, VectorOperator,
};
pub use sandboxes::{JobSandboxes, SandboxDownload, SandboxFormat, tar_bz2};
pub use secrecy::{ExposeSecret, SecretString};

/// The HTTP client the client and the auth flows share (reqwest's).
pub type HttpClient = reqwest::Client;

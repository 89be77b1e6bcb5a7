//! An async client for the REST API of [Rucio](https://rucio.cern.ch), the data management system
//! of ATLAS, CMS, DUNE and other experiments.
//!
//! It reads `rucio.cfg` and the environment as the Python client does, authenticates with
//! userpass, x509, x509_proxy or OIDC (including the interactive polling login, exposed as an async
//! API that yields the login URL first), shares the Python client's token cache, and returns lists
//! as lazily parsed streams.
//!
//! This crate knows nothing of MCP, HTTP servers or presets: it must not depend on any other crate
//! of this workspace, so that any Rust program can use it.
//!
//! ```no_run
//! use futures_util::TryStreamExt;
//! use rucio_client::{DidSearchType, RucioClient, RucioConfig};
//!
//! # async fn run() -> Result<(), rucio_client::Error> {
//! let client = RucioClient::new(RucioConfig::load()?)?;
//! let mut names = client.list_dids("data24", &[("name", "*")], DidSearchType::Dataset, false, None).await?;
//! while let Some(name) = names.try_next().await? {
//!     println!("{name}");
//! }
//! # Ok(()) }
//! ```

mod api;
mod auth;
mod client;
mod config;
mod did;
mod error;
pub mod models;
mod tls;
mod token;

pub use api::{ListStream, ReplicaQuery, RuleUpdate};
pub use auth::OidcLogin;
pub use client::{ClientBuilder, RucioClient};
pub use config::{
    AuthType, ConfigError, DEFAULT_VO, Environment, IniFile, OidcSettings, RucioConfig,
    wlcg_token_discovery,
};
pub use did::{Did, DidParseError};
pub use error::{Error, Result, RucioErrorKind, TransportFailure};
pub use models::{DidSearchType, DidType, NewRule, RequestState};
pub use secrecy::{ExposeSecret, SecretString};
pub use token::AuthToken;

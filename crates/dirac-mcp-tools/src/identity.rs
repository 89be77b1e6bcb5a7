//! Who a tool call runs as: the DiracX user of the verified token.

use serde::Serialize;

/// DiracX's property names the built-in policy reads.
pub const NORMAL_USER: &str = "NormalUser";
pub const JOB_ADMINISTRATOR: &str = "JobAdministrator";

/// The signed-in user, from claims DiracX (or our verifier) vouched for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DiracUser {
    /// `<vo>:<idp subject>`.
    pub sub: String,
    /// DiracX's `preferred_username`: what jobs list as their `Owner`.
    pub username: String,
    pub vo: String,
    pub group: String,
    pub properties: Vec<String>,
}

impl DiracUser {
    pub fn has(&self, property: &str) -> bool {
        self.properties.iter().any(|p| p == property)
    }

    pub fn is_job_administrator(&self) -> bool {
        self.has(JOB_ADMINISTRATOR)
    }

    /// From `/api/auth/userinfo`: DiracX itself verified the token it was asked with.
    pub fn from_userinfo(info: &diracx_client::UserInfo) -> Self {
        Self {
            sub: info.sub.clone(),
            username: info.preferred_username.clone().unwrap_or_else(|| info.sub.clone()),
            vo: info.vo.clone(),
            group: info.dirac_group.clone(),
            properties: info.properties.clone(),
        }
    }
}

impl DiracUser {
    /// From a token's claims, verified (by signature, or because the token is the user's own
    /// and only shapes what is listed).
    pub fn from_claims(claims: &diracx_client::jwt::DiracxClaims) -> Self {
        Self {
            sub: claims.sub.clone(),
            username: claims.preferred_username.clone().unwrap_or_else(|| claims.sub.clone()),
            vo: claims.vo.clone(),
            group: claims.dirac_group.clone(),
            properties: claims.dirac_properties.clone(),
        }
    }
}

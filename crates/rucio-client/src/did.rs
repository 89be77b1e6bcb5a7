//! Data identifiers (`scope:name`) and Rucio's default scope extraction.

use std::fmt;

/// A data identifier: a scope and a name within it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Did {
    scope: String,
    name: String,
}

/// Why a string is not a DID.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DidParseError {
    #[error("empty DID: expected `scope:name`, e.g. `data24:data24.run00001.DAOD`")]
    Empty,
    #[error("{0:?} has more than one `:`: expected `scope:name`")]
    TooManyColons(String),
    #[error("{0:?} has an empty scope or name: expected `scope:name`")]
    EmptyPart(String),
}

impl Did {
    /// A DID from its parts, which must both be non-empty.
    pub fn new(scope: impl Into<String>, name: impl Into<String>) -> Result<Self, DidParseError> {
        let (scope, name) = (scope.into(), name.into());
        if scope.trim().is_empty() || name.trim().is_empty() {
            return Err(DidParseError::EmptyPart(format!("{scope}:{name}")));
        }
        Ok(Self { scope, name })
    }

    /// Parses `scope:name`, or a bare name the way Rucio's default `extract_scope` does:
    /// `user.X.*` and `group.X.*` take the first two dot-separated parts as scope, anything else
    /// the first part; a trailing `/` is dropped.
    pub fn parse(raw: &str) -> Result<Self, DidParseError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(DidParseError::Empty);
        }
        let (scope, name) = match raw.split_once(':') {
            Some((_, rest)) if rest.contains(':') => {
                return Err(DidParseError::TooManyColons(raw.to_owned()));
            }
            Some((scope, name)) => {
                (scope.to_owned(), name.strip_suffix('/').unwrap_or(name).to_owned())
            }
            None => {
                let mut parts = raw.split('.');
                let first = parts.next().unwrap_or_default();
                let scope = if raw.starts_with("user") || raw.starts_with("group") {
                    match parts.next() {
                        Some(second) => format!("{first}.{second}"),
                        None => first.to_owned(),
                    }
                } else {
                    first.to_owned()
                };
                (scope, raw.strip_suffix('/').unwrap_or(raw).to_owned())
            }
        };
        if scope.is_empty() || name.is_empty() {
            return Err(DidParseError::EmptyPart(raw.to_owned()));
        }
        Ok(Self { scope, name })
    }

    pub fn scope(&self) -> &str {
        &self.scope
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key(&self) -> crate::models::DidKey {
        crate::models::DidKey { scope: self.scope.clone(), name: self.name.clone() }
    }
}

impl fmt::Display for Did {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.scope, self.name)
    }
}

impl std::str::FromStr for Did {
    type Err = DidParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn scope_extraction_follows_rucio() {
        let d = Did::parse("data24:data24.run00001.DAOD").unwrap();
        assert_eq!((d.scope(), d.name()), ("data24", "data24.run00001.DAOD"));
        let d = Did::parse("user.jdoe.test.file").unwrap();
        assert_eq!((d.scope(), d.name()), ("user.jdoe", "user.jdoe.test.file"));
        let d = Did::parse("group.phys.ds/").unwrap();
        assert_eq!((d.scope(), d.name()), ("group.phys", "group.phys.ds"));
        let d = Did::parse("mc23_13p6TeV.601229.x").unwrap();
        assert_eq!(d.scope(), "mc23_13p6TeV");
        let d = Did::parse("cont:name/").unwrap();
        assert_eq!(d.to_string(), "cont:name");
        assert_eq!(Did::parse("a:b:c"), Err(DidParseError::TooManyColons("a:b:c".into())));
        assert_eq!(Did::parse(" "), Err(DidParseError::Empty));
        assert!(matches!(Did::parse(":x"), Err(DidParseError::EmptyPart(_))));
    }
}

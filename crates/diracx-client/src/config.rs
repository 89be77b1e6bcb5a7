//! DiracX's configuration (the CS) as `/api/config/` serves it, and its ETag cache.

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

/// The configuration document, with look-ups for what users ask about. Unknown sections are kept.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigDocument {
    root: Map<String, Value>,
}

impl ConfigDocument {
    pub(crate) fn new(root: Map<String, Value>) -> Self {
        Self { root }
    }

    /// The whole document.
    pub fn raw(&self) -> &Map<String, Value> {
        &self.root
    }

    /// A section by its path, e.g. `["Registry", "lhcb", "Groups"]`.
    pub fn section(&self, path: &[&str]) -> Option<&Value> {
        let mut at = self.root.get(*path.first()?)?;
        for key in &path[1..] {
            at = at.get(key)?;
        }
        Some(at)
    }

    /// The VOs the registry knows.
    pub fn vos(&self) -> Vec<String> {
        keys(self.section(&["Registry"]))
    }

    /// The groups of a VO with their properties.
    pub fn groups(&self, vo: &str) -> Vec<(String, Vec<String>)> {
        let Some(Value::Object(groups)) = self.section(&["Registry", vo, "Groups"]) else {
            return Vec::new();
        };
        groups
            .iter()
            .map(|(name, group)| {
                let properties = group
                    .get("Properties")
                    .and_then(Value::as_array)
                    .map(|p| p.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                    .unwrap_or_default();
                (name.clone(), properties)
            })
            .collect()
    }

    /// The VO's default group.
    pub fn default_group(&self, vo: &str) -> Option<String> {
        self.section(&["Registry", vo, "DefaultGroup"]).and_then(Value::as_str).map(str::to_owned)
    }

    /// The sites of `Resources/Sites/<grid>/<site>`, where the configuration lists them (DiracX
    /// 0.7.0's model drops that section, later versions and extensions may keep it).
    pub fn sites(&self) -> Vec<(String, String)> {
        let Some(Value::Object(grids)) = self.section(&["Resources", "Sites"]) else {
            return Vec::new();
        };
        grids
            .iter()
            .flat_map(|(grid, sites)| keys(Some(sites)).into_iter().map(|s| (grid.clone(), s)))
            .collect()
    }

    /// The job description limits of a VO's operations (CPU time, priority, job types).
    pub fn job_description(&self, vo: &str) -> Option<&Value> {
        self.section(&["Operations", vo, "JobDescription"])
    }
}

fn keys(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// The last document and its ETag, shared by the clones of a client.
#[derive(Debug, Default)]
pub(crate) struct ConfigCache {
    last: Mutex<Option<(String, Arc<ConfigDocument>)>>,
}

impl ConfigCache {
    pub(crate) fn current(&self) -> Option<(String, Arc<ConfigDocument>)> {
        self.last.lock().ok().and_then(|last| last.clone())
    }

    pub(crate) fn store(&self, etag: String, document: Arc<ConfigDocument>) {
        if let Ok(mut last) = self.last.lock() {
            *last = Some((etag, document));
        }
    }
}

//! A project as the store keeps it.

use serde::{Deserialize, Serialize};
use vrender_engine::Project;

use super::Millis;

/// A project as stored: the validated project (with its `projectId`) and when it was stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredProject {
    pub project: Project,
    pub created_at: Millis,
    /// A template's JSON as sent, `{{NAME}}` merge fields and `mergeDefaults` included; `project` is
    /// then that JSON with its defaults filled in (fields without one left as they are). Jobs merge
    /// their values into this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<serde_json::Value>,
}

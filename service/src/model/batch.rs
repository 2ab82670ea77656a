//! A batch of template jobs as the store keeps it.

use serde::{Deserialize, Serialize};

use super::Millis;

/// A batch: one job per item of a template, submitted together (`POST /render/batches`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchRecord {
    pub batch_id: String,
    pub project_id: String,
    pub user_id: String,
    pub created_at: Millis,
    /// One per item, in the order sent.
    pub items: Vec<BatchItem>,
}

/// An item of a batch: its job, or why no job was made for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The item's merge values did not make a valid project, or a quota refused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

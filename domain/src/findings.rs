//! Eligibility findings: what the service noticed at submission to help staff decide.
//! Findings never decide a case; people do.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable code, e.g. `EXAM_CERTIFICATE_EXPIRED`.
    pub code: String,
    /// A sentence for clerks and approvers.
    pub message: String,
    /// The values that led to the finding.
    pub data: serde_json::Value,
}

//! The status of a case and the words the applicant sees for it.

use serde::{Deserialize, Serialize};

/// Where a case stands. `New` exists only before the first event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    #[default]
    New,
    Submitted,
    Accepted,
    NotAccepted,
    Approved,
    NotApproved,
    Shipped,
    Collected,
}

impl Status {
    /// 申报成功, 受理通过，待审批, …: the status in the applicant's words.
    pub fn label(self) -> &'static str {
        match self {
            Self::New => "",
            Self::Submitted => "申报成功",
            Self::Accepted => "受理通过，待审批",
            Self::NotAccepted => "不予受理",
            Self::Approved => "准予许可",
            Self::NotApproved => "不予许可",
            Self::Shipped => "已邮寄",
            Self::Collected => "已领取",
        }
    }

    /// A case awaiting a decision: the applicant may not open another one.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Submitted | Self::Accepted)
    }

    /// No further command applies.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::NotAccepted | Self::NotApproved | Self::Shipped | Self::Collected
        )
    }
}

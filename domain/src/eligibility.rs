//! Eligibility rules with their configurable defaults, and the findings computed from them.

use serde::{Deserialize, Serialize};

use crate::registry::{EducationLevel, PutonghuaGrade};

/// Thresholds districts may change each batch (DOMAIN.md, "Eligibility").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EligibilityRules {
    pub min_education_kindergarten: EducationLevel,
    pub min_education_primary: EducationLevel,
    pub min_education_junior_middle: EducationLevel,
    pub min_putonghua: PutonghuaGrade,
    pub min_putonghua_chinese_teachers: PutonghuaGrade,
    pub retirement_age_male: u32,
    pub retirement_age_female: u32,
}

impl Default for EligibilityRules {
    fn default() -> Self {
        Self {
            min_education_kindergarten: EducationLevel::SecondaryNormal,
            min_education_primary: EducationLevel::SecondaryNormal,
            min_education_junior_middle: EducationLevel::JuniorCollege,
            min_putonghua: PutonghuaGrade::TwoB,
            min_putonghua_chinese_teachers: PutonghuaGrade::TwoA,
            retirement_age_male: 60,
            retirement_age_female: 55,
        }
    }
}

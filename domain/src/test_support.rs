//! Registry records shaped like `fixtures/registry.json`, shared by the crate's tests.

use chrono::NaiveDate;
use serde_json::json;

use crate::registry::PersonRecord;

/// A record parsed from the registry file format, so the tests also prove the format reads.
pub fn person(record: serde_json::Value) -> PersonRecord {
    serde_json::from_value(record).expect("test records follow the registry file format")
}

pub fn date(raw: &str) -> NaiveDate {
    raw.parse().expect("test dates are written as YYYY-MM-DD")
}

/// 张三: a mainland man applying to teach 语文 at primary level, with every record held.
pub fn zhang_san() -> PersonRecord {
    person(json!({
        "idDocNumber": "110199199803159917",
        "idDocType": "RESIDENT_ID_CARD",
        "name": "张三",
        "gender": "MALE",
        "birthDate": "1998-03-15",
        "identityCategory": "MAINLAND_RESIDENT",
        "jurisdiction": { "basis": "HOUSEHOLD_REGISTER", "district": "海淀区" },
        "education": {
            "level": "BACHELOR",
            "institution": "示例师范大学(虚构)",
            "graduationYear": 2020
        },
        "putonghua": { "grade": "2A", "certificateNumber": "FAKE-PTH-0001" },
        "examCertificate": {
            "number": "FAKE-NTCE-0001",
            "level": "PRIMARY_SCHOOL",
            "subject": "语文",
            "issuedOn": "2024-06-20",
            "validUntil": "2027-06-19",
            "examProvince": "北京市"
        },
        "criminalRecordCheck": "CLEAR"
    }))
}

/// 王五: a mainland man applying for kindergarten, whose exam certificate has no subject.
pub fn wang_wu() -> PersonRecord {
    person(json!({
        "idDocNumber": "110199199907089933",
        "idDocType": "RESIDENT_ID_CARD",
        "name": "王五",
        "gender": "MALE",
        "birthDate": "1999-07-08",
        "identityCategory": "MAINLAND_RESIDENT",
        "jurisdiction": { "basis": "HOUSEHOLD_REGISTER", "district": "海淀区" },
        "education": { "level": "JUNIOR_COLLEGE", "institution": null, "graduationYear": 2021 },
        "putonghua": { "grade": "2A", "certificateNumber": null },
        "examCertificate": {
            "number": "FAKE-NTCE-0003",
            "level": "KINDERGARTEN",
            "subject": null,
            "issuedOn": "2025-06-20",
            "validUntil": "2028-06-19",
            "examProvince": "北京市"
        },
        "criminalRecordCheck": "CLEAR"
    }))
}

/// 李四: a mainland woman applying to teach 数学 at junior middle level.
pub fn li_si() -> PersonRecord {
    person(json!({
        "idDocNumber": "110199199611029923",
        "idDocType": "RESIDENT_ID_CARD",
        "name": "李四",
        "gender": "FEMALE",
        "birthDate": "1996-11-02",
        "identityCategory": "MAINLAND_RESIDENT",
        "jurisdiction": { "basis": "RESIDENCE_PERMIT", "district": "海淀区" },
        "education": { "level": "BACHELOR", "institution": null, "graduationYear": 2019 },
        "putonghua": { "grade": "2B", "certificateNumber": null },
        "examCertificate": {
            "number": "FAKE-NTCE-0002",
            "level": "JUNIOR_MIDDLE_SCHOOL",
            "subject": "数学",
            "issuedOn": "2024-12-20",
            "validUntil": "2027-12-19",
            "examProvince": "北京市"
        },
        "criminalRecordCheck": "CLEAR"
    }))
}

/// 陈大文: a Hong Kong resident with a Beijing residence permit; education, Putonghua and
/// the criminal-record check are not held here.
pub fn chen_da_wen() -> PersonRecord {
    person(json!({
        "idDocNumber": "810000199505059959",
        "idDocType": "HK_MACAO_RESIDENCE_PERMIT",
        "name": "陈大文",
        "gender": "MALE",
        "birthDate": "1995-05-05",
        "identityCategory": "HONG_KONG_MACAO_RESIDENT",
        "jurisdiction": { "basis": "RESIDENCE_PERMIT", "district": "海淀区" },
        "education": null,
        "putonghua": null,
        "examCertificate": {
            "number": "FAKE-NTCE-0005",
            "level": "KINDERGARTEN",
            "subject": null,
            "issuedOn": "2025-06-20",
            "validUntil": "2028-06-19",
            "examProvince": "北京市"
        },
        "criminalRecordCheck": "NOT_AVAILABLE"
    }))
}

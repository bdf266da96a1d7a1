use super::*;
use crate::test_support::{chen_da_wen, zhang_san};

fn kinds(materials: &[Material]) -> Vec<MaterialKind> {
    materials.iter().map(|m| m.kind).collect()
}

#[test]
fn every_record_held_becomes_a_fetched_material() {
    let materials = fetched_materials(&zhang_san());
    assert_eq!(
        kinds(&materials),
        [
            MaterialKind::IdentityDocument,
            MaterialKind::JurisdictionBasis,
            MaterialKind::EducationRecord,
            MaterialKind::PutonghuaCertificate,
            MaterialKind::ExamCertificate,
            MaterialKind::CriminalRecordCheck,
        ]
    );
    for material in &materials {
        assert_eq!(material.source, MaterialSource::Fetched);
        assert_eq!(material.media_type, "application/json");
    }
}

#[test]
fn records_not_held_are_not_attached() {
    let mut person = chen_da_wen();
    person.jurisdiction.basis = JurisdictionBasis::None;
    assert_eq!(
        kinds(&fetched_materials(&person)),
        [
            MaterialKind::IdentityDocument,
            MaterialKind::ExamCertificate
        ]
    );
}

#[test]
fn a_fetched_material_carries_the_digest_and_size_of_the_record_json() {
    let person = zhang_san();
    let record = fetched_records(&person)
        .into_iter()
        .find(|r| r.kind == MaterialKind::EducationRecord)
        .expect("张三's education record is held");
    let json = serde_json::to_vec(&person.education).expect("records serialise");
    assert_eq!(record.json, json);

    let material = record.material();
    assert_eq!(material.size, json.len() as u64);
    assert_eq!(material.sha256, sha256_hex(&json));
    assert_eq!(material.sha256.len(), 64);
    assert!(material
        .sha256
        .chars()
        .all(|c| matches!(c, '0'..='9' | 'a'..='f')));
}

#[test]
fn the_digest_is_lower_case_hex_sha256() {
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn the_identity_document_record_names_the_person() {
    let person = zhang_san();
    let records = fetched_records(&person);
    let identity: serde_json::Value =
        serde_json::from_slice(&records[0].json).expect("the record is JSON");
    assert_eq!(identity["idDocNumber"], "110199199803159917");
    assert_eq!(identity["name"], "张三");
    assert_eq!(identity["birthDate"], "1998-03-15");
}

use super::*;

fn reason<T: fmt::Debug>(result: Result<T, ValueError>) -> Reason {
    match result {
        Err(error) => error.reason,
        Ok(value) => panic!("expected a refusal, got {value:?}"),
    }
}

#[test]
fn a_mobile_number_is_kept_as_eleven_digits() {
    let phone = Phone::parse("138 0013-8000").map(|p| p.as_str().to_owned());
    assert_eq!(phone, Ok("13800138000".to_owned()));
    assert!(Phone::parse("19912345678").is_ok());
}

#[test]
fn a_beijing_landline_is_accepted() {
    let phone = Phone::parse("010-6255 1234").map(|p| p.as_str().to_owned());
    assert_eq!(phone, Ok("01062551234".to_owned()));
}

#[test]
fn phones_not_reachable_in_beijing_are_refused() {
    for raw in [
        "12800138000",
        "1380013800",
        "138001380001",
        "021-62551234",
        "0106255123",
        "１３８００１３８０００",
        "+8613800138000",
        "",
    ] {
        assert_eq!(reason(Phone::parse(raw)), Reason::InvalidPhone, "{raw}");
    }
}

#[test]
fn a_beijing_postal_code_is_accepted() {
    let code = PostalCode::parse(" 100080 ").map(|c| c.as_str().to_owned());
    assert_eq!(code, Ok("100080".to_owned()));
    assert!(PostalCode::parse("102600").is_ok());
}

#[test]
fn a_postal_code_outside_beijing_is_refused_as_outside_beijing() {
    assert_eq!(
        reason(PostalCode::parse("200120")),
        Reason::MailOutsideBeijing
    );
}

#[test]
fn a_postal_code_that_is_not_six_digits_is_malformed() {
    for raw in ["10008", "1000800", "10008a", ""] {
        assert_eq!(
            reason(PostalCode::parse(raw)),
            Reason::InvalidPostalCode,
            "{raw}"
        );
    }
}

#[test]
fn every_one_of_the_sixteen_districts_is_accepted_with_its_code() {
    for (name, code) in BEIJING_DISTRICTS {
        let district = BeijingDistrict::parse(name).map(|d| (d.name(), d.code()));
        assert_eq!(district, Ok((name, code)));
    }
    let haidian = BeijingDistrict::parse(" 海淀区 ").map(|d| d.code());
    assert_eq!(haidian, Ok("110108"));
}

#[test]
fn places_outside_the_sixteen_districts_are_refused() {
    for raw in ["浦东新区", "海淀", "北京市", "崇文区", ""] {
        assert_eq!(
            reason(BeijingDistrict::parse(raw)),
            Reason::MailOutsideBeijing,
            "{raw}"
        );
    }
}

#[test]
fn a_district_serialises_as_its_name() {
    let district = BeijingDistrict::parse("朝阳区").ok();
    let json = district.and_then(|d| serde_json::to_string(&d).ok());
    assert_eq!(json.as_deref(), Some("\"朝阳区\""));
    assert!(serde_json::from_str::<BeijingDistrict>("\"浦东新区\"").is_err());
}

#[test]
fn a_subject_is_trimmed_and_recognised_as_chinese_language() {
    let subject = Subject::parse(" 语文 ");
    assert_eq!(subject.as_ref().map(Subject::as_str), Ok("语文"));
    assert_eq!(subject.map(|s| s.is_chinese_language()), Ok(true));
    assert_eq!(
        Subject::parse("数学").map(|s| s.is_chinese_language()),
        Ok(false)
    );
}

#[test]
fn blank_long_or_control_character_subjects_are_refused() {
    let twenty_one = "学".repeat(21);
    for raw in ["", "  ", twenty_one.as_str(), "语\u{7}文"] {
        assert_eq!(
            reason(Subject::parse(raw)),
            Reason::InvalidSubject,
            "{raw:?}"
        );
    }
    assert!(Subject::parse(&"学".repeat(20)).is_ok());
}

#[test]
fn text_is_trimmed_bounded_and_free_of_control_characters() {
    let text = Text::parse("  第一行\n第二行 ", 10, Reason::InvalidText);
    assert_eq!(
        text.map(|t| t.as_str().to_owned()),
        Ok("第一行\n第二行".to_owned())
    );
    assert_eq!(
        reason(Text::parse(" ", 10, Reason::ReasonRequired)),
        Reason::ReasonRequired
    );
    assert_eq!(
        reason(Text::parse("一二三", 2, Reason::InvalidText)),
        Reason::InvalidText
    );
    assert_eq!(
        reason(Text::parse("a\tb", 10, Reason::InvalidText)),
        Reason::InvalidText
    );
}

#[test]
fn invisible_formatting_characters_are_refused_in_text_and_subjects() {
    for raw in ["\u{200B}\u{200B}", "\u{202E}gnp.exe", "中关村\u{FEFF}大街"] {
        assert_eq!(
            reason(Text::parse(raw, 50, Reason::InvalidText)),
            Reason::InvalidText,
            "{raw:?}"
        );
        assert_eq!(
            reason(Subject::parse(raw)),
            Reason::InvalidSubject,
            "{raw:?}"
        );
    }
}

#[test]
fn a_resident_id_number_encodes_the_gender() {
    let man = IdDocument::new(IdDocType::ResidentIdCard, "110199199803159917");
    let woman = IdDocument::new(IdDocType::ResidentIdCard, "110199199611029923");
    let permit = IdDocument::new(IdDocType::HkMacaoTravelPermit, "h1234567");
    assert_eq!(man.map(|d| d.encoded_gender()), Ok(Some(Gender::Male)));
    assert_eq!(woman.map(|d| d.encoded_gender()), Ok(Some(Gender::Female)));
    assert_eq!(permit.map(|d| d.encoded_gender()), Ok(None));
}

#[test]
fn a_document_number_is_upper_cased_and_checked_for_shape() {
    let x = IdDocument::new(IdDocType::ResidentIdCard, " 11010519491231002x ");
    assert_eq!(x.map(|d| d.number), Ok("11010519491231002X".to_owned()));
    for raw in ["", "12345", "1101-0519491231002X", &"1".repeat(21)] {
        let refused = IdDocument::new(IdDocType::ResidentIdCard, raw);
        assert_eq!(reason(refused), Reason::InvalidIdDocument, "{raw}");
    }
}

#[test]
fn document_types_parse_from_their_claim_spelling() {
    assert_eq!(
        IdDocType::parse("TAIWAN_TRAVEL_PERMIT"),
        Ok(IdDocType::TaiwanTravelPermit)
    );
    assert_eq!(
        reason(IdDocType::parse("resident_id_card")),
        Reason::InvalidIdDocument
    );
}

#[test]
fn each_document_type_belongs_to_one_identity_category() {
    use IdentityCategory::*;
    let expected = [
        (IdDocType::ResidentIdCard, MainlandResident),
        (IdDocType::HkMacaoResidencePermit, HongKongMacaoResident),
        (IdDocType::HkMacaoTravelPermit, HongKongMacaoResident),
        (IdDocType::TaiwanResidencePermit, TaiwanResident),
        (IdDocType::TaiwanTravelPermit, TaiwanResident),
    ];
    for (doc_type, category) in expected {
        assert_eq!(doc_type.identity_category(), category);
    }
}

#[test]
fn a_stored_subject_is_read_back_even_where_todays_rules_refuse_it() {
    let stored: Subject = serde_json::from_str("\"\\u200b\"").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored.as_str(), "\u{200b}");
    assert!(Subject::parse("\u{200b}").is_err());
}

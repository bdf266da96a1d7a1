//! The served schema keeps the front ends' contract: every type, field, argument and enum
//! value of `tests/contract/schema.graphql` (a copy of `api-contract/schema.graphql`) is
//! served with the same name, type and nullability; and the committed `api/schema.graphql`
//! is exactly what the service serves.

use std::collections::BTreeMap;

use async_graphql_parser::types::{
    InputValueDefinition, ServiceDocument, TypeKind, TypeSystemDefinition,
};
use async_graphql_parser::Positioned;

/// One schema flattened to `Type.field(arg)` → printed type (and enum values / scalars).
fn signatures(sdl: &str) -> BTreeMap<String, String> {
    let document: ServiceDocument =
        async_graphql_parser::parse_schema(sdl).unwrap_or_else(|error| panic!("{error}"));
    let mut out = BTreeMap::new();
    let inputs = |out: &mut BTreeMap<String, String>,
                  prefix: String,
                  values: &[Positioned<InputValueDefinition>]| {
        for value in values {
            let value = &value.node;
            out.insert(
                format!("{prefix}({})", value.name.node),
                value.ty.node.to_string(),
            );
            if let Some(default) = &value.default_value {
                out.insert(
                    format!("{prefix}({}) default", value.name.node),
                    default.node.to_string(),
                );
            }
        }
    };
    for definition in document.definitions {
        let TypeSystemDefinition::Type(definition) = definition else {
            continue;
        };
        let name = definition.node.name.node.to_string();
        match definition.node.kind {
            TypeKind::Scalar => {
                out.insert(name, "scalar".to_owned());
            }
            TypeKind::Object(object) => {
                for field in object.fields {
                    let field = field.node;
                    let key = format!("{name}.{}", field.name.node);
                    out.insert(key.clone(), field.ty.node.to_string());
                    inputs(&mut out, key, &field.arguments);
                }
            }
            TypeKind::InputObject(input) => {
                inputs(&mut out, format!("input {name}"), &input.fields)
            }
            TypeKind::Enum(enumeration) => {
                for value in enumeration.values {
                    out.insert(
                        format!("{name}::{}", value.node.value.node),
                        "enum value".to_owned(),
                    );
                }
            }
            TypeKind::Interface(_) | TypeKind::Union(_) => {
                out.insert(name, "abstract".to_owned());
            }
        }
    }
    out
}

#[test]
fn every_operation_and_type_of_the_contract_is_served_with_the_same_shape() {
    let contract = signatures(include_str!("../../contract/schema.graphql"));
    let served = signatures(&api::graphql::sdl());
    let differences: Vec<String> = contract
        .iter()
        .filter(|(key, shape)| served.get(*key) != Some(*shape))
        .map(|(key, shape)| format!("{key}: contract {shape}, served {:?}", served.get(key)))
        .collect();
    assert!(
        differences.is_empty(),
        "the served schema departs from the contract:\n{}",
        differences.join("\n")
    );
}

#[test]
fn the_committed_schema_file_equals_the_served_schema() {
    let committed = include_str!("../../../api/schema.graphql");
    assert_eq!(
        committed,
        api::graphql::sdl(),
        "api/schema.graphql is stale: regenerate it with `cargo run --bin teacher-cert -- schema > api/schema.graphql`"
    );
}

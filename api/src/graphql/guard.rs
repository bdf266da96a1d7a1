//! Guards every operation before it is validated or run: refuses documents that expand to
//! too many fields (a kilobyte of nested fragment spreads can otherwise expand to billions
//! and stall the service), subscriptions that select anything but exactly one plain root
//! field, and gives every error without an `extensions.code` the code `BAD_USER_INPUT`
//! (parse and validation errors come from async-graphql without one).

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextSubscribe,
};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use async_graphql::{Name, Response, ServerError, ServerResult, Value, Variables};
use futures::stream::BoxStream;
use futures::StreamExt;

/// Fields one operation may select once every fragment is expanded.
pub const MAX_EXPANDED_FIELDS: u64 = 1_000;

/// Fields at the root of one operation (each root field of a query is its own lookup).
pub const MAX_ROOT_FIELDS: u64 = 20;

/// The guard, as an async-graphql extension.
pub struct OperationGuard;

impl ExtensionFactory for OperationGuard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationGuard)
    }
}

#[async_trait::async_trait]
impl Extension for OperationGuard {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        with_codes(next.run(ctx).await)
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream).map(with_codes).boxed()
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        check(&document).map_err(refusal)?;
        Ok(document)
    }
}

fn refusal(message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", "BAD_USER_INPUT");
    error
}

/// Gives every error without a code the code `BAD_USER_INPUT`: the ones the service raises
/// itself always carry a code, so the rest are the client's malformed operations.
fn with_codes(mut response: Response) -> Response {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", Value::from("BAD_USER_INPUT"));
        }
    }
    response
}

/// Checks every operation of a parsed document against the limits.
pub fn check(document: &ExecutableDocument) -> Result<(), String> {
    let mut sizes = FragmentSizes {
        document,
        known: HashMap::new(),
    };
    let operations: Vec<_> = match &document.operations {
        DocumentOperations::Single(operation) => vec![&operation.node],
        DocumentOperations::Multiple(operations) => operations
            .values()
            .map(|operation| &operation.node)
            .collect(),
    };
    for operation in operations {
        let selection = &operation.selection_set.node;
        if sizes.fields(selection, 0) > MAX_EXPANDED_FIELDS {
            return Err(format!(
                "the operation selects more than {MAX_EXPANDED_FIELDS} fields once its fragments are expanded"
            ));
        }
        if sizes.root_fields(selection, 0) > MAX_ROOT_FIELDS {
            return Err(format!(
                "the operation selects more than {MAX_ROOT_FIELDS} root fields"
            ));
        }
        if operation.ty == OperationType::Subscription && !is_one_plain_field(selection) {
            return Err(
                "a subscription selects exactly one root field, without fragments or directives"
                    .to_owned(),
            );
        }
    }
    Ok(())
}

fn is_one_plain_field(selection: &SelectionSet) -> bool {
    match selection.items.as_slice() {
        [only] => matches!(&only.node, Selection::Field(field) if field.node.directives.is_empty()),
        _ => false,
    }
}

/// Sizes of fragments once expanded, each computed once, so the check itself stays linear
/// in the document's length however the fragments nest.
struct FragmentSizes<'a> {
    document: &'a ExecutableDocument,
    known: HashMap<&'a Name, Size>,
}

/// What a selection expands to.
#[derive(Debug, Clone, Copy, Default)]
struct Size {
    /// Fields at every level.
    fields: u64,
    /// Fields at the selection's own level.
    level_fields: u64,
}

impl Size {
    fn plus(self, other: Size) -> Size {
        Size {
            fields: self.fields.saturating_add(other.fields),
            level_fields: self.level_fields.saturating_add(other.level_fields),
        }
    }
}

/// Fragments nested deeper than this count as too large (validation refuses cycles anyway).
const MAX_FRAGMENT_NESTING: usize = 64;

const TOO_LARGE: Size = Size {
    fields: u64::MAX,
    level_fields: u64::MAX,
};

impl<'a> FragmentSizes<'a> {
    fn fields(&mut self, selection: &'a SelectionSet, nesting: usize) -> u64 {
        self.size(selection, nesting).fields
    }

    fn root_fields(&mut self, selection: &'a SelectionSet, nesting: usize) -> u64 {
        self.size(selection, nesting).level_fields
    }

    /// What `selection` expands to, fragments included.
    fn size(&mut self, selection: &'a SelectionSet, nesting: usize) -> Size {
        if nesting > MAX_FRAGMENT_NESTING {
            return TOO_LARGE;
        }
        selection.items.iter().fold(Size::default(), |total, item| {
            let size = match &item.node {
                Selection::Field(field) => Size {
                    fields: 1u64
                        .saturating_add(self.fields(&field.node.selection_set.node, nesting)),
                    level_fields: 1,
                },
                Selection::InlineFragment(inline) => {
                    self.size(&inline.node.selection_set.node, nesting + 1)
                }
                Selection::FragmentSpread(spread) => {
                    self.fragment(&spread.node.fragment_name.node, nesting + 1)
                }
            };
            total.plus(size)
        })
    }

    fn fragment(&mut self, name: &'a Name, nesting: usize) -> Size {
        if let Some(size) = self.known.get(name) {
            return *size;
        }
        // A fragment that spreads itself is refused (validation would refuse it anyway).
        self.known.insert(name, TOO_LARGE);
        let size = match self.document.fragments.get(name) {
            Some(fragment) => self.size(&fragment.node.selection_set.node, nesting),
            // An unknown fragment is validation's to report; count it as one field so that
            // spreads of it cannot multiply for free.
            None => Size {
                fields: 1,
                level_fields: 1,
            },
        };
        self.known.insert(name, size);
        size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(query: &str) -> Result<(), String> {
        let document =
            async_graphql::parser::parse_query(query).unwrap_or_else(|error| panic!("{error}"));
        check(&document)
    }

    fn fragment_bomb(levels: usize) -> String {
        let mut query = String::from("query { __schema { types { ...F0 } } }\n");
        for level in 0..levels {
            let next = level + 1;
            query.push_str(&format!(
                "fragment F{level} on __Type {{ ...F{next} ...F{next} }}\n"
            ));
        }
        query.push_str(&format!("fragment F{levels} on __Type {{ name }}\n"));
        query
    }

    #[test]
    fn nested_fragment_spreads_that_double_at_each_level_are_refused_quickly() {
        assert_eq!(
            checked(&fragment_bomb(9)),
            Ok(()),
            "514 fields are within the limit"
        );
        let refused = checked(&fragment_bomb(60)).expect_err("2^60 fields must be refused");
        assert!(refused.contains("more than 1000 fields"), "{refused}");
    }

    #[test]
    fn spreads_of_an_unknown_fragment_cannot_multiply_unchecked() {
        let mut query = String::from("query { ...F0 }\n");
        for level in 0..60 {
            let next = level + 1;
            query.push_str(&format!(
                "fragment F{level} on Query {{ ...F{next} ...F{next} }}\n"
            ));
        }
        assert!(checked(&query).is_err());
    }

    #[test]
    fn a_fragment_that_spreads_itself_is_refused_without_expanding_it() {
        let query = "query { ...F } fragment F on Query { ...F ...F ...F ...F }";
        assert!(checked(query).is_err());
    }

    #[test]
    fn many_aliased_root_fields_are_refused() {
        let aliases: String = (0..21).map(|i| format!("a{i}: __typename ")).collect();
        assert!(checked(&format!("{{ {aliases} }}")).is_err());
        let aliases: String = (0..20).map(|i| format!("a{i}: __typename ")).collect();
        assert!(checked(&format!("{{ {aliases} }}")).is_ok());
    }

    #[test]
    fn a_subscription_must_select_one_plain_root_field() {
        let plain = "subscription { queueUpdates(kind: ACCEPTANCE) { caseNumber } }";
        assert!(checked(plain).is_ok());
        for refused in [
            "subscription { a: queueUpdates(kind: ACCEPTANCE) { caseNumber } b: mySubmissionUpdates { caseNumber } }",
            "subscription { ...F } fragment F on Subscription { queueUpdates(kind: ACCEPTANCE) { caseNumber } }",
            "subscription { ... on Subscription { queueUpdates(kind: ACCEPTANCE) { caseNumber } } }",
            "subscription { queueUpdates(kind: ACCEPTANCE) @skip(if: true) { caseNumber } }",
        ] {
            assert!(checked(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn the_graphiql_introspection_query_fits_the_limits() {
        let introspection = include_str!("introspection_query.graphql");
        assert_eq!(checked(introspection), Ok(()));
    }
}

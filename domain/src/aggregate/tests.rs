//! Given / when / then tests of the `Application` aggregate.

mod decisions;
mod submit;
mod support;

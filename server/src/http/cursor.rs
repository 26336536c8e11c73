//! The page cursor of time-ordered lists (the access log, alerts) as the
//! OpenAPI document describes it: an opaque string.

use utoipa::ToSchema;
use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};

use crate::store::time::TimeCursor;

impl utoipa::PartialSchema for TimeCursor {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^-?[0-9]+~[0-9a-fA-F-]{36}$"))
            .description(Some(
                "Where a page ended. Opaque: pass it back as it was received.",
            ))
            .into()
    }
}

impl ToSchema for TimeCursor {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("PageCursor")
    }
}

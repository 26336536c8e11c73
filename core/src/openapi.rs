//! OpenAPI schemas for the types that serialize as strings of their own
//! form (ids, clock stamps), for the server's generated document.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};

use crate::hlc::Hlc;
use crate::ids::{DeviceId, MutationId, RecordId};
use crate::query::ListCursor;

fn uuid_schema(description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
        .description(Some(description))
        .into()
}

impl utoipa::PartialSchema for RecordId {
    fn schema() -> RefOr<Schema> {
        uuid_schema("A record id: a UUIDv7 made by the device that first wrote the record.")
    }
}

impl utoipa::ToSchema for RecordId {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("RecordId")
    }
}

impl utoipa::PartialSchema for DeviceId {
    fn schema() -> RefOr<Schema> {
        uuid_schema("The id of one installation of the journal on one device.")
    }
}

impl utoipa::ToSchema for DeviceId {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("DeviceId")
    }
}

impl utoipa::PartialSchema for Hlc {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[0-9a-f]{16}$"))
            .description(Some(
                "A hybrid-logical-clock stamp: 16 hex digits that sort in clock order.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for Hlc {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Hlc")
    }
}

impl utoipa::PartialSchema for MutationId {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(1))
            .description(Some("A device's change number: 1, 2, 3, …"))
            .into()
    }
}

impl utoipa::ToSchema for MutationId {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("MutationId")
    }
}

impl utoipa::PartialSchema for ListCursor {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^-?[0-9]+~[0-9a-fA-F-]{36}$"))
            .description(Some(
                "Where a page of records ended. Opaque: pass it back as it was received.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for ListCursor {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ListCursor")
    }
}

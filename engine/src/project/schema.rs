//! The JSON Schema (draft 2020-12) of the project format, generated from the Rust types so it cannot
//! drift from the parser. `schema/project.schema.json` is its committed copy (a test keeps the two
//! equal); project files may name it in `"$schema"` so editors validate and complete them.

use schemars::generate::SchemaSettings;

use super::Project;

/// The JSON Schema of [`Project`] as a JSON value (`$defs` hold the nested types).
pub fn project_json_schema() -> serde_json::Value {
    SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<Project>()
        .to_value()
}

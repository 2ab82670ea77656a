//! The project format's JSON Schema at `GET /api/v1/schema/project.json`, and the OpenAPI document
//! with that schema in place of the `{}` utoipa knows for the VideoProject: it becomes
//! `components.schemas.VideoProject` (its nested types beside it) and the body of
//! `POST /render/projects` and `POST /render/previews`, and `StoredProject` (the project plus
//! `createdAt`) the response of project creation and `GET /render/projects/{projectId}`.

use std::sync::OnceLock;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use utoipa::OpenApi;

use super::ApiDoc;

/// The JSON Schema of the project format (draft 2020-12), generated from the engine's types.
fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(vrender_engine::project_json_schema)
}

/// JSON Schema of the project format.
///
/// Draft 2020-12, generated from the engine's types. Name it in a project file's `"$schema"` (or
/// the committed copy, `schema/project.schema.json`) and editors validate and complete the file.
#[utoipa::path(
    get,
    path = "/api/v1/schema/project.json",
    tag = "schema",
    responses((status = 200, description = "The JSON Schema", content_type = "application/schema+json")),
)]
pub async fn project_schema() -> Response {
    let mut resp = axum::Json(schema()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/schema+json"),
    );
    resp
}

/// Rewrites `#/$defs/X` references to `#/components/schemas/X`.
fn relocate_refs(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get_mut("$ref") {
                if let Some(name) = r.strip_prefix("#/$defs/") {
                    *r = format!("#/components/schemas/{name}");
                }
            }
            map.values_mut().for_each(relocate_refs);
        }
        Value::Array(items) => items.iter_mut().for_each(relocate_refs),
        _ => {}
    }
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// The OpenAPI document of the service, the project schemas included.
pub fn openapi() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|_| json!({}));
    let mut project = schema().clone();
    let defs = project
        .as_object_mut()
        .and_then(|m| {
            m.remove("$schema");
            m.remove("$defs")
        })
        .unwrap_or_else(|| json!({}));
    relocate_refs(&mut project);
    let schemas = &mut doc["components"]["schemas"];
    if let Value::Object(defs) = defs {
        for (name, mut def) in defs {
            relocate_refs(&mut def);
            schemas[name] = def;
        }
    }
    schemas["VideoProject"] = project;
    schemas["StoredProject"] = json!({
        "description": "A stored VideoProject: as sent, with its projectId (generated when absent) and createdAt.",
        "allOf": [
            reference("VideoProject"),
            {
                "type": "object",
                "required": ["projectId", "createdAt"],
                "properties": { "createdAt": { "type": "string", "format": "date-time" } }
            }
        ]
    });
    let body = |doc: &mut Value, path: &str, method: &str, schema: &str| {
        let op = &mut doc["paths"][path][method];
        if op.is_object() {
            op["requestBody"]["content"]["application/json"]["schema"] = reference(schema);
        }
    };
    body(&mut doc, "/api/v1/render/projects", "post", "VideoProject");
    body(&mut doc, "/api/v1/render/previews", "post", "VideoProject");
    let response = |doc: &mut Value, path: &str, method: &str, status: &str| {
        let r = &mut doc["paths"][path][method]["responses"][status];
        if r.is_object() {
            r["content"]["application/json"]["schema"] = reference("StoredProject");
        }
    };
    response(&mut doc, "/api/v1/render/projects", "post", "201");
    response(
        &mut doc,
        "/api/v1/render/projects/{projectId}",
        "get",
        "200",
    );
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` of the document names a schema it has.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn the_project_schema_is_the_body_of_project_creation() {
        let doc = openapi();
        let op = &doc["paths"]["/api/v1/render/projects"]["post"];
        assert_eq!(
            op["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/VideoProject"
        );
        assert_eq!(
            op["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/StoredProject"
        );
        let get = &doc["paths"]["/api/v1/render/projects/{projectId}"]["get"];
        assert_eq!(
            get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/StoredProject"
        );
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        assert!(schemas["VideoProject"]["properties"]["frames"].is_object());
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(all.len() > 10);
        for r in all {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unexpected $ref {r}"));
            assert!(schemas.contains_key(name), "dangling $ref {r}");
        }
    }
}

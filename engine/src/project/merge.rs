//! Merge fields: `{{NAME}}` placeholders in a project's JSON, filled in before the typed parse.
//!
//! Rules (see the README's "Templates" section):
//! - A placeholder is `{{NAME}}` (spaces inside the braces allowed), NAME being letters, digits, `_`,
//!   `-` and `.`, starting with a letter or `_`. Anything else between braces is plain text.
//! - A string that is exactly one placeholder is replaced by the value itself, keeping its JSON type
//!   (`"opacity": "{{OP}}"` with `OP = 0.5` becomes the number 0.5).
//! - Inside a longer string each placeholder is replaced by the value's text (strings as they are,
//!   numbers and booleans as JSON writes them, null as nothing; arrays and objects are an error).
//! - `\{{` writes a literal `{{` (in JSON source: `"\\{{"`).
//! - Values come from the caller first, then from the project's `mergeDefaults` object. The merged
//!   project has no `mergeDefaults`.
//! - Every placeholder without a value is reported at once, each with every JSON path that uses it.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use super::Project;
use super::ProjectError;

/// The values of merge fields, by name.
pub type MergeValues = Map<String, Value>;

/// Why a template could not be merged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MergeError {
    /// Placeholders without a value, each with the JSON paths that use it.
    #[error("{}", fmt_missing(.0))]
    Missing(Vec<MissingField>),
    /// A value that cannot be written into a longer string (an array or object).
    #[error("{path}: merge field `{name}` is {kind}, which cannot be written inside text")]
    NotText {
        name: String,
        path: String,
        kind: &'static str,
    },
    /// `mergeDefaults` is not an object.
    #[error("mergeDefaults: must be an object of name → value")]
    BadDefaults,
}

/// One placeholder without a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingField {
    pub name: String,
    /// Every JSON path whose string uses the placeholder, in document order.
    pub paths: Vec<String>,
}

fn fmt_missing(missing: &[MissingField]) -> String {
    missing
        .iter()
        .map(|m| {
            format!(
                "merge field `{}` has no value (used at {})",
                m.name,
                m.paths.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl MergeError {
    /// Each problem as (JSON path, message): one entry per path of every missing placeholder.
    pub fn details(&self) -> Vec<(String, String)> {
        match self {
            MergeError::Missing(list) => list
                .iter()
                .flat_map(|m| {
                    m.paths.iter().map(move |p| {
                        (
                            p.clone(),
                            format!("merge field `{{{{{}}}}}` has no value", m.name),
                        )
                    })
                })
                .collect(),
            MergeError::NotText { path, .. } => vec![(path.clone(), self.to_string())],
            MergeError::BadDefaults => vec![("mergeDefaults".into(), self.to_string())],
        }
    }
}

/// A piece of a string value.
#[derive(Debug, PartialEq)]
enum Piece<'a> {
    Text(&'a str),
    Field(&'a str),
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Splits `s` into text and placeholders; `\{{` becomes the text `{{`.
fn pieces(s: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("{{") {
        if i > 0 && rest.as_bytes()[i - 1] == b'\\' {
            out.push(Piece::Text(&rest[..i - 1]));
            out.push(Piece::Text("{{"));
            rest = &rest[i + 2..];
            continue;
        }
        let after = &rest[i + 2..];
        match after.find("}}") {
            Some(j) if valid_name(after[..j].trim()) => {
                out.push(Piece::Text(&rest[..i]));
                out.push(Piece::Field(after[..j].trim()));
                rest = &after[j + 2..];
            }
            _ => {
                out.push(Piece::Text(&rest[..i + 2]));
                rest = after;
            }
        }
    }
    out.push(Piece::Text(rest));
    out.retain(|p| *p != Piece::Text(""));
    out
}

/// Whether any string in `value` holds a placeholder or an escape, or the project has `mergeDefaults`.
pub fn is_template(value: &Value) -> bool {
    fn walk(v: &Value) -> bool {
        match v {
            Value::String(s) => s.contains("{{"),
            Value::Array(a) => a.iter().any(walk),
            Value::Object(o) => o.values().any(walk),
            _ => false,
        }
    }
    value.get("mergeDefaults").is_some() || walk(value)
}

/// Every placeholder name used in `value`, with the paths that use it.
pub fn fields(value: &Value) -> BTreeMap<String, Vec<String>> {
    let mut found = BTreeMap::new();
    let mut path = String::new();
    collect(value, &mut path, &mut found);
    found
}

fn collect(v: &Value, path: &mut String, found: &mut BTreeMap<String, Vec<String>>) {
    match v {
        Value::String(s) => {
            for p in pieces(s) {
                if let Piece::Field(name) = p {
                    let paths: &mut Vec<String> = found.entry(name.to_string()).or_default();
                    if paths.last() != Some(path) {
                        paths.push(path.clone());
                    }
                }
            }
        }
        Value::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                collect(item, path, found);
                path.truncate(len);
            }
        }
        Value::Object(o) => {
            for (k, item) in o {
                if path.is_empty() && k == "mergeDefaults" {
                    continue;
                }
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                collect(item, path, found);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Fills the placeholders of `template` with `values` (then its `mergeDefaults`); returns the merged
/// JSON without `mergeDefaults`. Every placeholder without a value is reported, with its paths.
pub fn merge(template: &Value, values: &MergeValues) -> Result<Value, MergeError> {
    merge_with(template, values, false)
}

/// The template with its `mergeDefaults` (and `values`) filled in, placeholders without a value left
/// in longer strings and fields that are exactly such a placeholder left out (so their defaults
/// apply): what a stored template looks like before a job supplies its values.
pub fn merge_partial(template: &Value, values: &MergeValues) -> Result<Value, MergeError> {
    merge_with(template, values, true)
}

fn merge_with(
    template: &Value,
    values: &MergeValues,
    keep_missing: bool,
) -> Result<Value, MergeError> {
    let defaults = match template.get("mergeDefaults") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(_) => return Err(MergeError::BadDefaults),
    };
    let lookup = |name: &str| values.get(name).or_else(|| defaults.get(name));
    let missing: Vec<MissingField> = fields(template)
        .into_iter()
        .filter(|(name, _)| lookup(name).is_none())
        .map(|(name, paths)| MissingField { name, paths })
        .collect();
    if !missing.is_empty() && !keep_missing {
        return Err(MergeError::Missing(missing));
    }
    let mut out = template.clone();
    if let Value::Object(o) = &mut out {
        o.remove("mergeDefaults");
    }
    let mut path = String::new();
    fill(&mut out, &mut path, &lookup)?;
    Ok(out)
}

fn fill<'v>(
    v: &mut Value,
    path: &mut String,
    lookup: &dyn Fn(&str) -> Option<&'v Value>,
) -> Result<(), MergeError> {
    match v {
        Value::String(s) if s.contains("{{") => {
            let parts = pieces(s);
            if let [Piece::Field(name)] = parts.as_slice() {
                if let Some(value) = lookup(name) {
                    *v = value.clone();
                }
                return Ok(());
            }
            let mut text = String::with_capacity(s.len());
            for p in &parts {
                match p {
                    Piece::Text(t) => text.push_str(t),
                    Piece::Field(name) => match lookup(name) {
                        Some(Value::String(s)) => text.push_str(s),
                        // Only `merge_partial` gets here without a value: keep the placeholder.
                        None => {
                            text.push_str("{{");
                            text.push_str(name);
                            text.push_str("}}");
                        }
                        Some(Value::Null) => {}
                        Some(n @ (Value::Number(_) | Value::Bool(_))) => {
                            text.push_str(&n.to_string())
                        }
                        Some(other) => {
                            return Err(MergeError::NotText {
                                name: name.to_string(),
                                path: path.clone(),
                                kind: if other.is_array() {
                                    "an array"
                                } else {
                                    "an object"
                                },
                            })
                        }
                    },
                }
            }
            *s = text;
        }
        Value::Array(a) => {
            for (i, item) in a.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                fill(item, path, lookup)?;
                path.truncate(len);
            }
        }
        Value::Object(o) => {
            // `merge_partial` only: a field that is exactly a placeholder without a value is left
            // out, so the rest parses (the field's default applies until a value is merged in).
            o.retain(|_, item| {
                !matches!(item, Value::String(s)
                    if matches!(pieces(s).as_slice(), [Piece::Field(n)] if lookup(n).is_none()))
            });
            for (k, item) in o.iter_mut() {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                fill(item, path, lookup)?;
                path.truncate(len);
            }
        }
        _ => {}
    }
    Ok(())
}

/// Parses `NAME=VALUE` as the CLI's `--merge` takes it: VALUE is JSON when it parses as a number,
/// boolean or null, else the text as it is.
pub fn parse_assignment(s: &str) -> Result<(String, Value), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VALUE, got `{s}`"))?;
    let name = name.trim();
    if !valid_name(name) {
        return Err(format!(
            "`{name}` is not a merge field name (letters, digits, _, - and ., starting with a letter or _)"
        ));
    }
    let value = match serde_json::from_str::<Value>(value) {
        Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => v,
        _ => Value::String(value.to_string()),
    };
    Ok((name.to_string(), value))
}

impl fmt::Display for MissingField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{{{}}}}} at {}", self.name, self.paths.join(", "))
    }
}

/// A project with merge fields, filled in by name: `Template::from_json(t)?.set("NAME", "Ann").project()`.
#[derive(Debug, Clone)]
pub struct Template {
    json: serde_json::Value,
    /// The JSON text, when read from text: a plain project is parsed from it, so its errors are
    /// exactly [`Project::from_json`]'s (line and column, duplicate fields).
    text: Option<String>,
    values: MergeValues,
}

impl Template {
    /// Reads a template (or a plain project); only JSON syntax is checked here.
    pub fn from_json(json: &str) -> Result<Template, ProjectError> {
        let value = serde_json::from_str(json).map_err(|e| ProjectError::Parse {
            path: String::new(),
            message: e.to_string(),
        })?;
        Ok(Template {
            text: Some(json.to_string()),
            ..Template::from_value(value)
        })
    }

    pub fn from_value(json: serde_json::Value) -> Template {
        Template {
            json,
            text: None,
            values: MergeValues::new(),
        }
    }

    /// Sets one merge field.
    pub fn set(mut self, name: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.values.insert(name.into(), value.into());
        self
    }

    /// Sets several merge fields (later ones replace earlier ones of the same name).
    pub fn values(mut self, values: MergeValues) -> Self {
        self.values.extend(values);
        self
    }

    /// The template's JSON as read.
    pub fn json(&self) -> &serde_json::Value {
        &self.json
    }

    /// Whether the JSON uses merge fields (or has `mergeDefaults`).
    pub fn is_template(&self) -> bool {
        is_template(&self.json)
    }

    /// Every merge field the template uses, with the JSON paths that use it.
    pub fn fields(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        fields(&self.json)
    }

    /// The merged JSON, before the typed parse.
    pub fn merged_json(&self) -> Result<serde_json::Value, ProjectError> {
        if !self.is_template() {
            return Ok(self.json.clone());
        }
        Ok(merge(&self.json, &self.values)?)
    }

    /// The merged project, parsed (type errors carry their JSON path); not yet validated.
    pub fn project(&self) -> Result<Project, ProjectError> {
        match &self.text {
            Some(text) if !self.is_template() => Project::from_json(text),
            _ => Project::from_value(self.merged_json()?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vals(v: Value) -> MergeValues {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn whole_values_keep_their_type_and_text_is_spliced() {
        let t = json!({
            "a": "{{N}}", "b": "{{ FLAG }}", "c": "Hi {{NAME}}, {{N}} left", "d": ["{{NAME}}"]
        });
        let out = merge(&t, &vals(json!({"N": 3.5, "FLAG": true, "NAME": "Ann"}))).unwrap();
        assert_eq!(
            out,
            json!({"a": 3.5, "b": true, "c": "Hi Ann, 3.5 left", "d": ["Ann"]})
        );
    }

    #[test]
    fn escapes_and_non_placeholders_stay_text() {
        let t = json!({"a": "\\{{N}} is {{N}}", "b": "{{not a name}}", "c": "{{", "d": "x\\{{"});
        let out = merge(&t, &vals(json!({"N": 1}))).unwrap();
        assert_eq!(
            out,
            json!({"a": "{{N}} is 1", "b": "{{not a name}}", "c": "{{", "d": "x{{"})
        );
    }

    #[test]
    fn defaults_fill_in_and_are_removed() {
        let t = json!({"mergeDefaults": {"C": "#ff0000", "N": 1}, "c": "{{C}}", "n": "{{N}}"});
        let out = merge(&t, &vals(json!({"N": 2}))).unwrap();
        assert_eq!(out, json!({"c": "#ff0000", "n": 2}));
    }

    #[test]
    fn missing_values_name_every_path() {
        let t = json!({"frames": [{"layers": [{"text": "{{A}}"}, {"text": "x {{A}} {{B}}"}]}]});
        let err = merge(&t, &Map::new()).unwrap_err();
        assert_eq!(
            err,
            MergeError::Missing(vec![
                MissingField {
                    name: "A".into(),
                    paths: vec![
                        "frames[0].layers[0].text".into(),
                        "frames[0].layers[1].text".into()
                    ]
                },
                MissingField {
                    name: "B".into(),
                    paths: vec!["frames[0].layers[1].text".into()]
                },
            ])
        );
        assert_eq!(err.details().len(), 3);
        assert!(
            err.to_string().contains(
                "`A` has no value (used at frames[0].layers[0].text, frames[0].layers[1].text)"
            ),
            "{err}"
        );
    }

    #[test]
    fn partial_merge_keeps_fields_without_values() {
        let t = json!({"mergeDefaults": {"N": 1}, "a": "{{N}} {{M}}", "b": "{{M}}", "c": "{{N}}"});
        assert_eq!(
            merge_partial(&t, &Map::new()).unwrap(),
            json!({"a": "1 {{M}}", "c": 1})
        );
    }

    #[test]
    fn objects_cannot_go_inside_text() {
        let t = json!({"x": {"y": "a {{O}}"}});
        let err = merge(&t, &vals(json!({"O": {"k": 1}}))).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("x.y: merge field `O` is an object"),
            "{err}"
        );
        // As a whole value an object is fine (e.g. a fill).
        let t = json!({"x": "{{O}}"});
        assert_eq!(
            merge(&t, &vals(json!({"O": {"k": 1}}))).unwrap(),
            json!({"x": {"k": 1}})
        );
    }

    #[test]
    fn assignments_read_json_scalars_else_text() {
        assert_eq!(parse_assignment("N=3").unwrap(), ("N".into(), json!(3)));
        assert_eq!(
            parse_assignment("B=false").unwrap(),
            ("B".into(), json!(false))
        );
        assert_eq!(
            parse_assignment("Z=null").unwrap(),
            ("Z".into(), Value::Null)
        );
        assert_eq!(
            parse_assignment("T=Hello = world").unwrap(),
            ("T".into(), json!("Hello = world"))
        );
        assert_eq!(
            parse_assignment("S=\"3\"").unwrap(),
            ("S".into(), json!("\"3\""))
        );
        assert!(parse_assignment("nothing").is_err());
        assert!(parse_assignment("1x=2").is_err());
    }
}

//! A project from JSON text or a JSON value, and back: parse errors carry the JSON path of the
//! offending value. (Reading the file is `media/`'s: `project/` does no I/O.)

use super::{MergeValues, Project, ProjectError, Template};

impl Project {
    /// Parses a project from JSON. Errors carry the JSON path of the offending value
    /// (`frames[0].layers[2].opacity: invalid type: string "x", expected f64`). Ranges and files are
    /// checked by [`Project::validate`].
    pub fn from_json(json: &str) -> Result<Project, ProjectError> {
        let de = &mut serde_json::Deserializer::from_str(json);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            // Syntax errors have no meaningful path (serde_path_to_error says `?` or `.`).
            let path = if inner.is_syntax() || inner.is_eof() {
                String::new()
            } else {
                path
            };
            ProjectError::Parse {
                path: if path == "." || path == "?" {
                    String::new()
                } else {
                    path
                },
                message: inner.to_string(),
            }
        })
    }

    /// Parses a project from a JSON value (see [`Project::from_json`]).
    pub fn from_value(value: serde_json::Value) -> Result<Project, ProjectError> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            ProjectError::Parse {
                path: if path == "." || path == "?" {
                    String::new()
                } else {
                    path
                },
                message: e.into_inner().to_string(),
            }
        })
    }

    /// Parses a project that may be a template: its `{{NAME}}` merge fields are filled from `values`
    /// and its `mergeDefaults` first (see [`super::merge`]). A plain project parses as with
    /// [`Project::from_json`].
    pub fn from_json_merged(json: &str, values: &MergeValues) -> Result<Project, ProjectError> {
        Template::from_json(json)?.values(values.clone()).project()
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("a project always serialises")
    }
}

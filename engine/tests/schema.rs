//! The project format's JSON Schema: the committed `schema/project.schema.json` equals the one
//! generated from the types, every example validates against it, and the invalid fixtures fail it
//! (or, for rules a schema cannot state, fail the engine's validation).

use std::path::{Path, PathBuf};

use serde_json::Value;
use vrender_engine::{project_json_schema, AssetResolver, Limits, Project};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::new(&project_json_schema()).expect("the generated schema compiles")
}

#[test]
fn committed_schema_equals_the_generated_one() {
    let generated = project_json_schema();
    let path = repo().join("schema/project.schema.json");
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        let text = serde_json::to_string_pretty(&generated).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
    }
    assert!(
        read_json(&path) == generated,
        "schema/project.schema.json is stale: run `UPDATE_SCHEMA=1 cargo test -p vrender-engine --test engine schema::` and commit it"
    );
    // Nested types are named definitions, and the root is the project.
    let defs = generated["$defs"].as_object().expect("$defs");
    for name in [
        "Composition",
        "Layer",
        "Color",
        "Animation",
        "AudioTrack",
        "Fill",
    ] {
        assert!(defs.contains_key(name), "no $defs.{name}");
    }
    assert_eq!(generated["title"], "VideoProject");
    assert_eq!(generated["additionalProperties"], false);
}

#[test]
fn every_example_validates_and_names_the_schema() {
    let validator = validator();
    let mut seen = 0;
    for entry in std::fs::read_dir(repo().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let raw = read_json(&path);
        // A template validates once its `mergeDefaults` are merged in (its placeholders stand for
        // values of the schema's types).
        let template = vrender_engine::Template::from_value(raw.clone());
        let doc = template.merged_json().unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{}: {e}", e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        assert_eq!(
            raw["$schema"],
            "../schema/project.schema.json",
            "{} should name the schema so editors pick it up",
            path.display()
        );
        // The parser accepts the `$schema` key too.
        Project::from_json(&doc.to_string()).unwrap();
        seen += 1;
    }
    assert!(seen >= 4, "only {seen} examples");
}

/// Fixtures whose problem the schema states (type, enum, range, required, unknown field).
const SCHEMA_REJECTS: &[&str] = &[
    "bad-colour.json",
    "bad-quality.json",
    "bad-volume.json",
    "fps-too-high.json",
    "huge-size.json",
    "negative-duration.json",
    "negative-fps.json",
    "no-frames.json",
    "odd-height.json",
    "opacity-out-of-range.json",
    "string-width.json",
    "too-long.json",
    "unknown-field.json",
    "unknown-layer-type.json",
    "unknown-transition.json",
    "zero-width.json",
];

/// Not JSON at all.
const NOT_JSON: &[&str] = &["nan.json", "not-json.json", "truncated.json"];

/// Rules across fields or about files, which only validation checks.
const VALIDATION_ONLY: &[&str] = &[
    "bad-easing.json",
    "corrupt-png.json",
    "end-before-start.json",
    "first-transition.json",
    "missing-image.json",
    "path-traversal.json",
    "shape-without-size.json",
    "text-on-shape.json",
    "url-source.json",
];

#[test]
fn invalid_fixtures_fail_the_schema_or_validation() {
    let validator = validator();
    let dir = repo().join("tests/fixtures/invalid");
    let expected = read_json(&dir.join("expected.json"));
    let expected = expected.as_object().unwrap();
    for file in expected.keys() {
        let listed = [SCHEMA_REJECTS, NOT_JSON, VALIDATION_ONLY]
            .iter()
            .filter(|l| l.contains(&file.as_str()))
            .count();
        assert_eq!(listed, 1, "{file}: classify it in exactly one list");
    }
    for file in SCHEMA_REJECTS {
        let doc = read_json(&dir.join(file));
        assert!(
            !validator.is_valid(&doc),
            "{file} should fail the schema ({})",
            expected[*file]
        );
    }
    for file in NOT_JSON {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        assert!(serde_json::from_str::<Value>(&text).is_err(), "{file}");
    }
    let assets = AssetResolver::relative_to(&dir);
    for file in VALIDATION_ONLY {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let rejected = match Project::from_json(&text) {
            Err(_) => true,
            Ok(p) => p.validate(&Limits::default(), &assets).is_err(),
        };
        assert!(rejected, "{file} should fail validation");
    }
}

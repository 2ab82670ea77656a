//! Reading one environment value: the parsers every setting goes through, and [`ConfigError`],
//! the error that names a setting and its refused value. A leaf: it imports nothing of the crate.

/// A setting that is present but cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("setting {name}={value:?}: {message}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub message: String,
}

pub fn bad(name: &'static str, value: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        name,
        value: value.to_string(),
        message: message.into(),
    }
}

pub fn parse<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match get(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|e: T::Err| bad(name, &v, e.to_string())),
    }
}

/// A finite number of seconds of at least `min`.
pub fn parse_seconds(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: f64,
    min: f64,
) -> Result<f64, ConfigError> {
    let v: f64 = parse(get, name, default)?;
    if !v.is_finite() || v < min {
        let expected = if min > 0.0 {
            "expected a number of seconds above 0"
        } else {
            "expected a number of seconds, 0 or more"
        };
        return Err(bad(name, &v.to_string(), expected));
    }
    Ok(v)
}

pub fn parse_bool(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(v) => match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(bad(name, &v, "expected true or false")),
        },
    }
}

//! Nesting-depth and array-length limits of request bodies (`JSON_MAX_DEPTH`, `JSON_MAX_ARRAY_LEN`),
//! checked by one pass over the bytes before anything is deserialised, so a 10,000-deep nesting or a
//! million-element array is refused in microseconds and never becomes a tree in memory.
//!
//! The scanner only tracks strings (to skip brackets and commas inside them) and a stack of open
//! containers bounded by the depth limit; syntax errors are left to the JSON parser that runs next.

/// A limit the body is over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonLimitError {
    /// Nesting deeper than `max`; `path` is where it happened.
    TooDeep { max: usize, path: String },
    /// An array with more than `max` elements, at `path`.
    ArrayTooLong { max: usize, path: String },
}

impl std::fmt::Display for JsonLimitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JsonLimitError::TooDeep { max, path } => write!(
                f,
                "JSON nesting deeper than the limit of {max} (JSON_MAX_DEPTH) at {path}"
            ),
            JsonLimitError::ArrayTooLong { max, path } => write!(
                f,
                "JSON array longer than the limit of {max} elements (JSON_MAX_ARRAY_LEN) at {path}"
            ),
        }
    }
}

struct Open {
    array: bool,
    /// Elements seen so far (arrays), counted at each value start.
    elements: usize,
    /// Whether a value has started since the last `[` or `,`.
    value_started: bool,
}

/// A short description of where the scanner is: `$[3][0]`-style for arrays (objects as `{}`), enough
/// to locate the problem without keeping keys.
fn path(stack: &[Open]) -> String {
    let mut p = String::from("$");
    for o in stack.iter().take(8) {
        if o.array {
            p.push_str(&format!("[{}]", o.elements.saturating_sub(1)));
        } else {
            p.push_str("{}");
        }
    }
    if stack.len() > 8 {
        p.push_str(&format!("… (depth {})", stack.len()));
    }
    p
}

/// Checks `bytes` against the limits. Malformed JSON passes (the parser reports it).
pub fn check(bytes: &[u8], max_depth: usize, max_array_len: usize) -> Result<(), JsonLimitError> {
    let mut stack: Vec<Open> = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => continue,
            b',' => {
                if let Some(top) = stack.last_mut() {
                    top.value_started = false;
                }
                continue;
            }
            b']' | b'}' => {
                stack.pop();
                continue;
            }
            b':' => continue,
            _ => {}
        }
        // Any other byte starts or continues a value; count array elements at their first byte.
        if let Some(top) = stack.last_mut() {
            if top.array && !top.value_started {
                top.value_started = true;
                top.elements += 1;
                if top.elements > max_array_len {
                    return Err(JsonLimitError::ArrayTooLong {
                        max: max_array_len,
                        path: path(&stack),
                    });
                }
            } else if !top.array {
                top.value_started = true;
            }
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                if stack.len() >= max_depth {
                    return Err(JsonLimitError::TooDeep {
                        max: max_depth,
                        path: path(&stack),
                    });
                }
                stack.push(Open {
                    array: b == b'[',
                    elements: 0,
                    value_started: false,
                });
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_counted_exactly() {
        let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(check(nest(64).as_bytes(), 64, 10).is_ok());
        assert!(matches!(
            check(nest(65).as_bytes(), 64, 10),
            Err(JsonLimitError::TooDeep { max: 64, .. })
        ));
        let objects = r#"{"a":{"b":{"c":1}}}"#;
        assert!(check(objects.as_bytes(), 3, 10).is_ok());
        assert!(check(objects.as_bytes(), 2, 10).is_err());
        // Brackets inside strings (escaped quotes included) do not count.
        let s = r#"{"a":"[[[[\"[[[[","b":["]]]],,,,"]}"#;
        assert!(check(s.as_bytes(), 2, 1).is_ok());
    }

    #[test]
    fn array_length_is_counted_exactly() {
        let arr = |n: usize| format!("[{}]", vec!["{\"x\":[1,2]}"; n].join(","));
        assert!(check(arr(5).as_bytes(), 10, 5).is_ok());
        let e = check(arr(6).as_bytes(), 10, 5).unwrap_err();
        assert_eq!(
            e,
            JsonLimitError::ArrayTooLong {
                max: 5,
                path: "$[5]".into()
            }
        );
        assert!(check(b"[]", 10, 1).is_ok());
        assert!(check(b"[ ]", 10, 1).is_ok());
        assert!(check(b"[\"a,b\", \"c\"]", 10, 2).is_ok());
        assert!(check(b"[1, [2, 3, 4]]", 10, 2).is_err());
        // Object members are not array elements.
        assert!(check(br#"{"a":1,"b":2,"c":3}"#, 10, 1).is_ok());
        assert!(e.to_string().contains("JSON_MAX_ARRAY_LEN"));
    }

    #[test]
    fn huge_inputs_are_refused_quickly() {
        let deep = "[".repeat(1_000_000);
        let t = std::time::Instant::now();
        assert!(check(deep.as_bytes(), 64, 100_000).is_err());
        let long = format!("[{}0]", "0,".repeat(2_000_000));
        assert!(check(long.as_bytes(), 64, 100_000).is_err());
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
    }
}

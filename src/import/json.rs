//! Small helpers the describe readers share: JSON paths for messages, tolerant scalars, and
//! the array wrappings providers print.

use serde_json::{Map, Value};

use super::{ImportError, Origin};

/// `base.key`, or `key` at the top.
pub(crate) fn key(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_owned()
    } else {
        format!("{base}.{key}")
    }
}

/// `base[i]`.
pub(crate) fn index(base: &str, i: usize) -> String {
    format!("{base}[{i}]")
}

/// A short rendering of a value for messages (long values cut).
pub(crate) fn show(v: &Value) -> String {
    crate::json_text::show_max(v, 77)
}

pub(crate) use crate::json_text::kind;

/// A field error at `path` in `file`.
pub(crate) fn field_error(file: &str, path: &str, message: String) -> ImportError {
    ImportError::Field {
        origin: Origin::new(file, path),
        message,
    }
}

/// Where the reader is: the file and the JSON path of the object being read.
#[derive(Clone, Copy)]
pub(crate) struct At<'a> {
    pub file: &'a str,
    pub path: &'a str,
}

impl<'a> At<'a> {
    pub(crate) fn new(file: &'a str, path: &'a str) -> At<'a> {
        At { file, path }
    }

    pub(crate) fn origin(&self) -> Origin {
        Origin::new(self.file, self.path)
    }

    pub(crate) fn error(&self, field: &str, message: String) -> ImportError {
        field_error(self.file, &key(self.path, field), message)
    }

    pub(crate) fn error_here(&self, message: String) -> ImportError {
        field_error(self.file, self.path, message)
    }

    /// The object itself, or an error naming what it is instead.
    pub(crate) fn object<'v>(&self, v: &'v Value, what: &str) -> Result<&'v Map<String, Value>, ImportError> {
        v.as_object().ok_or_else(|| {
            self.error_here(format!(
                "{what} must be an object, found {} `{}`",
                kind(v),
                show(v)
            ))
        })
    }

    /// A text field: strings as they are, numbers and booleans as their text; `""` and
    /// `null` read as absent (trap 4: an empty field is unset, never "everything").
    pub(crate) fn text(&self, obj: &Map<String, Value>, name: &str) -> Result<Option<String>, ImportError> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => Err(self.error(
                name,
                format!("must be a string, found {} `{}`", kind(other), show(other)),
            )),
        }
    }

    /// An integer field given as a number or as a string of digits (trap 2: ECS `Priority`).
    pub(crate) fn integer(&self, obj: &Map<String, Value>, name: &str) -> Result<Option<i64>, ImportError> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| self.error(name, format!("`{s}` is not an integer"))),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.error(name, format!("`{n}` is not an integer"))),
            Some(other) => Err(self.error(
                name,
                format!("must be an integer, found {} `{}`", kind(other), show(other)),
            )),
        }
    }

    /// A boolean field (`true`/`false`, or their text).
    pub(crate) fn boolean(&self, obj: &Map<String, Value>, name: &str) -> Result<Option<bool>, ImportError> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(other) => Err(self.error(
                name,
                format!("must be true or false, found {} `{}`", kind(other), show(other)),
            )),
        }
    }

    /// The items of an ECS-style wrapped array (trap 1): `{"Outer": {"Inner": [...]}}`, or
    /// flattened `{"Outer": [...]}`; absent, `null`, `""` and `{}` are no items. Each item
    /// comes with its path.
    pub(crate) fn wrapped<'v>(
        &self,
        obj: &'v Map<String, Value>,
        outer: &str,
        inner: &str,
    ) -> Result<Vec<(String, &'v Value)>, ImportError> {
        let base = key(self.path, outer);
        let items = match obj.get(outer) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::String(s)) if s.is_empty() => return Ok(Vec::new()),
            Some(Value::Array(items)) => (base, items),
            Some(Value::Object(o)) => match o.get(inner) {
                // `{}` and `{"Inner": null}` are no items; another key is a shape we do not know.
                None if o.is_empty() => return Ok(Vec::new()),
                Some(Value::Null) => return Ok(Vec::new()),
                Some(Value::Array(items)) => (key(&base, inner), items),
                _ => {
                    return Err(field_error(
                        self.file,
                        &base,
                        format!(
                            "must hold an array `{inner}` (or be an array), found `{}`",
                            show(obj.get(outer).unwrap_or(&Value::Null))
                        ),
                    ))
                }
            },
            Some(other) => {
                return Err(field_error(
                    self.file,
                    &base,
                    format!(
                        "must be an object holding `{inner}` or an array, found {} `{}`",
                        kind(other),
                        show(other)
                    ),
                ))
            }
        };
        Ok(items
            .1
            .iter()
            .enumerate()
            .map(|(i, v)| (index(&items.0, i), v))
            .collect())
    }

    /// A plain array field (snake_case providers); absent and `null` are empty.
    pub(crate) fn array<'v>(
        &self,
        obj: &'v Map<String, Value>,
        name: &str,
    ) -> Result<Vec<(String, &'v Value)>, ImportError> {
        let base = key(self.path, name);
        match obj.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, v)| (index(&base, i), v))
                .collect()),
            Some(other) => Err(field_error(
                self.file,
                &base,
                format!("must be an array, found {} `{}`", kind(other), show(other)),
            )),
        }
    }

    /// A list of strings (ids), each non-empty.
    pub(crate) fn strings(&self, items: &[(String, &Value)]) -> Result<Vec<String>, ImportError> {
        items
            .iter()
            .filter_map(|(path, v)| match v {
                Value::String(s) if s.is_empty() => None,
                Value::String(s) => Some(Ok(s.clone())),
                other => Some(Err(field_error(
                    self.file,
                    path,
                    format!("must be a string, found {} `{}`", kind(other), show(other)),
                ))),
            })
            .collect()
    }
}

/// Parses an address (`10.0.0.1`), for endpoint addresses.
pub(crate) fn ip(file: &str, path: &str, text: &str) -> Result<std::net::IpAddr, ImportError> {
    text.trim()
        .parse()
        .map_err(|_| field_error(file, path, format!("`{text}` is not an IP address")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::At;

    #[test]
    fn wrapped_arrays_take_every_published_form() {
        let at = At::new("f.json", "");
        for v in [json!({"L": {"I": [1, 2]}}), json!({"L": [1, 2]})] {
            let items = at.wrapped(v.as_object().unwrap(), "L", "I").unwrap();
            assert_eq!(items.len(), 2);
        }
        for v in [
            json!({}),
            json!({"L": null}),
            json!({"L": ""}),
            json!({"L": {}}),
            json!({"L": {"I": null}}),
        ] {
            assert!(
                at.wrapped(v.as_object().unwrap(), "L", "I").unwrap().is_empty(),
                "{v}"
            );
        }
        let err = at
            .wrapped(json!({"L": {"Other": [1]}}).as_object().unwrap(), "L", "I")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "f.json: L: must hold an array `I` (or be an array), found `{\"Other\":[1]}`"
        );
        assert!(at
            .wrapped(json!({"L": 3}).as_object().unwrap(), "L", "I")
            .is_err());
    }

    #[test]
    fn integers_come_as_numbers_or_digits() {
        let at = At::new("f.json", "p");
        let o = json!({"a": 5, "b": " 7 ", "c": "", "d": "x", "e": 1.5});
        let o = o.as_object().unwrap();
        assert_eq!(at.integer(o, "a").unwrap(), Some(5));
        assert_eq!(at.integer(o, "b").unwrap(), Some(7));
        assert_eq!(at.integer(o, "c").unwrap(), None);
        assert_eq!(
            at.integer(o, "d").unwrap_err().to_string(),
            "f.json: p.d: `x` is not an integer"
        );
        assert!(at.integer(o, "e").is_err());
    }
}

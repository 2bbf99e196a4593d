//! Reading one attribute of a Terraform resource: its value beside its `after_unknown` mark.
//!
//! In a plan, a value unknown until apply is left out of `after` (or `null`) and marked
//! `true` at the same place in `after_unknown`; a sequence gets a positional array
//! (`[false, true]`), a wholly unknown collection a single `true` [TF1][TF3]. A [`Node`]
//! walks both trees together, so every reader asks the same question of a state (nothing
//! unknown) and of a plan's planned side.
//!
//! Unset values: SDKv2 providers (alicloud, huaweicloud, gcore v0.x) write `""` and `0` for
//! unset optional attributes, the plugin-framework gcore v2 writes `null` (trap 17, [T10]
//! [T12]); a plan's `after` of a new SDKv2 resource shows `null`. `""` and `null` are unset
//! for every attribute here; whether `0` is unset is the reader's call, per attribute.

use serde_json::Value;

use super::super::json::{kind, show};
use super::super::ImportError;
use super::super::Origin;

/// The `true` a wholly unknown container lends its children.
static TRUE: Value = Value::Bool(true);

/// A place in a resource's values and the same place in its `after_unknown` tree.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Node<'a> {
    v: Option<&'a Value>,
    u: Option<&'a Value>,
    /// The file, the JSON path of the resource's values and the attribute path below it.
    file: &'a str,
    base: &'a str,
}

/// What an attribute holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Got<T> {
    /// Absent, `null` or `""` (and, where the reader says so, `0`).
    Unset,
    /// A value.
    Known(T),
    /// Unknown until apply.
    Unknown,
}

impl<T> Got<T> {
    /// The value, if known.
    pub(crate) fn known(self) -> Option<T> {
        match self {
            Got::Known(t) => Some(t),
            _ => None,
        }
    }
}

impl<'a> Node<'a> {
    /// The root of a resource's values (`u` is its `after_unknown`, `None` in a state).
    pub(crate) fn root(v: &'a Value, u: Option<&'a Value>, file: &'a str, base: &'a str) -> Node<'a> {
        Node {
            v: Some(v),
            u,
            file,
            base,
        }
    }

    /// Whether this whole value is unknown.
    pub(crate) fn unknown(&self) -> bool {
        matches!(self.u, Some(Value::Bool(true)))
    }

    /// The raw value, if any.
    pub(crate) fn value(&self) -> Option<&'a Value> {
        self.v
    }

    /// An attribute of an object.
    pub(crate) fn get(&self, key: &str) -> Node<'a> {
        let u = if self.unknown() {
            Some(&TRUE)
        } else {
            self.u.and_then(|u| u.get(key))
        };
        Node {
            v: self.v.and_then(|v| v.as_object()).and_then(|o| o.get(key)),
            u,
            file: self.file,
            base: self.base,
        }
    }

    /// An element of a sequence.
    pub(crate) fn at(&self, i: usize) -> Node<'a> {
        let u = if self.unknown() {
            Some(&TRUE)
        } else {
            self.u.and_then(|u| u.as_array()).and_then(|a| a.get(i))
        };
        Node {
            v: self.v.and_then(|v| v.as_array()).and_then(|a| a.get(i)),
            u,
            file: self.file,
            base: self.base,
        }
    }

    /// The elements of a sequence attribute (as many as the longer of the value and the
    /// unknown marks: an unknown element is `null` in `after`). A wholly unknown or absent
    /// sequence has none; ask [`Node::unknown`] first.
    pub(crate) fn items(&self, path: &str) -> Result<Vec<Node<'a>>, ImportError> {
        let n = match self.v {
            None | Some(Value::Null) => 0,
            Some(Value::Array(a)) => a.len(),
            Some(other) => {
                return Err(self.error(
                    path,
                    format!("must be a list, found {} `{}`", kind(other), show(other)),
                ))
            }
        };
        let m = self.u.and_then(Value::as_array).map_or(0, Vec::len);
        Ok((0..n.max(m)).map(|i| self.at(i)).collect())
    }

    /// An error at `path` below the resource.
    pub(crate) fn error(&self, path: &str, message: String) -> ImportError {
        ImportError::Field {
            origin: Origin::new(self.file, join(self.base, path)),
            message,
        }
    }

    /// A text attribute: a string (or a number, as its text); `""` and `null` unset.
    pub(crate) fn text(&self, path: &str) -> Result<Got<String>, ImportError> {
        if self.unknown() {
            return Ok(Got::Unknown);
        }
        match self.v {
            None | Some(Value::Null) => Ok(Got::Unset),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(Got::Unset),
            Some(Value::String(s)) => Ok(Got::Known(s.trim().to_owned())),
            Some(Value::Number(n)) => Ok(Got::Known(n.to_string())),
            Some(other) => Err(self.error(
                path,
                format!("must be a string, found {} `{}`", kind(other), show(other)),
            )),
        }
    }

    /// An integer attribute (a number, or a string of digits); `null` and `""` unset, and
    /// `0` too when `zero_unset` (SDKv2 writes `0` for an unset int, trap 17).
    pub(crate) fn int(&self, path: &str, zero_unset: bool) -> Result<Got<i64>, ImportError> {
        if self.unknown() {
            return Ok(Got::Unknown);
        }
        let n = match self.v {
            None | Some(Value::Null) => return Ok(Got::Unset),
            Some(Value::String(s)) if s.trim().is_empty() => return Ok(Got::Unset),
            Some(Value::String(s)) => s
                .trim()
                .parse::<i64>()
                .map_err(|_| self.error(path, format!("`{s}` is not an integer")))?,
            Some(Value::Number(n)) => n
                .as_i64()
                .ok_or_else(|| self.error(path, format!("`{n}` is not an integer")))?,
            Some(other) => {
                return Err(self.error(
                    path,
                    format!("must be an integer, found {} `{}`", kind(other), show(other)),
                ))
            }
        };
        Ok(if n == 0 && zero_unset {
            Got::Unset
        } else {
            Got::Known(n)
        })
    }

    /// A boolean attribute; `null` unset.
    pub(crate) fn boolean(&self, path: &str) -> Result<Got<bool>, ImportError> {
        if self.unknown() {
            return Ok(Got::Unknown);
        }
        match self.v {
            None | Some(Value::Null) => Ok(Got::Unset),
            Some(Value::Bool(b)) => Ok(Got::Known(*b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Got::Known(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Got::Known(false)),
            Some(other) => Err(self.error(
                path,
                format!("must be true or false, found {} `{}`", kind(other), show(other)),
            )),
        }
    }

    /// Whether the attribute holds anything at all (for refusing attributes sgeval does
    /// not know): not absent, `null`, `""`, `0`, `false`, `[]` or `{}`.
    pub(crate) fn is_set(&self) -> bool {
        if self.unknown() {
            return true;
        }
        match self.v {
            None | Some(Value::Null) | Some(Value::Bool(false)) => false,
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(Value::Number(n)) => n.as_f64() != Some(0.0),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::Object(o)) => !o.is_empty(),
            Some(Value::Bool(true)) => true,
        }
    }
}

/// `base.path` (or `base[0]` when `path` starts with a bracket).
pub(crate) fn join(base: &str, path: &str) -> String {
    if path.is_empty() {
        base.to_owned()
    } else if base.is_empty() {
        path.to_owned()
    } else if path.starts_with('[') {
        format!("{base}{path}")
    } else {
        format!("{base}.{path}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unknown_marks_follow_the_value_tree() {
        let v = json!({"a": [null, "x"], "b": null});
        let u = json!({"a": [true, false], "b": true});
        let n = Node::root(&v, Some(&u), "f", "r");
        let items = n.get("a").items("a").unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].text("a[0]").unwrap(), Got::Unknown);
        assert_eq!(items[1].text("a[1]").unwrap(), Got::Known("x".to_owned()));
        assert!(n.get("b").unknown());
        // A wholly unknown container makes its children unknown.
        assert_eq!(n.get("b").get("c").text("b.c").unwrap(), Got::Unknown);
        // An unknown element beyond the value's own length still counts.
        let v = json!({"s": []});
        let u = json!({"s": [true]});
        assert_eq!(
            Node::root(&v, Some(&u), "f", "r")
                .get("s")
                .items("s")
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn unset_values_per_trap_17() {
        let v = json!({"s": "", "n": 0, "z": null});
        let n = Node::root(&v, None, "f", "r");
        assert_eq!(n.get("s").text("s").unwrap(), Got::Unset);
        assert_eq!(n.get("n").int("n", true).unwrap(), Got::Unset);
        assert_eq!(n.get("n").int("n", false).unwrap(), Got::Known(0));
        assert_eq!(n.get("z").int("z", false).unwrap(), Got::Unset);
        assert!(!n.get("n").is_set());
        let err = n.get("s").items("s").unwrap_err();
        assert_eq!(err.to_string(), "f: r.s: must be a list, found a string `\"\"`");
    }
}

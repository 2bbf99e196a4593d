//! Gcore's error shape: the `exception_class` codes (the table in the parent module's
//! docs) and the error body `{exception_class, message, request_id}`, with
//! `invalid_fields` for a `ValidationError`.

use super::*;

/// Gcore's `exception_class` of a failed request body check.
pub(super) const VALIDATION: &str = "ValidationError";

/// A `ValidationError` (400): `field` and what is wrong with it (the body's
/// `invalid_fields`).
pub(super) fn validation(field: &str, why: impl Into<String>) -> ApiError {
    ApiError::new(400, VALIDATION, why).at(field)
}

/// One of Neutron's exceptions (`class` is the `exception_class`).
pub(super) fn neutron(status: u16, class: &'static str, message: String) -> ApiError {
    ApiError::new(status, class, message)
}

pub(super) fn not_found(message: String) -> ApiError {
    neutron(404, "NotFoundError", message)
}

/// Gcore's error body: `{exception_class, message, request_id}`, and for a
/// `ValidationError` the message `validation error: `<field>`: <why>` and
/// `invalid_fields: {<field>: [<why>]}`.
pub(super) fn error_body(e: ApiError, request_id: &str) -> Response {
    let invalid = e
        .field
        .filter(|_| e.code == VALIDATION)
        .map(|f| (f, e.message.clone()));
    let message = match &invalid {
        Some((field, why)) => format!("validation error: `{field}`: {why}"),
        None => e.message,
    };
    let mut body = json!({"exception_class": e.code, "message": message, "request_id": request_id});
    if let (Some((field, why)), Value::Object(map)) = (invalid, &mut body) {
        map.insert("invalid_fields".into(), json!({ field: [why] }));
    }
    Response {
        status: e.status,
        body,
        created: None,
    }
}

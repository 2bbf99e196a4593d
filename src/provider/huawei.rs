//! Front end: placeholder until implemented.

use crate::cloud::{Cloud, Request, Response};

/// The API names this front end answers.
pub const APIS: &[&str] = &[];

/// Bookkeeping of this front end.
#[derive(Clone, Debug, Default)]
pub(crate) struct State {}

pub(crate) fn call(_cloud: &mut Cloud, api: &str, _request: &Request) -> Response {
    Response {
        status: 400,
        body: serde_json::json!({"error": format!("unknown api {api}")}),
        created: None,
    }
}

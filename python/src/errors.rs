//! The exceptions: one base class, [`SgevalError`], whose instances carry the message with
//! the field it names (`field`) and, when a provider answered, the provider's error code
//! (`code`), and one subclass per kind of failure.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pyo3::PyTypeInfo;
use sgeval::scenario::ScenarioError as RustScenarioError;

create_exception!(
    sgeval,
    SgevalError,
    PyException,
    "Base class of sgeval's errors: `message`, `field` (the field named, or None) and `code` (the provider's error code, or None)."
);
create_exception!(
    sgeval,
    ScenarioError,
    SgevalError,
    "A scenario that cannot be read or replayed (`failures`: the calls that failed)."
);
create_exception!(
    sgeval,
    ProviderError,
    SgevalError,
    "A provider call answered an error (`status`, `code`, `body`)."
);
create_exception!(
    sgeval,
    PacketError,
    SgevalError,
    "A packet that cannot be formed (a side that is no endpoint nor address, a field out of range, ...)."
);
create_exception!(
    sgeval,
    QueryError,
    SgevalError,
    "A what-if query that cannot be asked."
);
create_exception!(
    sgeval,
    EndpointError,
    SgevalError,
    "An endpoint the cloud refuses."
);
create_exception!(
    sgeval,
    BuildError,
    SgevalError,
    "The compiled engine cannot be built (a table past the compile limits)."
);
create_exception!(
    sgeval,
    LiveError,
    SgevalError,
    "A membership change a Live handle refuses."
);
create_exception!(
    sgeval,
    ImportDocumentError,
    SgevalError,
    "A provider document that cannot be imported (the message names file, JSON path and value)."
);

/// An exception of type `E` with `message`, `field` and `code` set.
pub fn error<E: PyTypeInfo>(
    py: Python<'_>,
    message: String,
    field: Option<String>,
    code: Option<String>,
) -> PyErr {
    let err = PyErr::new::<E, _>(message.clone());
    let value = err.value(py);
    // Setting attributes on a fresh exception instance cannot fail short of memory.
    let _ = value.setattr("message", message);
    let _ = value.setattr("field", field);
    let _ = value.setattr("code", code);
    err
}

/// An exception of type `E` naming `field`, without a provider code.
pub fn field_error<E: PyTypeInfo>(field: &str, message: String) -> PyErr {
    Python::attach(|py| error::<E>(py, message, Some(field.to_owned()), None))
}

/// An exception of type `E` with only a message.
pub fn plain<E: PyTypeInfo>(message: impl std::fmt::Display) -> PyErr {
    Python::attach(|py| error::<E>(py, message.to_string(), None, None))
}

/// A scenario error as [`ScenarioError`], with the field it names and, for failed calls,
/// the first failure's provider code and every failure in `failures`.
pub fn scenario_error(py: Python<'_>, e: &RustScenarioError) -> PyErr {
    let message = e.to_string();
    match e {
        RustScenarioError::Json(_) => error::<ScenarioError>(py, message, None, None),
        RustScenarioError::Field { field, .. } => {
            error::<ScenarioError>(py, message, Some(field.clone()), None)
        }
        RustScenarioError::UnknownApi { index, .. } => {
            error::<ScenarioError>(py, message, Some(format!("calls[{index}].api")), None)
        }
        RustScenarioError::UnknownRef { field, .. } => {
            error::<ScenarioError>(py, message, Some(field.clone()), None)
        }
        RustScenarioError::Endpoint { index, .. } => {
            error::<ScenarioError>(py, message, Some(format!("endpoints[{index}]")), None)
        }
        RustScenarioError::FailedCalls(failures) => {
            let code = failures
                .iter()
                .find_map(|f| sgeval::testkit::error_code(&f.response.body).map(str::to_owned));
            let field = failures.first().map(|f| format!("calls[{}]", f.index));
            let err = error::<ScenarioError>(py, message, field, code);
            let list = PyList::empty(py);
            for f in failures {
                let d = PyDict::new(py);
                let _ = d.set_item("index", f.index);
                let _ = d.set_item("api", &f.api);
                let _ = d.set_item("status", f.response.status);
                let _ = d.set_item("code", sgeval::testkit::error_code(&f.response.body));
                let _ = d.set_item("not_sent", &f.not_sent);
                let _ = list.append(d);
            }
            let _ = err.value(py).setattr("failures", list);
            err
        }
    }
}

/// A provider's error answer as [`ProviderError`]: the summary of the body as message, the
/// provider's error code, the HTTP status and the body (as JSON text; the Python layer
/// parses it).
pub fn provider_error(py: Python<'_>, api: &str, response: &sgeval::Response) -> PyErr {
    let code = sgeval::testkit::error_code(&response.body).map(str::to_owned);
    let message = format!(
        "{api} answered {} {}",
        response.status,
        sgeval::provider::error_summary(&response.body)
    );
    let err = error::<ProviderError>(py, message, None, code);
    let _ = err.value(py).setattr("status", response.status);
    let _ = err.value(py).setattr("body_json", response.body.to_string());
    err
}

/// Registers the exception classes on the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("SgevalError", py.get_type::<SgevalError>())?;
    m.add("ScenarioError", py.get_type::<ScenarioError>())?;
    m.add("ProviderError", py.get_type::<ProviderError>())?;
    m.add("PacketError", py.get_type::<PacketError>())?;
    m.add("QueryError", py.get_type::<QueryError>())?;
    m.add("EndpointError", py.get_type::<EndpointError>())?;
    m.add("BuildError", py.get_type::<BuildError>())?;
    m.add("LiveError", py.get_type::<LiveError>())?;
    m.add("ImportDocumentError", py.get_type::<ImportDocumentError>())?;
    Ok(())
}

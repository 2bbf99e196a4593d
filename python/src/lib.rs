//! `sgeval._sgeval`: the native module under the `sgeval` Python package.
//!
//! The Python layer (`python/sgeval/__init__.py`) is what users import: it turns the JSON
//! answers of these classes into dataclasses and the errors raised here into the
//! exceptions it re-exports. Its modules (private, so named rather than linked): `cloud`
//! (clouds, calls and the what-if queries), `engine` (the compiled engine and the Arrow
//! batch path), `live` (live updates), `query` (answers as JSON), `packet` (packets from
//! Python values), `strategies` (what the Hypothesis strategies draw from) and `errors`
//! (the exceptions).

mod cloud;
mod engine;
mod errors;
mod live;
mod packet;
mod query;
mod replay;
mod strategies;

use pyo3::prelude::*;

/// The native module.
#[pymodule]
fn _sgeval(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<cloud::NativeCloud>()?;
    m.add_class::<engine::NativeEngine>()?;
    m.add_class::<live::NativeLive>()?;
    replay::register(m)?;
    m.add_function(wrap_pyfunction!(cloud::import_paths, m)?)?;
    m.add_function(wrap_pyfunction!(cloud::diff, m)?)?;
    m.add_function(wrap_pyfunction!(strategies::sample, m)?)?;
    m.add_function(wrap_pyfunction!(strategies::invalid_calls, m)?)?;
    Ok(())
}

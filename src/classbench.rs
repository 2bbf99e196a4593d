//! ClassBench filter and trace files.
